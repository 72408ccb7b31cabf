"""The predictor rules through Snakemake (dry runs): targets, mapping mode, config rejection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def snakemake(tmp_path: Path, predictor: dict | None, *args: str) -> subprocess.CompletedProcess:
    config = {"seed": 0, "recordings": {
        "sim": {"format": "simulated"},
        "sim2": {"format": "simulated", "map_onto": "sim"},
    }}
    if predictor is not None:
        config["predictor"] = predictor
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
               "--configfile", str(tmp_path / "config.yaml"), "--directory", str(tmp_path),
               "--cores", "1", "--scheduler", "greedy", "-n", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)


def job_counts(stdout: str) -> dict:
    counts = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def test_default_target_fits_one_recording_and_maps_the_other(tmp_path):
    result = snakemake(tmp_path, {"seeds": [0, 1]})
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts.get("predictor_train") == 1  # the mapped recording is not refitted
    assert counts.get("predictor_evaluate") == 1
    assert counts.get("predictor_map") == 1
    for path in ("data/predictor/sim/model.pt", "data/predictor/sim/predictor.nc",
                 "data/predictor/sim2/predictor.nc", "data/predictor/sim2/evaluation.csv"):
        assert path in result.stdout


def test_unknown_predictor_key_is_rejected(tmp_path):
    result = snakemake(tmp_path, {"d_modell": 64})
    assert result.returncode != 0 and "d_modell" in result.stderr + result.stdout
