"""Write a simulated worm in the Flavell-lab HDF5 layout of the Dag 2023 files.

``{worm}-data.h5`` holds ``gcamp/traces_array_F_F20`` (T, n_roi) float64,
``gcamp/trace_array_original`` (raw fluorescence), ``gcamp/trace_array`` (per-ROI z-score),
``timing/timestamp_confocal`` (T,) absolute seconds and ``behavior/{velocity, head_angle,
angular_velocity, pumping}`` (T,) float64 and ``behavior/reversal_vec`` (T,) int64.
``{worm}-labels.csv`` has the columns of ``neuropal_labels_flat.csv`` (one row per labelled
ROI). HDF5 objects are written without modification times, so the same seed gives
byte-identical files.
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import xarray as xr

from pipelines.common import atomic_path

from .sampling import LABEL_COLUMNS

BEHAVIOUR_VARIABLES = ("velocity", "head_angle", "angular_velocity", "pumping", "reversal_vec")


def write_flavell_h5(worm: xr.Dataset, path: str | os.PathLike) -> None:
    """The worm's recording as a Flavell-lab ``-data.h5`` file (atomic)."""
    traces = worm["traces"].transpose("frame", "roi").values.astype(np.float64)
    raw = worm["fluorescence"].transpose("frame", "roi").values.astype(np.float64)
    std = raw.std(axis=0, keepdims=True)
    zscored = (raw - raw.mean(axis=0, keepdims=True)) / np.where(std > 0, std, 1.0)
    datasets = {
        "gcamp/traces_array_F_F20": traces,
        "gcamp/trace_array_original": raw,
        "gcamp/trace_array": zscored,
        "timing/timestamp_confocal": worm["timestamp"].values.astype(np.float64),
    }
    for name in BEHAVIOUR_VARIABLES:
        values = worm[name].values
        datasets[f"behavior/{name}"] = values.astype(
            np.int64 if name == "reversal_vec" else np.float64)
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=False) as h5:
        for group in sorted({key.split("/")[0] for key in datasets}):
            h5.create_group(group, track_order=False)
        for key, values in datasets.items():
            h5.create_dataset(key, data=values, track_times=False)


def write_labels_csv(worm: xr.Dataset, path: str | os.PathLike) -> None:
    """The worm's labelled ROIs as a NeuroPAL flat labels CSV (atomic)."""
    table = worm[[f"label_{c}" for c in LABEL_COLUMNS]].to_dataframe()
    table.columns = list(LABEL_COLUMNS)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
