"""Snakemake adapter: homogenized recording -> glmhmm.nc summary + model.npz."""

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821

from threadpoolctl import threadpool_limits  # noqa: E402

from pipelines.common import write_netcdf  # noqa: E402
from pipelines.glmhmm.pipeline import fit_recording, save_model  # noqa: E402

with threadpool_limits(snakemake.threads):  # noqa: F821
    summary, model = fit_recording(
        snakemake.input.store,  # noqa: F821
        snakemake.params.settings,  # noqa: F821
        snakemake.input.get("connectomes"),  # noqa: F821
    )
save_model(model, summary["post"].values, snakemake.output.model)  # noqa: F821
write_netcdf(summary, snakemake.output.summary)  # noqa: F821
