"""Snakemake adapter: connectomes.nc -> one GraphML per source and layer."""

from pathlib import Path

from pipelines.common import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821

from pipelines.connectome.build import write_graphs  # noqa: E402

graphs = [Path(p) for p in snakemake.output.graphs]  # noqa: F821
write_graphs(snakemake.input.store, graphs[0].parent, expected=[p.name for p in graphs])  # noqa: F821
