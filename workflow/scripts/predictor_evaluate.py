"""Snakemake adapter: model + recording -> evaluation.csv and predictor.nc (vs baselines)."""

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821

from pipelines.predictor import evaluate_recording  # noqa: E402

evaluate_recording(
    snakemake.input.store,  # noqa: F821
    snakemake.input.model,  # noqa: F821
    snakemake.output.table,  # noqa: F821
    snakemake.output.summary,  # noqa: F821
    snakemake.params.settings,  # noqa: F821
    connectomes_path=snakemake.input.connectomes,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
)
