"""Rule dfc_affinity: one homogenized batch -> its pairwise affinities."""

from pipelines.common import setup_logging
from pipelines.dfc.pipeline import limit_threads, run_affinity

snakemake = globals()["snakemake"]  # injected by the script: directive
setup_logging(snakemake.log[0])

with limit_threads(snakemake.threads):
    run_affinity(
        snakemake.input.batch,
        snakemake.output.affinity,
        snakemake.params.affinity,
        snakemake.params.time_bin,
        snakemake.params.seed,
    )
