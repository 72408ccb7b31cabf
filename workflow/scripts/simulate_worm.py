"""Snakemake adapter: one simulated worm -> {batch}-data.h5, {batch}-labels.csv, truth."""

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821

import xarray as xr  # noqa: E402

from pipelines.simulate import worm_index, write_worm  # noqa: E402

write_worm(
    xr.load_dataset(snakemake.input.model),  # noqa: F821
    worm_index(snakemake.wildcards.batch),  # noqa: F821
    snakemake.output.data,  # noqa: F821
    snakemake.output.labels,  # noqa: F821
    snakemake.output.truth,  # noqa: F821
)
