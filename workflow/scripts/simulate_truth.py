"""Snakemake adapter: model + per-worm truths -> ground_truth.nc."""

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821

import xarray as xr  # noqa: E402

from pipelines.simulate import write_ground_truth  # noqa: E402

write_ground_truth(
    xr.load_dataset(snakemake.input.model),  # noqa: F821
    [xr.load_dataset(path) for path in snakemake.input.truths],  # noqa: F821
    snakemake.output.truth,  # noqa: F821
    inputs={"model": snakemake.input.model, "truths": list(snakemake.input.truths)},  # noqa: F821
)
