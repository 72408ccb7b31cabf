"""Entry points used by the workflow scripts and tests: one worm's files, a whole recording."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from pipelines.common import get_logger, write_netcdf

from .model import build_model
from .settings import SimulationSettings
from .truth import worm_truth, write_ground_truth, write_worm_truth
from .worm import simulate_worm, worm_id
from .write import write_flavell_h5, write_labels_csv

log = get_logger(__name__)


def write_worm(model: xr.Dataset, index: int, data_path, labels_path, truth_path) -> xr.Dataset:
    """Simulate worm ``index`` and write its ``-data.h5``, ``-labels.csv`` and truth files."""
    worm = simulate_worm(model, index)
    write_flavell_h5(worm, data_path)
    write_labels_csv(worm, labels_path)
    write_worm_truth(worm, truth_path)
    log.info("%s: %d frames, %d ROIs (%d labelled)", worm.attrs["worm"], worm.sizes["frame"],
             worm.sizes["roi"], worm.sizes["label"])
    return worm


def simulate_recording(settings: SimulationSettings, folder: str | os.PathLike,
                       wiring=None, neuron_table=None) -> Path:
    """Every file of a simulated recording in ``folder`` (what the workflow rules make):
    ``model.nc``, ``worm??-data.h5``, ``worm??-labels.csv``, ``truth/worm??.nc`` and
    ``ground_truth.nc``. Returns the ground-truth path."""
    folder = Path(folder)
    model = build_model(settings, wiring, neuron_table)
    write_netcdf(model, folder / "model.nc")
    truths = []
    for index in range(settings.worms):
        uid = worm_id(index)
        worm = write_worm(model, index, folder / f"{uid}-data.h5", folder / f"{uid}-labels.csv",
                          folder / "truth" / f"{uid}.nc")
        truths.append(worm_truth(worm))
    write_ground_truth(model, truths, folder / "ground_truth.nc")
    return folder / "ground_truth.nc"
