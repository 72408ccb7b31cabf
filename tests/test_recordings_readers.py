"""Every input format against a planted-truth fixture, bad inputs, and the real Dag 2023
worms checked against an independent h5py/numpy computation."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pipelines.common import NEURON_INDEX, InputError
from pipelines.recordings.homogenize import Settings, build_batch, homogenize_folder, merge_batches
from pipelines.recordings.labels import standardize_labels
from pipelines.recordings.readers import input_files, read_file
from tests.recordings_fixtures import (
    planted,
    write_csv,
    write_flavell,
    write_hub_parquet,
    write_labels_csv,
    write_nwb,
    write_zimmer_v5,
    write_zimmer_v73,
)

LABELS = ["AVAL", "VB02", "RMDD?", "unknown"]


def _check(worm, t, traces, labels=LABELS):
    assert np.allclose(worm.timestamps, t) and np.allclose(worm.traces, traces)
    assert [str(x) for x in worm.labels] == labels


def test_flavell_h5_with_per_file_labels(tmp_path):
    t, x = planted()
    write_flavell(tmp_path / "worm00-data.h5", t, x, {"velocity": np.cos(t)})
    write_labels_csv(tmp_path / "worm00-labels.csv", "worm00", dict(enumerate(LABELS)))
    [worm] = read_file("flavell-h5", tmp_path / "worm00-data.h5")
    assert worm.worm == "worm00"
    _check(worm, t, x)
    assert np.allclose(worm.behaviour["velocity"], np.cos(t))


def test_flavell_labels_json(tmp_path):
    import json
    t, x = planted()
    write_flavell(tmp_path / "a-data.h5", t, x)
    records = {str(c + 1): {"label": lab} for c, lab in enumerate(LABELS)}
    (tmp_path / "my_labels.json").write_text(json.dumps({"dict_match_dict": {"a": {"1": records}}}))
    [worm] = read_file("flavell-h5", tmp_path / "a-data.h5")
    _check(worm, t, x)


def test_csv(tmp_path):
    t, x = planted()
    write_csv(tmp_path / "w1.csv", t, x, LABELS)
    [worm] = read_file("csv", tmp_path / "w1.csv")
    _check(worm, t, x)


@pytest.mark.parametrize("container", ["DfOverF", "Fluorescence"])
def test_nwb(tmp_path, container):
    t, x = planted()
    write_nwb(tmp_path / "w.nwb", t, x, LABELS, container)
    [worm] = read_file("nwb", tmp_path / "w.nwb")
    _check(worm, t, x)
    assert np.allclose(worm.behaviour["velocity"], np.sin(t))


def _zimmer_worms():
    (t1, x1), (t2, x2) = planted(seed=1), planted(n_time=650, n_roi=3, seed=2)
    ids1 = [["AVAL", "AVAR"], [], "VB02", ["RMDD?"]]
    ids2 = ["SMDVL", [], ["ALA"]]
    return [(t1, x1, ids1), (t2, x2, ids2)]


@pytest.mark.parametrize("writer", [write_zimmer_v5, write_zimmer_v73])
def test_zimmer_mat(tmp_path, writer):
    worms = _zimmer_worms()
    writer(tmp_path / "WT_NoStim.mat", "WT_NoStim", worms)
    read = read_file("zimmer-mat", tmp_path / "WT_NoStim.mat")
    assert [w.worm for w in read] == ["WT_NoStim/worm0", "WT_NoStim/worm1"]
    for worm, (t, x, _) in zip(read, worms, strict=True):
        assert np.allclose(worm.timestamps, t) and np.allclose(worm.traces, x)
    assert standardize_labels(read[0].labels) == ["AVAL", None, "VB2", "RMDDL"]
    assert standardize_labels(read[1].labels) == ["SMDVL", None, "ALA"]


def test_hub_parquet(tmp_path):
    t, x = planted()
    write_hub_parquet(tmp_path / "s.parquet", [(t, x, ["AVAL", "VB2", "x", "ALA"])])
    [worm] = read_file("hf", tmp_path / "s.parquet")
    assert worm.worm == "Test2024/worm0" and worm.source == "Test2024"
    assert np.allclose(worm.timestamps, t - t[0], atol=1e-3)
    assert np.allclose(worm.traces, x, atol=1e-6)
    assert worm.labels == ["AVAL", "VB2", "", "ALA"]


# ---------------------------------------------------------------- bad input


def _bad_files(tmp_path):
    t, x = planted()
    ok = write_flavell(tmp_path / "ok-data.h5", t, x)
    truncated = tmp_path / "trunc-data.h5"
    truncated.write_bytes(ok.read_bytes()[:2000])
    empty = tmp_path / "empty-data.h5"
    empty.write_bytes(b"")
    missing = tmp_path / "missing-data.h5"
    with h5py.File(missing, "w") as h5:
        h5["timing/timestamp_confocal"] = t
    nan_t = write_flavell(tmp_path / "nant-data.h5", np.where(np.arange(len(t)) == 5, np.nan, t), x)
    backwards = write_flavell(tmp_path / "back-data.h5", t[::-1], x)
    short_t = write_flavell(tmp_path / "len-data.h5", t[:-3], x, splits=np.array([[1], [3]]))
    past = write_flavell(tmp_path / "past-data.h5", t, x)
    write_labels_csv(tmp_path / "past-labels.csv", "past", {x.shape[1] + 2: "AVAL"})
    return {truncated: "cannot read", empty: "empty file", missing: "missing dataset",
            nan_t: "NaN", backwards: "not strictly increasing", short_t: "mismatched lengths",
            past: "past the last"}


def test_bad_inputs_name_file_and_problem(tmp_path):
    for path, problem in _bad_files(tmp_path).items():
        with pytest.raises(InputError) as error:
            read_file("flavell-h5", path)
        assert str(path) in str(error.value) and problem in str(error.value), str(error.value)


@pytest.mark.parametrize(("content", "problem"), [
    ("", "empty file"), ("time,AVAL\n", "empty file"), ("AVAL,AVAR\n1,2\n", "missing time column"),
    ("time,AVAL\n0,1\n1,x\n", "non-numeric"), ("time,AVAL\n0,1\n0,2\n", "not strictly increasing"),
])
def test_bad_csv(tmp_path, content, problem):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=problem):
        read_file("csv", path)


def test_no_partial_output_on_failure(tmp_path):
    t, x = planted()
    good = write_csv(tmp_path / "good.csv", t, x, LABELS)
    bad = tmp_path / "bad.csv"
    bad.write_text("time,AVAL\n0,1\n0,2\n")
    out = tmp_path / "out" / "batch.nc"
    with pytest.raises(InputError, match="bad.csv"):
        build_batch("csv", [good, bad], out, "r", Settings())
    assert not out.exists() and not list(out.parent.glob("*"))


def test_zimmer_labels_past_columns(tmp_path):
    t, x = planted(n_roi=2)
    write_zimmer_v5(tmp_path / "z.mat", "S", [(t, x, ["AVAL", "AVAR", "ALA"])])
    with pytest.raises(InputError, match="past the last"):
        read_file("zimmer-mat", tmp_path / "z.mat")


def test_hub_missing_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"worm": ["worm0"]}), tmp_path / "x.parquet")
    with pytest.raises(InputError, match="missing column"):
        read_file("hf", tmp_path / "x.parquet")


# ---------------------------------------------------------------- real Dag 2023 data


@pytest.mark.realdata
def test_dag2023_against_independent_computation(dag2023, tmp_path):
    labels_csv = dag2023 / "neuropal_labels_flat.csv"
    ds = homogenize_folder("flavell-h5", dag2023 / "swf702_with_id", tmp_path / "dag.nc", "dag",
                           Settings(), labels=str(labels_csv))
    table = pd.read_csv(labels_csv, dtype={"uid": str})
    stems = sorted(p.name.removesuffix("-data.h5") for p in (dag2023 / "swf702_with_id").glob("*.h5"))
    assert list(ds.worm.values) == stems and len(stems) == 5
    assert "2022-07-27-45" in stems  # the upstream strip() bug dropped this worm
    for uid in stems:
        with h5py.File(dag2023 / "swf702_with_id" / f"{uid}-data.h5") as h5:
            x = h5["gcamp/traces_array_F_F20"][()]
            t = h5["timing/timestamp_confocal"][()]
        rows = table[table.uid == uid]
        # plain names only (no '?', no zero padding, first occurrence): independent of labels.py
        plain = rows[rows.label.isin(NEURON_INDEX) & ~rows.label.duplicated()]
        grid = np.arange(0, t[-1] - t[0], 0.333)
        assert np.allclose(ds.time.values[: len(grid)], grid)
        assert int(ds.n_timepoints.sel(worm=uid)) == len(grid)
        for col, label in zip(plain.column_0based, plain.label, strict=True):
            y = np.interp(grid, t - t[0], x[:, col])
            expected = (y - y.mean()) / y.std()
            got = ds.calcium.sel(worm=uid, neuron=label).values[: len(grid)]
            assert np.allclose(got, expected, atol=1e-4), (uid, label)
        n_question = rows.label.str.contains("?", regex=False).sum()
        n_labeled = int(ds.labeled.sel(worm=uid).sum())
        assert len(plain) <= n_labeled <= len(plain) + n_question + 1  # + VB02
        assert n_labeled + int((ds.roi_column.sel(worm=uid) >= 0).sum()) == x.shape[1]
    assert bool(ds.labeled.sel(worm="2022-07-27-31", neuron="VB2"))
    assert bool(ds.labeled.sel(worm="2022-07-27-38", neuron="RMDDL"))
    assert bool(ds.labeled.sel(worm="2022-07-27-38", neuron="RMDDR"))
    assert np.isfinite(ds.velocity.sel(worm=stems[0])[:10]).all()


@pytest.mark.realdata
def test_dag2023_unlabelled_worms(dag2023, tmp_path):
    folder = dag2023 / "swf415_no_id"
    assert set(input_files("flavell-h5", folder)) == {"2022-01-16-01", "2022-05-02-01"}
    dropped = homogenize_folder("flavell-h5", folder, tmp_path / "a.nc", "u", Settings())
    assert dropped.sizes["worm"] == 0 and "0 labelled" in dropped.attrs["dropped_worms"]
    kept = homogenize_folder("flavell-h5", folder, tmp_path / "b.nc", "u", Settings(min_labeled=0))
    with h5py.File(folder / "2022-05-02-01-data.h5") as h5:
        x = h5["gcamp/traces_array_F_F20"][()]
        t = h5["timing/timestamp_confocal"][: len(x)]  # 1600 frames, 1137 analysed
    grid = np.arange(0, t[-1] - t[0], 0.333)
    y = np.interp(grid, t - t[0], x[:, 7])
    got = kept.unlabeled.sel(worm="2022-05-02-01").isel(roi=7).values[: len(grid)]
    assert np.allclose(got, (y - y.mean()) / y.std(), atol=1e-4)
    assert kept.labeled.sum() == 0 and kept.sizes["roi"] == 136
    merge_batches([tmp_path / "a.nc", tmp_path / "b.nc"], tmp_path / "m.nc")
    merged = xr.open_dataset(tmp_path / "m.nc", engine="h5netcdf")
    assert merged.sizes["worm"] == 2 and "0 labelled" in merged.attrs["dropped_worms"]
    assert np.allclose(merged.unlabeled.sel(worm="2022-05-02-01").isel(roi=7)[: len(grid)], got,
                       equal_nan=True)


def test_flavell_atanas_layout_and_worm_selection(tmp_path):
    """Top-level trace_array stored (neuron, time) as Julia writes it; worms: selects."""
    t, x = planted()
    for stem in ("a", "b"):
        with h5py.File(tmp_path / f"{stem}.h5", "w") as h5:
            h5["trace_array"] = x.T
            h5["timestamp_confocal"] = t
            h5["velocity"] = np.sin(t)
    files = input_files("flavell-h5", tmp_path)
    assert list(files) == ["a", "b"]
    [worm] = read_file("flavell-h5", files["b"], worms=["b"])
    assert np.allclose(worm.traces, x) and np.allclose(worm.behaviour["velocity"], np.sin(t))
    assert read_file("flavell-h5", files["a"], worms=["b"]) == []
