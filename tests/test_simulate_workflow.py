"""The simulate rules through Snakemake: the DAG of a simulated recording, and one tiny run."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import xarray as xr
import yaml

REPO = Path(__file__).resolve().parents[1]


def snakemake(tmp_path: Path, simulate: dict, *args: str) -> subprocess.CompletedProcess:
    config = {"seed": 1, "recordings": {"tiny": {"format": "simulated", "simulate": simulate}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
               "--configfile", str(tmp_path / "config.yaml"), "--directory", str(tmp_path),
               "--cores", "1", "--scheduler", "greedy", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)


def test_dry_run_has_one_job_per_worm(tmp_path):
    result = snakemake(tmp_path, {"worms": 3}, "data/raw/tiny/ground_truth.nc", "-n")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for rule, count in (("simulate_model", 1), ("simulate_worm", 3), ("simulate_truth", 1)):
        assert any(line.split()[:2] == [rule, str(count)] for line in out.splitlines()), out
    assert "data/raw/tiny/worm02-data.h5" in out and "worm03" not in out


def test_bad_simulate_key_is_rejected(tmp_path):
    result = snakemake(tmp_path, {"worms": 2, "wormz": 3}, "-n")
    assert result.returncode != 0
    assert "wormz" in result.stderr + result.stdout


@pytest.mark.slow
def test_tiny_simulated_recording_runs(tmp_path):
    simulate = {"worms": 1, "duration_s": 60.0, "n_neurons": 40, "n_communities": 2,
                "community_size": [4, 6]}
    result = snakemake(tmp_path, simulate, "data/raw/tiny/ground_truth.nc")
    assert result.returncode == 0, result.stderr[-3000:]
    raw = tmp_path / "data/raw/tiny"
    truth = xr.load_dataset(raw / "ground_truth.nc")
    assert list(truth["worm"].values) == ["worm00"]
    assert truth.sizes["neuron"] == 40 and truth.attrs["stage"] == "simulate"
    with h5py.File(raw / "worm00-data.h5", "r") as h5:
        n_frames = h5["timing/timestamp_confocal"].shape[0]
        n_roi = truth["recorded"].values[0].sum() + 4  # recorded neurons + extra ROIs
        assert h5["gcamp/traces_array_F_F20"].shape == (n_frames, n_roi)
    assert (raw / "worm00-labels.csv").stat().st_size > 100
    assert (tmp_path / "data/logs/simulate_worm/tiny/worm00.log").exists()
    # another process, through the Python API: the same bytes
    from pipelines.simulate import SimulationSettings, simulate_recording

    here = simulate_recording(SimulationSettings.from_config(simulate, seed=1), tmp_path / "api")
    for name in ("worm00-data.h5", "worm00-labels.csv"):
        assert filecmp.cmp(raw / name, here.parent / name, shallow=False), name
