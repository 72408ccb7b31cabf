"""Hub path offline: a local Hub-layout folder, the cache, the manifest, source selection,
the missing-data message, and the export round trip through ``datasets.load_dataset``."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import xarray as xr

from pipelines.common import InputError
from pipelines.recordings import hub
from pipelines.recordings.export import CONFIG, export_hub
from pipelines.recordings.homogenize import Settings, SmoothSettings, build_batch
from pipelines.recordings.readers import read_file
from tests.recordings_fixtures import hub_folder, planted, write_flavell, write_labels_csv


def test_pull_local_folder_splits_sources(tmp_path):
    folder = hub_folder(tmp_path / "mirror")
    manifest = hub.pull(str(folder), tmp_path / "out", cache_dir=tmp_path / "cache")
    assert manifest["status"] == "local folder"
    assert manifest["sources"] == {
        "Flavell2023": {"rows": 8, "worms": 2, "file": "sources/Flavell2023.parquet"},
        "Kato2015": {"rows": 4, "worms": 1, "file": "sources/Kato2015.parquet"}}
    shard = next(f for f in manifest["files"] if f["path"].endswith("shard-0.parquet"))
    assert shard["bytes"] == (folder / "data" / "shard-0.parquet").stat().st_size
    assert len(shard["sha256"]) == 64
    assert hub.manifest_sources(tmp_path / "out") == ["Flavell2023", "Kato2015"]
    kato = pq.read_table(tmp_path / "out" / "sources" / "Kato2015.parquet")
    assert set(kato["source_dataset"].to_pylist()) == {"Kato2015"}


def test_pull_selects_sources_and_rejects_unknown(tmp_path):
    folder = hub_folder(tmp_path / "mirror")
    manifest = hub.pull(str(folder), tmp_path / "out", sources=["Kato2015"],
                        cache_dir=tmp_path / "cache")
    assert list(manifest["sources"]) == ["Kato2015"]
    with pytest.raises(InputError, match="Nope2020"):
        hub.pull(str(folder), tmp_path / "out2", sources=["Nope2020"], cache_dir=tmp_path / "c")


def test_offline_without_cache_says_how_to_get_data(tmp_path):
    with pytest.raises(InputError, match="hf download qsimeon/celegans_neural_data"):
        hub.pull("qsimeon/celegans_neural_data", tmp_path / "out", cache_dir=tmp_path / "cache")


def test_offline_with_cache_uses_it(tmp_path, caplog):
    cached = tmp_path / "cache" / "qsimeon__celegans_neural_data" / "main"
    hub_folder(cached)
    (cached / hub.CACHE_MANIFEST).write_text(json.dumps(
        {"files": hub.describe_files(cached)}))
    download = cached / ".cache" / "huggingface" / "download"
    download.mkdir(parents=True)
    (download / "README.md.metadata").write_text("a" * 40 + "\netag\n1.0\n")
    manifest = hub.pull("qsimeon/celegans_neural_data", tmp_path / "out",
                        cache_dir=tmp_path / "cache")
    assert manifest["status"] == "cache" and "cached snapshot" in caplog.text
    assert manifest["commit"] == "a" * 40
    # an incomplete cache is not trusted
    (cached / "data" / "shard-1.parquet").write_bytes(b"PAR1")
    with pytest.raises(InputError, match="no cached snapshot"):
        hub.pull("qsimeon/celegans_neural_data", tmp_path / "o2", cache_dir=tmp_path / "cache")


def test_hub_batch_homogenizes_a_source(tmp_path):
    folder = hub_folder(tmp_path / "mirror")
    hub.pull(str(folder), tmp_path / "out", cache_dir=tmp_path / "cache")
    ds = build_batch("hf", [tmp_path / "out" / "sources" / "Flavell2023.parquet"],
                     tmp_path / "b.nc", "hub", Settings(), source="Flavell2023")
    assert list(ds.worm.values) == ["Flavell2023/worm0", "Flavell2023/worm1"]
    assert sorted(ds.neuron.values[ds.labeled[0].values]) == ["ALA", "AVAL", "AVAR"]
    assert ds.sizes["roi"] == 1 and ds.attrs["source"] == "Flavell2023"


def test_corrupt_shard_is_named(tmp_path):
    folder = hub_folder(tmp_path / "mirror")
    shard = folder / "data" / "shard-1.parquet"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(InputError, match="shard-1.parquet"):
        hub.pull(str(folder), tmp_path / "out", cache_dir=tmp_path / "cache")


def test_export_round_trip_through_load_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    t, x = planted(n_roi=5)
    labels = ["AVAL", "VB02", "RMDD?", "junk", "ALA"]
    write_flavell(tmp_path / "w1-data.h5", t, x)
    write_labels_csv(tmp_path / "w1-labels.csv", "w1", dict(enumerate(labels)))
    settings = Settings(smooth=SmoothSettings("moving"), normalize="causal")
    ds = build_batch("flavell-h5", [tmp_path / "w1-data.h5"], tmp_path / "h.nc", "mine",
                     settings, source="Mine2025")
    originals = {w.worm: w for w in read_file("flavell-h5", tmp_path / "w1-data.h5")}
    folder = export_hub([tmp_path / "h.nc"], tmp_path / "export", originals)

    import datasets
    loaded = datasets.load_dataset(str(folder), CONFIG, split="train")
    assert loaded.num_rows == 5
    row = loaded.filter(lambda r: r["neuron"] == "VB2")[0]
    assert row["slot"] == list(ds.neuron.values).index("VB2") and row["is_labeled_neuron"]
    assert row["smooth_method"] == "moving" and row["normalization_method"] == "causal"
    n = int(ds.n_timepoints[0])
    assert np.allclose(row["calcium_data"], ds.calcium.sel(neuron="VB2")[0, :n], atol=1e-6)
    assert np.allclose(row["original_calcium_data"], x[:, 1], atol=1e-6)
    unlabelled = loaded.filter(lambda r: not r["is_labeled_neuron"])
    assert unlabelled["neuron"] == ["3"]

    # the exported folder is itself a Hub-layout folder: pulled and homogenized again
    hub.pull(str(folder), tmp_path / "again", cache_dir=tmp_path / "cache")
    again = build_batch("hf", [tmp_path / "again" / "sources" / "Mine2025.parquet"],
                        tmp_path / "again.nc", "again", settings)
    assert list(again.worm.values) == ["Mine2025/worm0"]
    assert np.allclose(again.calcium.values, ds.calcium.values, atol=2e-4, equal_nan=True)
    with xr.open_dataset(tmp_path / "h.nc", engine="h5netcdf") as stored:
        assert stored.attrs["smooth_method"] == "moving"
