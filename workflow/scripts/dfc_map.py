"""Rule dfc_map: new worms' affinities -> loadings on a reference recording's components."""

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])

from pipelines.dfc.pipeline import limit_threads, run_map  # noqa: E402

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
