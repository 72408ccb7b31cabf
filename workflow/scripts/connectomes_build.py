"""Snakemake adapter: every configured connectome -> connectomes.nc + neurons.csv."""

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821

from pipelines.connectome.build import build_connectomes  # noqa: E402

build_connectomes(
    snakemake.output.store,  # noqa: F821
    snakemake.output.neurons,  # noqa: F821
    **snakemake.params.settings,  # noqa: F821
)
