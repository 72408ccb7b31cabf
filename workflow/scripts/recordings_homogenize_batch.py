"""Snakemake adapter: homogenize one batch (one input file, simulated worm or Hub source)."""

from pipelines.common import setup_logging
from pipelines.recordings.homogenize import Settings, build_batch

snakemake = globals()["snakemake"]  # injected by the script: directive
setup_logging(snakemake.log[0])
reader = snakemake.params.reader
build_batch(reader["format"], [snakemake.input.data], snakemake.output.batch,
            snakemake.wildcards.recording, Settings.from_config(snakemake.params.settings),
            labels=snakemake.input.get("labels"), worms=reader["worms"], source=reader["source"])
