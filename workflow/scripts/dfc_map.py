"""Rule dfc_map: new worms' affinities -> loadings on a reference recording's components."""

from threadpoolctl import threadpool_limits

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])

from pipelines.dfc.pipeline import run_map  # noqa: E402

with threadpool_limits(snakemake.threads):
    run_map(
        snakemake.input.affinity,
        snakemake.input.reference,
        snakemake.output.ntf,
        snakemake.params.tensor,
        snakemake.params.ntf,
        snakemake.params.seed,
        snakemake.params.reference,
    )
