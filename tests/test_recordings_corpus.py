"""The full-scale synthetic corpus generator (benchmark input): published shapes, Hub schema,
and a small version through pull + homogenize."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from pipelines.recordings import hub
from pipelines.recordings.export import SCHEMA
from pipelines.recordings.homogenize import Settings, build_batch
from pipelines.simulate.corpus import GRID_DT, SOURCES, write_corpus


def test_specs_match_the_published_corpus_size():
    assert len(SOURCES) == 12 and sum(s.worms for s in SOURCES) == 919
    rows = sum(s.worms * s.recorded for s in SOURCES)
    assert 42_000 <= rows <= 43_600  # published: 42,798
    grid = [s.duration_s / GRID_DT for s in SOURCES]
    assert min(grid) >= 1_400 and max(grid) > 3_000


def test_small_corpus_schema_and_homogenization(tmp_path):
    path = write_corpus(tmp_path / "corpus", seed=1, scale=0.01)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 1
    table = pq.read_table(path)
    assert table.schema.equals(SCHEMA)
    assert sorted(set(table["source_dataset"].to_pylist())) == sorted(s.name for s in SOURCES)
    lengths = np.array(table["max_timesteps"].to_pylist())
    assert lengths.min() >= 1_300 and lengths.max() > 3_000
    manifest = hub.pull(str(tmp_path / "corpus"), tmp_path / "hub", sources=["Dag2023"],
                        cache_dir=tmp_path / "cache")
    ds = build_batch("hf", [tmp_path / "hub" / "sources" / "Dag2023.parquet"], tmp_path / "d.nc",
                     "corpus", Settings())
    assert ds.sizes["worm"] == manifest["sources"]["Dag2023"]["worms"] == 1
    dag = table.filter(np.array(table["source_dataset"].to_pylist()) == "Dag2023")
    labelled = dag.filter(dag["is_labeled_neuron"])
    assert int(ds.labeled.sum()) == labelled.num_rows
    # the published calcium_data (z-scored linear interpolation) is what we recompute
    row = labelled.slice(0, 1).to_pylist()[0]
    n = row["max_timesteps"]
    ours = ds.calcium.sel(worm="Dag2023/worm0", neuron=row["neuron"]).values[:n]
    assert np.allclose(ours, row["calcium_data"], atol=2e-3)
