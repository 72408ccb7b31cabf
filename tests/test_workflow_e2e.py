"""The whole workflow on a tiny configuration: every stage, the atlas, mapping mode,
incremental rebuilds, and the cluster path (slurm dry run, cluster-generic real run).

Raw data: a few simulated worms written in the Flavell-lab HDF5 layout, so the run goes
through the same file reader as real recordings. One local run is shared by the tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from pipelines.simulate import SimulationSettings, simulate_recording

from .conftest import REPO
from .test_report_browser import check_report_in_browser

pytestmark = pytest.mark.slow

TINY = {
    "seed": 0,
    "homogenize": {"dt": 0.6, "min_timepoints": 100},
    "connectomes": {"sources": ["cook2019"]},
    "dfc": {"ntf": {"ranks": [2, 4], "n_starts": 2, "anatomy_shuffles": 5},
            "communities": {"restarts": 2}},
    "glmhmm": {"n_states": [1, 2], "restarts": 1, "max_iter": 15},
    # the epoch count, not a wall-clock cap, ends training: the same under any machine load
    "predictor": {"max_epochs": 2, "max_minutes": 5.0, "heldout_worms": 1,
                  "connectivity_null": 5, "few_shot_steps": 5},
    "atlas": {"n_null": 3},
}


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``workdir`` with its config.yaml."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), *args],
        capture_output=True, text=True, cwd=workdir,
    )
    if check:
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return result


def make_workdir(root: Path, n_worms: int = 4) -> Path:
    """A work folder with raw recordings (fitted ``tiny`` and mapped ``late``) and config."""
    root.mkdir(parents=True, exist_ok=True)
    settings = dict(duration_s=150.0, n_neurons=60, burn_in_s=10.0, n_communities=2,
                    community_size=[4, 6])
    simulate_recording(SimulationSettings(worms=n_worms + 1, **settings), root / "sim")
    for folder in ("tiny", "late", "spare"):
        (root / "raw" / folder).mkdir(parents=True)
    for i in range(n_worms + 1):
        target = "tiny" if i < n_worms - 1 else ("late" if i == n_worms - 1 else "spare")
        for suffix in ("-data.h5", "-labels.csv"):
            shutil.copy(root / "sim" / f"worm{i:02d}{suffix}", root / "raw" / target)
    config = {**TINY, "recordings": {
        "tiny": {"format": "flavell-h5", "path": str(root / "raw" / "tiny")},
        "late": {"format": "flavell-h5", "path": str(root / "raw" / "late"), "map_onto": "tiny"},
    }}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    workdir = make_workdir(tmp_path_factory.mktemp("e2e") / "local")
    snakemake(workdir, "--cores", "2", "--scheduler", "greedy")
    return workdir


def test_every_atlas_is_built_with_its_documented_groups(local_run):
    for recording in ("tiny", "late"):
        folder = local_run / "data" / "atlas" / recording
        tree = xr.open_datatree(folder / "atlas.nc", engine="h5netcdf")
        assert {"activity", "connectome", "dfc", "glmhmm", "predictor", "comparison"} <= set(tree.children)
        assert tree["activity"]["recorded"].dims == ("worm", "neuron")
        assert tree["dfc"]["pair_weight"].dims == ("component", "pre", "post")
        assert "state_posterior" in tree["glmhmm"]
        assert tree["comparison"]["component_auroc"].dims == ("component", "layer")
        settings = json.loads(tree.attrs["settings"])
        assert settings["seed"] == 0
        assert (folder / "graphs").is_dir() and any((folder / "graphs").glob("state*.graphml"))
    late = xr.open_datatree(local_run / "data/atlas/late/atlas.nc", engine="h5netcdf")
    assert json.loads(late.attrs["mapped_worms"]) == ["worm03"]
    tiny = xr.open_datatree(local_run / "data/atlas/tiny/atlas.nc", engine="h5netcdf")
    assert json.loads(tiny.attrs["mapped_worms"]) == []


def test_report_of_the_run_in_a_browser(local_run):
    check_report_in_browser(local_run / "data" / "atlas" / "tiny" / "report.html")


def test_snakemake_report_gathers_the_atlas(local_run):
    snakemake(local_run, "--report", str(local_run / "report.zip"))
    assert (local_run / "report.zip").stat().st_size > 10_000


def _planned_jobs(result) -> dict[str, int]:
    """Job counts per rule from a dry run's job stats table."""
    table = result.stdout.split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)
            if m.group(1) != "total"}


def test_a_new_worm_rebuilds_only_what_depends_on_it(local_run):
    assert _planned_jobs(snakemake(local_run, "-n")) == {}  # the run is complete
    full = _planned_jobs(snakemake(local_run, "-n", "--forceall"))
    new = [local_run / "raw" / "tiny" / p.name for p in (local_run / "raw" / "spare").iterdir()]
    for source, target in zip(sorted((local_run / "raw" / "spare").iterdir()), sorted(new), strict=True):
        shutil.copy(source, target)
    try:
        planned = _planned_jobs(snakemake(local_run, "-n"))
    finally:
        for path in new:
            path.unlink()
    assert planned["homogenize_batch"] == 1 and planned["dfc_affinity"] == 1
    assert full["homogenize_batch"] == 4 and full["dfc_affinity"] == 4
    assert "connectomes" not in planned and "connectome_graphs" not in planned
    assert "atlas" in planned
    assert sum(planned.values()) < sum(full.values())


def test_slurm_dry_run_plans_every_job_with_resources(local_run):
    result = snakemake(local_run, "-n", "--forceall", "--executor", "slurm", "--jobs", "50",
                       "--default-resources", "slurm_account=test", "slurm_partition=short")
    planned = _planned_jobs(result)
    assert planned["homogenize_batch"] == 4 and planned["atlas"] == 2
    text = result.stdout + result.stderr
    assert re.search(r"mem_mb=\d+", text) and re.search(r"runtime=\d+", text)


def _comparable(tree: xr.DataTree) -> dict[str, xr.Dataset]:
    return {path: node.to_dataset() for path, node in tree.subtree_with_keys}


def test_cluster_generic_run_gives_the_same_atlas(local_run, tmp_path):
    workdir = make_workdir(tmp_path / "cluster")
    snakemake(workdir, "--executor", "cluster-generic", "--jobs", "4",
              "--cluster-generic-submit-cmd", str(REPO / "tests" / "cluster" / "submit.sh"),
              "--latency-wait", "30", "--scheduler", "greedy")
    for recording in ("tiny", "late"):
        ours = _comparable(xr.open_datatree(workdir / f"data/atlas/{recording}/atlas.nc"))
        theirs = _comparable(xr.open_datatree(local_run / f"data/atlas/{recording}/atlas.nc"))
        assert ours.keys() == theirs.keys()
        for group, ds in ours.items():
            other = theirs[group]
            assert set(ds.data_vars) == set(other.data_vars), group
            for name, var in ds.data_vars.items():
                a, b = var.values, other[name].values
                if np.issubdtype(a.dtype, np.number):
                    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4, err_msg=f"{group}/{name}")
                else:
                    assert (a == b).all(), f"{group}/{name}"
