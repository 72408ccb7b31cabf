"""Rule dfc_ntf: affinities of a recording -> tensor, rank sweep, selected NTF (ntf.nc)."""

from threadpoolctl import threadpool_limits

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])

from pipelines.dfc.pipeline import run_ntf  # noqa: E402

with threadpool_limits(snakemake.threads):
    run_ntf(
        snakemake.input.affinity,
        snakemake.output.ntf,
        snakemake.params.tensor,
        snakemake.params.ntf,
        snakemake.params.seed,
        snakemake.params.ntf["anatomy_source"],
    )
