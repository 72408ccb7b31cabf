"""Rule dfc_communities: ntf.nc -> communities of every component (communities.nc)."""

from pipelines.common import setup_logging
from pipelines.dfc.communities import run_communities

snakemake = globals()["snakemake"]  # injected by the script: directive
setup_logging(snakemake.log[0])

run_communities(
    snakemake.input.ntf,
    snakemake.output.communities,
    snakemake.params.communities,
    snakemake.params.seed,
)
