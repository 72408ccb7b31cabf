"""Rule atlas: stage outputs of one recording -> atlas.nc, graphs/, figures/, report.html."""

from pipelines.common import setup_logging

snakemake = globals()["snakemake"]  # injected by the script: directive
setup_logging(snakemake.log[0])

from pipelines.atlas.build import write_atlas  # noqa: E402

write_atlas(
    dict(snakemake.input.items()),
    snakemake.output.atlas,
    snakemake.output.report,
    snakemake.output.graphs,
    snakemake.output.figures,
    snakemake.wildcards.recording,
    snakemake.params.settings,
    mapped=bool(snakemake.params.settings["map_onto"]),
)
