"""Rule dfc_map: new worms' affinities -> loadings on a reference recording's components."""

from pipelines.common import setup_logging
from pipelines.dfc.pipeline import limit_threads, run_map

snakemake = globals()["snakemake"]  # injected by the script: directive
setup_logging(snakemake.log[0])

with limit_threads(snakemake.threads):
    run_map(
        snakemake.input.affinity,
        snakemake.input.reference,
        snakemake.output.ntf,
        snakemake.params.tensor,
        snakemake.params.ntf,
        snakemake.params.seed,
        snakemake.params.reference,
    )
