"""Snakemake adapter: the shared model of a simulated recording -> model.nc."""

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821

from pipelines.common import write_netcdf  # noqa: E402
from pipelines.simulate import SimulationSettings, build_model  # noqa: E402

settings = dict(snakemake.params.settings)  # noqa: F821
seed = settings.pop("seed")
model = build_model(SimulationSettings.from_config(settings, seed=seed))
write_netcdf(model, snakemake.output.model)  # noqa: F821
