"""Homogenization: worms in any format -> one Dataset on the canonical neurons and one grid.

Per worm (:func:`homogenize_worm`): standardize labels, apply the drop rules, smooth causally
at the native rate, resample onto ``arange(n) * dt``, normalize per neuron, and place each
labelled ROI in its canonical slot (unlabelled ROIs go to their own variable). Per batch
(:func:`homogenize_batch`): stack the worms of one input file (or one Hub source) into a
Dataset NaN-padded to the longest worm. Per recording (:func:`merge_batches`): stream the
batch files into one NetCDF store, one batch at a time, so memory stays at one batch even
when the dense (worm, neuron, time) cube does not fit.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5netcdf
import h5py
import numpy as np
import xarray as xr

from pipelines.common import (
    NEURON_INDEX,
    NEURONS,
    InputError,
    atomic_path,
    get_logger,
    provenance,
)
from pipelines.common.provenance import provenance_attrs

from . import normalize as normalize_mod
from . import smooth as smooth_mod
from .labels import standardize_labels
from .readers import input_files, read_files
from .resample import native_dt, resample, time_grid
from .worm import BEHAVIOURS, WormRecording

log = get_logger(__name__)



@dataclass(frozen=True)
class SmoothSettings:
    """Causal smoothing at the native rate (see :mod:`.smooth`)."""

    method: str = "none"
    window: int = 15
    sigma: float = 5.0
    alpha: float = 0.5


@dataclass(frozen=True)
class Settings:
    """Processing choices of one recording (config section ``homogenize``)."""

    dt: float = 0.333
    smooth: SmoothSettings = field(default_factory=SmoothSettings)
    normalize: str = "standard"
    min_timepoints: int = 600
    min_labeled: int = 1

    @classmethod
    def from_config(cls, section: dict | None) -> Settings:
        """Settings from a (validated) ``homogenize`` config section; unknown keys ignored."""
        section = dict(section or {})
        smooth = SmoothSettings(**{k: v for k, v in (section.pop("smooth", None) or {}).items()
                                   if k in SmoothSettings.__dataclass_fields__})
        return cls(smooth=smooth, **{k: v for k, v in section.items()
                                     if k in cls.__dataclass_fields__ and k != "smooth"})

    def attrs(self) -> dict:
        """Flat NetCDF attributes recording every processing choice."""
        return {"dt": self.dt, "smooth_method": self.smooth.method,
                "smooth_window": self.smooth.window, "smooth_sigma": self.smooth.sigma,
                "smooth_alpha": self.smooth.alpha, "normalize": self.normalize,
                "interpolate_method": "linear", "min_timepoints": self.min_timepoints,
                "min_labeled": self.min_labeled}


@dataclass
class HomogenizedWorm:
    """One worm on the canonical neurons and the uniform grid (float32, n grid samples)."""

    worm: str
    traces: np.ndarray        # (n_labeled, n) labelled neurons, in ``slots`` order
    slots: np.ndarray         # (n_labeled,) canonical index of each labelled trace
    unlabeled: np.ndarray     # (n_unlabeled, n)
    roi_column: np.ndarray    # (n_unlabeled,) input column of each unlabelled ROI
    roi_label: list[str]      # (n_unlabeled,) raw label ('' or an unresolvable name)
    behaviour: dict[str, np.ndarray]  # name -> (n,)
    native_dt: float
    path: str
    source: str

    @property
    def n_time(self) -> int:
        return self.traces.shape[1]

    @property
    def labeled(self) -> np.ndarray:
        """(300,) bool mask of the labelled neurons."""
        mask = np.zeros(len(NEURONS), dtype=bool)
        mask[self.slots] = True
        return mask


def drop_reason(recording: WormRecording, canonical: list[str | None],
                settings: Settings) -> str | None:
    """Why a worm is dropped under the published rules, or None to keep it."""
    if len(recording.timestamps) < settings.min_timepoints:
        return (f"too short: {len(recording.timestamps)} native time points "
                f"< min_timepoints={settings.min_timepoints}")
    n_labeled = sum(c is not None for c in canonical)
    if n_labeled < settings.min_labeled:
        return f"{n_labeled} labelled neurons < min_labeled={settings.min_labeled}"
    return None


def homogenize_worm(recording: WormRecording, canonical: list[str | None],
                    settings: Settings) -> HomogenizedWorm:
    """Smooth (native rate), resample, normalize and slot one worm.

    Parameters
    ----------
    recording : WormRecording
        Validated worm, traces (T, n_roi).
    canonical : list of str or None, length n_roi
        Standardized label of each ROI (:func:`.labels.standardize_labels`).
    """
    s = settings.smooth
    smoothed = smooth_mod.smooth(recording.traces, s.method, s.window, s.sigma, s.alpha)
    grid, resampled = resample(smoothed, recording.timestamps, settings.dt)
    traces = normalize_mod.normalize(resampled, settings.normalize).astype(np.float32)
    labeled_cols = np.array([i for i, c in enumerate(canonical) if c is not None], dtype=int)
    unlabeled_cols = np.array([i for i, c in enumerate(canonical) if c is None], dtype=int)
    slots = np.array([NEURON_INDEX[canonical[i]] for i in labeled_cols], dtype=int)
    behaviour = {}
    for name, values in recording.behaviour.items():
        _, on_grid = resample(values, recording.timestamps, settings.dt)
        if name == "reversal":
            on_grid = np.where(np.isfinite(on_grid), on_grid >= 0.5, np.nan)
        behaviour[name] = on_grid.astype(np.float32)
    return HomogenizedWorm(
        worm=recording.worm, traces=np.ascontiguousarray(traces[:, labeled_cols].T), slots=slots,
        unlabeled=np.ascontiguousarray(traces[:, unlabeled_cols].T),
        roi_column=unlabeled_cols.astype(np.int32),
        roi_label=[str(recording.labels[i] or "") for i in unlabeled_cols],
        behaviour=behaviour, native_dt=native_dt(recording.timestamps),
        path=recording.path, source=recording.source)


def homogenize_recordings(recordings: list[WormRecording], settings: Settings
                          ) -> tuple[list[HomogenizedWorm], list[dict]]:
    """Homogenize worms, applying the drop rules; returns (kept worms, drop log)."""
    kept, dropped = [], []
    for i, recording in enumerate(recordings):
        if i and i % 100 == 0:
            log.info("homogenized %d/%d worms", i, len(recordings))
        canonical = standardize_labels(recording.labels)
        reason = drop_reason(recording, canonical, settings)
        if reason is not None:
            log.warning("dropping worm %s (%s): %s", recording.worm, recording.path, reason)
            dropped.append({"worm": recording.worm, "path": recording.path, "reason": reason})
            continue
        kept.append(homogenize_worm(recording, canonical, settings))
    return kept, dropped


def to_dataset(worms: list[HomogenizedWorm], settings: Settings, dropped: list[dict] | None = None,
               attrs: dict | None = None) -> xr.Dataset:
    """Stack homogenized worms into the store layout (see docs/recordings.md), NaN-padded."""
    n_time = max((w.n_time for w in worms), default=0)
    n_roi = max((len(w.roi_column) for w in worms), default=0)
    n_worm = len(worms)
    calcium = np.full((n_worm, len(NEURONS), n_time), np.nan, dtype=np.float32)
    unlabeled = np.full((n_worm, n_roi, n_time), np.nan, dtype=np.float32)
    roi_column = np.full((n_worm, n_roi), -1, dtype=np.int32)
    roi_label = np.full((n_worm, n_roi), "", dtype=object)
    behaviours = [b for b in BEHAVIOURS if any(b in w.behaviour for w in worms)]
    behaviour = {b: np.full((n_worm, n_time), np.nan, dtype=np.float32) for b in behaviours}
    for i, w in enumerate(worms):
        calcium[i, w.slots, : w.n_time] = w.traces
        k = len(w.roi_column)
        unlabeled[i, :k, : w.n_time] = w.unlabeled
        roi_column[i, :k] = w.roi_column
        roi_label[i, :k] = w.roi_label
        for name, values in w.behaviour.items():
            behaviour[name][i, : w.n_time] = values
    data_vars = {
        "calcium": (("worm", "neuron", "time"), calcium,
                    {"long_name": "homogenized calcium trace", "units": "normalized"}),
        "labeled": (("worm", "neuron"), np.array([w.labeled for w in worms], dtype=bool)
                    .reshape(n_worm, len(NEURONS)), {"long_name": "neuron recorded and labelled"}),
        "unlabeled": (("worm", "roi", "time"), unlabeled,
                      {"long_name": "traces of ROIs without a canonical label"}),
        "roi_column": (("worm", "roi"), roi_column,
                       {"long_name": "input column of each unlabelled ROI (-1 = padding)"}),
        "roi_label": (("worm", "roi"), roi_label,
                      {"long_name": "raw label of each unlabelled ROI ('' = none)"}),
        "native_dt": ("worm", np.array([w.native_dt for w in worms], dtype=np.float64),
                      {"long_name": "median native sampling step", "units": "s"}),
        "n_timepoints": ("worm", np.array([w.n_time for w in worms], dtype=np.int32),
                         {"long_name": "grid samples before the NaN padding"}),
        "source_file": ("worm", np.array([w.path for w in worms], dtype=object)),
        "source_dataset": ("worm", np.array([w.source for w in worms], dtype=object)),
    }
    for name, values in behaviour.items():
        data_vars[name] = (("worm", "time"), values, {"long_name": f"behaviour: {name}"})
    ds = xr.Dataset(
        data_vars,
        coords={"worm": np.array([w.worm for w in worms], dtype=object),
                "neuron": np.array(NEURONS, dtype=object),
                "time": ("time", time_grid(n_time, settings.dt), {"units": "s"}),
                "roi": np.arange(n_roi, dtype=np.int32)},
    )
    ds.attrs = {**settings.attrs(), "dropped_worms": json.dumps(dropped or []), **(attrs or {})}
    return ds


def build_batch(fmt: str, files: list[str | os.PathLike], out: str | os.PathLike,
                recording: str, settings: Settings, *, labels: str | None = None,
                worms: list[str] | None = None, sources: list[str] | None = None,
                source: str | None = None) -> xr.Dataset:
    """Read, homogenize and write one batch (one input file, or one Hub source).

    Nothing is written when any file fails (:class:`InputError` names the file).
    """
    try:
        recordings = read_files(fmt, files, worms=worms, labels=labels, sources=sources,
                                source=source)
    except InputError as error:
        log.error("recording %s: %s", recording, error)  # the job's log names file and problem
        raise
    worm_ids = [r.worm for r in recordings]
    if len(set(worm_ids)) != len(worm_ids):
        raise InputError(files[0], f"duplicate worm ids in batch: {sorted(worm_ids)}")
    kept, dropped = homogenize_recordings(recordings, settings)
    inputs = {"files": [str(f) for f in files]}
    if labels:
        inputs["labels"] = str(labels)
    record = provenance("recordings", inputs, {**settings.attrs(), "format": fmt})
    sources_seen = sorted({r.source for r in recordings if r.source})
    ds = to_dataset(kept, settings, dropped, {
        "recording": recording, "format": fmt,
        "source": source or ",".join(sources_seen) or recording, **provenance_attrs(record)})
    write_store([ds], out, ds.attrs)
    log.info("batch %s: %d worm(s) kept, %d dropped -> %s", recording, len(kept), len(dropped), out)
    return ds


def merge_batches(batches: list[str | os.PathLike], out: str | os.PathLike) -> None:
    """Stream batch stores into one recording store, one batch and variable at a time.

    Worms keep the batch order; time and roi are padded to the longest batch (NaN, -1, '').
    """
    batches = [Path(b) for b in batches]
    if not batches:
        raise ValueError("merge_batches: no batch to merge")
    opened = [xr.open_dataset(b, engine="h5netcdf") for b in batches]
    try:
        dt = float(opened[0].attrs["dt"])
        for path, ds in zip(batches, opened, strict=True):
            if float(ds.attrs["dt"]) != dt:
                raise InputError(path, f"batch dt {ds.attrs['dt']} differs from {dt}")
        dropped = [d for ds in opened for d in json.loads(ds.attrs.get("dropped_worms", "[]"))]
        record = provenance("recordings", {"batches": [str(b) for b in batches]},
                            {k: opened[0].attrs[k] for k in Settings().attrs()}, checksums=False)
        record["batches"] = [json.loads(ds.attrs["provenance"]) for ds in opened
                             if "provenance" in ds.attrs]
        sources = (s for ds in opened for s in str(ds.attrs.get("source", "")).split(",") if s)
        attrs = {**{k: v for k, v in opened[0].attrs.items() if k != "provenance"},
                 "dropped_worms": json.dumps(dropped), "source": ",".join(dict.fromkeys(sources)),
                 **provenance_attrs(record)}
        write_store(opened, Path(out), attrs, paths=batches)
    finally:
        for ds in opened:
            ds.close()


def write_store(datasets: list[xr.Dataset], out: str | os.PathLike, attrs: dict,
                paths: list[Path] | None = None) -> None:
    """Write datasets of the store layout, concatenated along worm, as one NetCDF4 file.

    Streams one dataset and variable at a time. The trace variables (:data:`TRACE_MASKS`) are
    chunked per trace and only recorded traces are read (from ``paths``, when the datasets
    are opened files) and written, so the NaN bulk of the dense cube costs neither time nor
    disk (unwritten chunks read back as the NaN fill value).
    """
    paths = paths or [None] * len(datasets)
    worm_ids = [str(w) for ds in datasets for w in ds["worm"].values]
    if len(set(worm_ids)) != len(worm_ids):
        raise InputError(out, "duplicate worm ids across batches")
    dt = float(attrs["dt"])
    sizes = {"worm": len(worm_ids), "neuron": len(NEURONS),
             "time": max(ds.sizes.get("time", 0) for ds in datasets),
             "roi": max(ds.sizes.get("roi", 0) for ds in datasets)}
    template: dict[str, xr.DataArray] = {}
    for ds in sorted(datasets, key=lambda d: d.sizes["worm"] == 0):  # empty ones lose dtypes
        for name, var in ds.data_vars.items():
            template.setdefault(name, var)
    with atomic_path(out) as tmp, h5netcdf.File(tmp, "w") as nc:
        nc.dimensions = sizes
        _create(nc, "worm", ("worm",), h5py.string_dtype(), np.array(worm_ids, dtype=object))
        _create(nc, "neuron", ("neuron",), h5py.string_dtype(), np.array(NEURONS, dtype=object))
        _create(nc, "time", ("time",), np.float64, time_grid(sizes["time"], dt), {"units": "s"})
        _create(nc, "roi", ("roi",), np.int32, np.arange(sizes["roi"], dtype=np.int32))
        targets = {name: _create_like(nc, name, var, sizes) for name, var in template.items()}
        start = 0
        for ds, path in zip(datasets, paths, strict=True):
            n = ds.sizes["worm"]
            for name in template:
                if name not in ds or not n:
                    continue
                if name in TRACE_MASKS:
                    _write_traces(targets[name], start, ds, name, path)
                else:
                    _write_block(targets[name], start, ds[name].values)
            start += n
            log.info("wrote %d worm(s) (%d/%d)", n, start, sizes["worm"])
        nc.attrs.update(attrs)


TRACE_MASKS = {"calcium": "labeled", "unlabeled": "roi_column"}
"""Trace variables (worm, neuron|roi, time) and the variable saying which rows are recorded."""


def _write_traces(target, start: int, ds: xr.Dataset, name: str, path: Path | None) -> None:
    """Copy only the recorded rows of each worm (h5py selections, one per worm)."""
    mask = ds[TRACE_MASKS[name]].values
    recorded = mask if mask.dtype == bool else mask >= 0
    n_time = ds.sizes["time"]
    h5_target = target._h5ds
    with contextlib.ExitStack() as stack:
        if path is None:
            source = ds[name].values
        else:
            source = stack.enter_context(h5py.File(path, "r"))[name]
        for i in range(ds.sizes["worm"]):
            rows = np.flatnonzero(recorded[i])
            if rows.size:
                h5_target[start + i, rows, :n_time] = source[i, rows, :n_time]


def _write_block(target, start: int, values: np.ndarray) -> None:
    """Write ``values`` (n_worm, ...) at worm offset ``start``."""
    if values.dtype == bool:
        values = values.astype(np.int8)
    elif values.dtype.kind in "US":
        values = values.astype(object)
    index = (slice(start, start + len(values)),) + tuple(slice(0, s) for s in values.shape[1:])
    target[index] = values


def _create(nc, name, dims, dtype, data, attrs=None):
    variable = nc.create_variable(name, dims, dtype=dtype)
    variable[...] = data
    variable.attrs.update(attrs or {})
    return variable


def _create_like(nc, name: str, var: xr.DataArray, sizes: dict):
    """An empty variable shaped like ``var`` on the merged sizes, chunked per worm.

    Padding: NaN (floats, via the HDF5 fill value), False (bool), -1 (ints), '' (strings).
    Integer padding is written, not declared as ``_FillValue``, so it stays an integer.
    """
    shape = tuple(sizes[d] for d in var.dims)
    attrs = {k: v for k, v in var.attrs.items() if k != "_FillValue"}
    kwargs, initial = {}, None
    if var.dtype == bool:
        dtype, attrs["dtype"] = np.int8, "bool"
    elif var.dtype.kind in "OUS":
        dtype, initial = h5py.string_dtype(), np.full(shape, "", dtype=object)
    elif var.dtype.kind in "iu":
        dtype, initial = var.dtype, np.full(shape, -1, dtype=var.dtype)
    else:
        dtype, kwargs["fillvalue"] = var.dtype, np.nan
    if len(shape) >= 2 and all(shape) and var.dtype.kind == "f":
        # one chunk per trace, uncompressed: recorded float traces do not compress (gzip
        # cost most of the merge time for no gain) and never-written chunks take no space
        kwargs["chunks"] = (1,) * (len(shape) - 1) + shape[-1:]
    variable = nc.create_variable(name, var.dims, dtype=dtype, **kwargs)
    if initial is not None and all(shape):
        variable[...] = initial
    variable.attrs.update(attrs)
    return variable


def homogenize_folder(fmt: str, path: str | os.PathLike, out: str | os.PathLike,
                      recording: str, settings: Settings, **options) -> xr.Dataset:
    """Convenience (no Snakemake): every file of a folder as one batch, written to ``out``."""
    files = list(input_files(fmt, path).values())
    return build_batch(fmt, files, out, recording, settings, **options)
