"""Snakemake adapter: homogenized recording -> trained predictor checkpoint (model.pt)."""

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821

from pipelines.predictor import train_recording  # noqa: E402

train_recording(
    snakemake.input.store,  # noqa: F821
    snakemake.output.model,  # noqa: F821
    snakemake.params.settings,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
)
