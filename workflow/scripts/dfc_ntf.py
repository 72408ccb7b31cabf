"""Rule dfc_ntf: affinities of a recording -> tensor, rank sweep, selected NTF (ntf.nc)."""

from pipelines.common import setup_logging
from pipelines.dfc.pipeline import limit_threads, run_ntf

snakemake = globals()["snakemake"]  # injected by the script: directive
setup_logging(snakemake.log[0])

with limit_threads(snakemake.threads):
    run_ntf(
        snakemake.input.affinity,
        snakemake.output.ntf,
        snakemake.params.tensor,
        snakemake.params.ntf,
        snakemake.params.seed,
        snakemake.params.ntf["anatomy_source"],
    )
