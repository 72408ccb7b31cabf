"""Snakemake adapter: pull (or reuse) the published corpus and split it by source."""

from pipelines.common import setup_logging
from pipelines.recordings.hub import pull

snakemake = globals()["snakemake"]  # injected by the script: directive
setup_logging(snakemake.log[0])
hub = snakemake.params.hub
pull(hub["repo_id"], snakemake.output.folder, revision=hub["revision"],
     cache_dir=hub["cache_dir"], sources=hub["sources"])
