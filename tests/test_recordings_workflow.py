"""End to end: the recordings rules under Snakemake on tiny csv / flavell-h5 / hf configs
in tmp_path, with --keep-going and one corrupt file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import xarray as xr
import yaml

from tests.recordings_fixtures import (
    hub_folder,
    planted,
    write_csv,
    write_flavell,
    write_labels_csv,
)

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


@pytest.mark.slow
def test_rules_keep_going_with_a_corrupt_file(tmp_path):
    raw = tmp_path / "inputs"
    for name in ("csv", "flavell", "bad"):
        (raw / name).mkdir(parents=True)
    t, x = planted(seed=0)
    write_csv(raw / "csv" / "w0.csv", t, x, ["AVAL", "VB02", "RMDD?", "junk"])
    t, x = planted(seed=3)
    write_flavell(raw / "flavell" / "worm00-data.h5", t, x, {"velocity": np.cos(t)})
    write_labels_csv(raw / "flavell" / "worm00-labels.csv", "worm00", {0: "AVAL", 2: "ALA"})
    write_csv(raw / "bad" / "ok.csv", t, x, ["AVAL", "VB02", "RMDD?", "junk"])
    (raw / "bad" / "broken.csv").write_text("time,AVAL\n0.0,1.0\n0.0,2.0\n")
    hub_folder(raw / "hub")
    config = {
        "data_dir": str(tmp_path / "data"),
        "homogenize": {"dt": 0.5, "smooth": {"method": "exponential", "alpha": 0.4}},
        "recordings": {
            "tables": {"format": "csv", "path": str(raw / "csv")},
            "flav": {"format": "flavell-h5", "path": str(raw / "flavell"), "source": "Mine"},
            "bad": {"format": "csv", "path": str(raw / "bad")},
            "corpus": {"format": "hf", "repo_id": str(raw / "hub"), "sources": ["Kato2015"]},
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    data = tmp_path / "data"
    targets = [str(data / "homogenized" / f"{r}.nc") for r in ("tables", "flav", "bad", "corpus")]
    targets.append(str(data / "export" / "flav"))
    run = subprocess.run(
        [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "-d", str(tmp_path),
         "--configfile", str(tmp_path / "config.yaml"), "--cores", "2", "--keep-going",
         *targets],
        capture_output=True, text=True, timeout=400)
    assert run.returncode != 0, "the corrupt recording must fail the run"
    # the other recordings still built
    tables = xr.open_dataset(data / "homogenized" / "tables.nc", engine="h5netcdf")
    assert list(tables.worm.values) == ["w0"] and tables.attrs["dt"] == 0.5
    assert tables.attrs["smooth_method"] == "exponential" and tables.attrs["smooth_alpha"] == 0.4
    assert np.allclose(np.diff(tables.time.values), 0.5)
    flav = xr.open_dataset(data / "homogenized" / "flav.nc", engine="h5netcdf")
    assert sorted(flav.neuron.values[flav.labeled[0].values]) == ["ALA", "AVAL"]
    assert "velocity" in flav and str(flav.source_dataset.values[0]) == "Mine"
    corpus = xr.open_dataset(data / "homogenized" / "corpus.nc", engine="h5netcdf")
    assert list(corpus.worm.values) == ["Kato2015/worm0"]
    assert (data / "raw" / "corpus" / "hub" / "manifest.json").is_file()
    exported = pq.read_table(data / "export" / "flav" / "worm_data_short.parquet")
    labelled = [n for n, is_labelled in zip(exported["neuron"].to_pylist(),
                                            exported["is_labeled_neuron"].to_pylist(),
                                            strict=True) if is_labelled]
    assert sorted(labelled) == ["ALA", "AVAL"]
    assert set(exported["source_dataset"].to_pylist()) == {"Mine"}
    # the corrupt one: no store, no batch of the broken file, no temporary leftovers
    assert not (data / "homogenized" / "bad.nc").exists()
    assert not (data / "homogenized" / "bad" / "batches" / "broken.nc").exists()
    assert not list((data / "homogenized").rglob(".tmp-*"))
    log = (data / "logs" / "homogenize_batch" / "bad" / "broken.log").read_text()
    assert "broken.csv" in log and "not strictly increasing" in log
