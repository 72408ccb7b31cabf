"""The common per-worm structure returned by every reader, and its validation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from pipelines.common import InputError

BEHAVIOURS = ("velocity", "head_angle", "reversal", "pumping", "angular_velocity")
"""Behaviour variables carried into the homogenized store (float32 (worm, time))."""


@dataclass
class WormRecording:
    """One worm as read from disk, before any processing.

    Attributes
    ----------
    worm : str
        Stable worm id (file stem for files, ``source/worm`` for the Hub).
    traces : ndarray, shape (T, n_roi), float64
        Calcium traces at the native rate, one column per ROI.
    timestamps : ndarray, shape (T,), seconds
        Native (possibly non-uniform) sample times, strictly increasing.
    labels : list of str, length n_roi
        Raw label of each ROI column as found in the file ('' for unlabelled).
    behaviour : dict of str to ndarray (T,)
        Behaviour arrays at the calcium rate, keys from :data:`BEHAVIOURS`.
    path : str
        The file the worm came from (for error messages and provenance).
    source : str
        Source experiment name (e.g. ``Dag2023``), '' when unknown.
    """

    worm: str
    traces: np.ndarray
    timestamps: np.ndarray
    labels: list[str]
    path: str
    behaviour: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def validate(self) -> WormRecording:
        """Check shapes, timestamps and labels; raise :class:`InputError` naming the file."""
        where = f"{self.path} (worm {self.worm})"
        traces = np.asarray(self.traces)
        if traces.ndim != 2:
            raise InputError(where, f"traces must be 2-D (time, roi), got shape {traces.shape}")
        if traces.shape[0] == 0 or traces.shape[1] == 0:
            raise InputError(where, f"empty recording: traces have shape {traces.shape}")
        t = np.asarray(self.timestamps, dtype=np.float64)
        if t.ndim != 1 or t.shape[0] != traces.shape[0]:
            raise InputError(
                where, f"mismatched lengths: {t.shape[0] if t.ndim else t} timestamps for "
                f"{traces.shape[0]} trace samples")
        if not np.all(np.isfinite(t)):
            raise InputError(where, f"{int(np.sum(~np.isfinite(t)))} NaN/inf timestamps")
        if t.size > 1 and not np.all(np.diff(t) > 0):
            bad = int(np.argmax(np.diff(t) <= 0))
            raise InputError(where, f"timestamps are not strictly increasing (at sample {bad + 1})")
        if len(self.labels) != traces.shape[1]:
            raise InputError(
                where, f"mismatched lengths: {len(self.labels)} labels for {traces.shape[1]} ROIs")
        for name, values in self.behaviour.items():
            if np.shape(values) != t.shape:
                raise InputError(
                    where, f"behaviour '{name}' has shape {np.shape(values)}, expected {t.shape}")
        self.traces = traces.astype(np.float64, copy=False)
        self.timestamps = t
        return self


def file_stem(path: str | os.PathLike) -> str:
    """Worm id of a file: its name without the format suffix (``x-data.h5`` -> ``x``).

    Uses ``removesuffix``, not ``str.strip`` (upstream's ``strip("-data.h5")`` turned
    ``2022-07-27-45-data.h5`` into ``2022-07-27-4``, so that worm lost its labels).
    """
    name = os.path.basename(os.fspath(path))
    for suffix in ("-data.h5", ".h5", ".hdf5", ".nwb", ".mat", ".csv", ".tsv", ".parquet"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return os.path.splitext(name)[0]
