"""Ground truth of a simulated recording: per-worm pieces and the merged ``ground_truth.nc``.

The merged file holds the model (interactions per state, drives, communities, stimulus
schedule, transitions) and, per worm, the hidden state at every recorded frame, the latent
activity of every simulated neuron, which neurons were recorded and labelled, the true neuron
behind every ROI column and the community participation. Frame-indexed variables are padded
(state -1, times NaN) after a worm's last frame.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from pipelines.common import write_netcdf
from pipelines.common.provenance import provenance, provenance_attrs

TRUTH_VARIABLES = ("hidden_state", "time", "activity", "recorded", "labelled", "participation",
                   "roi_neuron", "roi_label", "velocity", "reversal_vec")


def worm_truth(worm: xr.Dataset) -> xr.Dataset:
    """The ground-truth part of a simulated worm (from :func:`simulate_worm`)."""
    truth = worm[list(TRUTH_VARIABLES)].rename(time="state_time")
    truth = truth.assign_coords(worm=worm.attrs["worm"]).expand_dims("worm")
    truth.attrs = {"settings": worm.attrs["settings"]}
    return truth


def write_worm_truth(worm: xr.Dataset, path: str | os.PathLike) -> None:
    """Write the worm's ground truth (NetCDF, atomic)."""
    write_netcdf(worm_truth(worm), path)


def merge_truth(model: xr.Dataset, truths: list[xr.Dataset], inputs=None) -> xr.Dataset:
    """``ground_truth.nc``: the model plus every worm's truth along ``worm``.

    Parameters
    ----------
    model : the recording's model (:func:`build_model`).
    truths : per-worm truths (:func:`worm_truth`), any order; sorted by worm id.
    inputs : paths recorded in the provenance.
    """
    truths = sorted(truths, key=lambda t: str(t["worm"].values[0]))
    for truth in truths:
        if truth.attrs.get("settings") != model.attrs["settings"]:
            raise ValueError(f"worm {truth['worm'].values[0]} was simulated with other settings "
                             "than the model: rerun the simulate_worm jobs")
    padded = [_pad(t) for t in truths]
    worms = xr.concat(padded, dim="worm", join="outer", combine_attrs="drop",
                      data_vars="all", coords="different", compat="equals")
    worms["hidden_state"] = worms["hidden_state"].fillna(-1).astype(np.int64)
    for name in ("recorded", "labelled"):
        worms[name] = worms[name].astype(bool)
    for name in ("roi_neuron", "roi_label"):
        worms[name] = worms[name].fillna("").astype(str)
    out = xr.merge([model.drop_attrs(deep=False), worms], compat="override",
                   combine_attrs="drop")
    out["hidden_state"].attrs["description"] = (
        "index into state of the brain state at each frame (-1: after the last frame)")
    out["state_time"].attrs["description"] = "frame time (s from the worm's first frame)"
    out["activity"].attrs["description"] = "latent activity (1 + tanh x) / 2 at each frame"
    out["roi_neuron"].attrs["description"] = "true neuron of each ROI column ('' extra ROI)"
    out["roi_label"].attrs["description"] = "label written in the labels CSV ('' unlabelled)"
    record = provenance("simulate", inputs=inputs or {}, settings={"simulate": model.attrs[
        "settings"]}, checksums=False)
    out.attrs.update(provenance_attrs(record))
    out.attrs["settings"] = model.attrs["settings"]
    out.attrs["simulated"] = "yes: synthetic worms, not real recordings"
    return out


def _pad(truth: xr.Dataset) -> xr.Dataset:
    truth = truth.copy()
    truth["hidden_state"] = truth["hidden_state"].astype(float)
    return truth


def write_ground_truth(model: xr.Dataset, truths: list[xr.Dataset], path: str | os.PathLike,
                       inputs=None) -> None:
    """Merge and write ``ground_truth.nc`` (atomic)."""
    write_netcdf(merge_truth(model, truths, inputs), path)


def state_on_grid(truth: xr.Dataset, time: np.ndarray) -> xr.DataArray:
    """Hidden state of every worm on a time grid (s from each worm's first frame), e.g. the
    ``time`` coordinate of the homogenized store: the state of the last frame at or before
    each time; -1 before the first or after the last frame.

    Returns (worm, time) int64.
    """
    time = np.asarray(time, dtype=float)
    out = np.full((truth.sizes["worm"], len(time)), -1, dtype=np.int64)
    for w in range(truth.sizes["worm"]):
        frames = truth["state_time"].values[w]
        n = int(np.isfinite(frames).sum())
        index = np.searchsorted(frames[:n], time, side="right") - 1
        inside = (index >= 0) & (time <= frames[n - 1])
        out[w, inside] = truth["hidden_state"].values[w, index[inside]]
    return xr.DataArray(out, dims=("worm", "time"),
                        coords={"worm": truth["worm"].values, "time": time}, name="state")


def community_active(truth: xr.Dataset, time: np.ndarray) -> xr.DataArray:
    """Whether each planted community's stimulus is on at each time (s from recording start;
    the schedule is the same in every worm). Returns (community, time) bool."""
    time = np.asarray(time, dtype=float)
    active = np.zeros((truth.sizes["community"], len(time)), dtype=bool)
    for start, end, community in zip(truth["stimulus_start"].values, truth["stimulus_end"].values,
                                     truth["stimulus_community"].values, strict=True):
        active[community] |= (time >= start) & (time < end)
    return xr.DataArray(active, dims=("community", "time"),
                        coords={"community": truth["community"].values, "time": time},
                        name="active")
