"""Foundation: canonical neurons, atomic writes, provenance, config validation."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import yaml

from pipelines.common import NEURONS, atomic_path, neuron_pairs, neuron_slots, provenance
from pipelines.common.config import validate_config
from pipelines.common.errors import ConfigError
from pipelines.common.provenance import provenance_attrs


def test_canonical_neurons_are_the_300_sorted_labels():
    assert len(NEURONS) == 300
    assert list(NEURONS) == sorted(NEURONS)
    assert "CANL" not in NEURONS and "CANR" not in NEURONS
    assert NEURONS[:4] == ("ADAL", "ADAR", "ADEL", "ADER")
    assert NEURONS.index("AS10") == NEURONS.index("AS1") + 1  # string order, not natural


def test_canonical_neurons_match_master_sheet(neuron_sheet):
    import pandas as pd

    sheet = pd.read_csv(neuron_sheet)
    assert sorted(sheet["label"]) == list(NEURONS)


def test_slots_and_pairs():
    assert list(neuron_slots(["ADAL", "VD9", "CANL", "VB02"])) == [0, 299, -1, -1]
    i, j = neuron_pairs(NEURONS[:4])
    assert len(i) == 6 and np.all(i < j)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"


def test_provenance_is_netcdf_safe(tmp_path):
    src = tmp_path / "in.bin"
    src.write_bytes(b"abc")
    record = provenance("test", {"raw": src}, {"dt": 0.333, "flag": True, "none": None})
    assert record["inputs"]["raw"]["bytes"] == 3
    ds = xr.Dataset({"x": ("t", np.arange(3))}, attrs=provenance_attrs(record))
    ds.to_netcdf(tmp_path / "p.nc", engine="h5netcdf")
    back = xr.open_dataset(tmp_path / "p.nc", engine="h5netcdf")
    assert json.loads(back.attrs["provenance"])["settings"]["flag"] is True


def _config(repo):
    return yaml.safe_load((repo / "workflow/config/config.yaml").read_text())


def test_default_config_validates_and_fills_defaults(repo):
    config = validate_config(_config(repo), repo / "workflow/schemas/config.schema.yaml")
    assert config["homogenize"]["dt"] == pytest.approx(0.333)
    assert config["seed"] == 0


@pytest.mark.parametrize(
    "patch, key",
    [
        ({"homogenise": {}}, "homogenise"),  # unknown top-level key
        ({"homogenize": {"dt": "fast"}}, "homogenize.dt"),  # wrong type
        ({"homogenize": {"dt": -1}}, "homogenize.dt"),  # out of range
        ({"recordings": {"x": {"format": "csv", "path": "/no/such/folder"}}}, "recordings.x.path"),
        ({"recordings": {"x": {"format": "tiff"}}}, "recordings.x.format"),
        ({"recordings": {"x": {"format": "csv", "colour": 1}}}, "recordings.x.colour"),
    ],
)
def test_bad_config_is_refused_naming_the_key(repo, patch, key):
    config = {**_config(repo), **patch}
    with pytest.raises(ConfigError) as info:
        validate_config(config, repo / "workflow/schemas/config.schema.yaml")
    assert info.value.key == key
    assert f"'{key}'" in str(info.value)


def test_snakemake_refuses_bad_config_before_any_job(repo, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("recordings: {sim: {format: simulated}}\nhomogenize: {dt: fast}\n")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(bad)],
        cwd=repo, capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "homogenize.dt" in result.stdout + result.stderr


def test_lint_is_clean(repo):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=repo, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dry_run_of_default_config(repo):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "all"], cwd=repo,
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
