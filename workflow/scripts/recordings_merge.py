"""Snakemake adapter: stream the batch stores into data/homogenized/{recording}.nc."""

from pipelines.common import setup_logging
from pipelines.recordings.homogenize import merge_batches

snakemake = globals()["snakemake"]  # injected by the script: directive
setup_logging(snakemake.log[0])
merge_batches(list(snakemake.input.batches), snakemake.output.store)
