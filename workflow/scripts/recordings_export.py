"""Snakemake adapter: export a homogenized recording to the Hub's parquet schema."""

from pipelines.common import setup_logging
from pipelines.recordings.export import export_hub
from pipelines.recordings.readers import read_files

snakemake = globals()["snakemake"]  # injected by the script: directive
setup_logging(snakemake.log[0])
reader = snakemake.params.reader
worms = read_files(reader["format"], snakemake.input.raw, worms=reader["worms"],
                   labels=snakemake.input.get("labels"), source=reader["source"])
originals = {w.worm: w for w in worms}
export_hub([snakemake.input.store], snakemake.output.folder, originals)
