"""Snakemake adapter: a mapped recording's worms decoded with the reference model -> glmhmm.nc."""

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821

from pipelines.common import write_netcdf  # noqa: E402
from pipelines.glmhmm.pipeline import map_recording  # noqa: E402

summary = map_recording(
    snakemake.input.store,  # noqa: F821
    snakemake.input.model,  # noqa: F821
    snakemake.input.summary,  # noqa: F821
)
write_netcdf(summary, snakemake.output.summary)  # noqa: F821
