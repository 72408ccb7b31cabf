"""Leakage-free data for the predictor: per-worm panels, time splits, train-only normalisation,
vectorised windows.

A recording is held as a :class:`Panel`: padded arrays over (worm, time, neuron) built from the
homogenized store, with a ``present`` mask marking the neurons each worm actually recorded.
Each worm's time axis is cut into contiguous blocks ``train | gap | val | gap | test`` with gaps
of at least the context length, so no window (context + horizon) ever spans two blocks, and
z-scoring statistics come from the train block only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from pipelines.common import NEURON_INDEX, InputError, get_logger

log = get_logger(__name__)

BEHAVIOURS: tuple[str, ...] = ("velocity", "head_angle", "reversal")
"""Behaviour variables the predictor reads and decodes, in token order."""
BINARY_BEHAVIOURS: frozenset[str] = frozenset({"reversal"})


@dataclass(frozen=True)
class Panel:
    """One recording as padded arrays.

    Attributes
    ----------
    activity : (W, T, N) float32, NaN where absent or after a worm's recording ended
    present : (W, N) bool, neuron recorded in that worm
    length : (W,) int, number of valid frames of each worm
    behaviour : (W, T, V) float32, NaN where absent
    worms : (W,) worm ids
    neurons : (N,) canonical neuron names (the union of recorded neurons)
    behaviours : (V,) behaviour variable names, :data:`BEHAVIOURS` order
    dt : frame step in seconds
    """

    activity: np.ndarray
    present: np.ndarray
    length: np.ndarray
    behaviour: np.ndarray
    worms: tuple[str, ...]
    neurons: tuple[str, ...]
    behaviours: tuple[str, ...]
    dt: float

    @property
    def neuron_ids(self) -> np.ndarray:
        """(N,) canonical slot index of each neuron (the identity-embedding index)."""
        return np.array([NEURON_INDEX[n] for n in self.neurons], dtype=np.int64)

    def select_worms(self, index) -> Panel:
        """The panel restricted to the worms at positions ``index`` (same neuron axis)."""
        index = np.atleast_1d(np.asarray(index))
        return replace(
            self, activity=self.activity[index], present=self.present[index],
            length=self.length[index], behaviour=self.behaviour[index],
            worms=tuple(self.worms[i] for i in index),
        )


@dataclass(frozen=True)
class Splits:
    """Per-worm frame ranges ``[start, stop)`` of the train, val and test blocks, (W, 2) each."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def block(self, name: str) -> np.ndarray:
        return getattr(self, name)


def frame_step(ds: xr.Dataset, on_upsampled: str = "subsample", path: str = "<dataset>") -> int:
    """Stride (in grid frames) that brings the store back to its native frame rate.

    Returns 1 when the grid step ``dt`` is not finer than the median native step. On an
    upsampled grid, ``on_upsampled`` decides: ``"subsample"`` returns the stride
    ``round(native_dt / dt)`` (with a warning), ``"warn"`` returns 1 with a warning, ``"error"``
    raises: copy-last scores R² ≈ 0.97-0.997 on upsampled traces, which says nothing.
    """
    dt = float(ds.attrs.get("dt", np.median(np.diff(ds["time"].values))))
    if "native_dt" not in ds:
        return 1
    native = float(np.nanmedian(ds["native_dt"].values))
    if not np.isfinite(native) or dt >= 0.95 * native:
        return 1
    stride = max(1, int(round(native / dt)))
    message = (
        f"grid step dt = {dt:.3f} s is finer than the native step {native:.3f} s (upsampled); "
        "forecast scores on upsampled traces are inflated"
    )
    if on_upsampled == "error":
        raise InputError(path, message + "; homogenize at the native step (homogenize.dt) or "
                         "set predictor.on_upsampled to 'subsample'")
    if on_upsampled == "subsample":
        log.warning("%s: taking every %d-th frame (%.3f s)", message, stride, stride * dt)
        return stride
    log.warning("%s: evaluating on the upsampled grid as configured", message)
    return 1


def panel_from_dataset(
    ds: xr.Dataset, min_coverage: float = 0.9, stride: int = 1, path: str = "<dataset>"
) -> Panel:
    """Build a :class:`Panel` from a homogenized store.

    Parameters
    ----------
    ds : Dataset with ``calcium`` (worm, neuron, time) and optional behaviour (worm, time)
    min_coverage : a neuron counts as recorded in a worm when finite on at least this fraction
        of the worm's valid frames; remaining gaps are filled with the last finite value
    stride : keep every ``stride``-th frame (see :func:`frame_step`)
    """
    if "calcium" not in ds:
        raise InputError(path, "no 'calcium' variable: not a homogenized store")
    calcium = ds["calcium"].transpose("worm", "time", "neuron")
    values = np.ascontiguousarray(np.asarray(calcium.values, dtype=np.float32)[:, ::stride])
    finite = np.isfinite(values)
    any_finite = finite.any(axis=2)  # (W, T)
    length = np.where(any_finite.any(axis=1), any_finite.shape[1] - np.argmax(any_finite[:, ::-1], axis=1), 0)
    valid_time = np.arange(values.shape[1])[None, :] < length[:, None]
    coverage = (finite & valid_time[:, :, None]).sum(axis=1) / np.maximum(length, 1)[:, None]
    present = coverage >= min_coverage
    if "labeled" in ds:
        present &= ds["labeled"].transpose("worm", "neuron").values.astype(bool)
    keep = present.any(axis=0)
    if not keep.any():
        raise InputError(path, f"no labelled neuron is recorded on >= {min_coverage:.0%} of frames")
    values, present = values[:, :, keep], present[:, keep]
    values = _fill_gaps(values, present, valid_time)
    dt = float(ds.attrs.get("dt", np.median(np.diff(ds["time"].values)))) * stride
    behaviour = np.full(values.shape[:2] + (len(BEHAVIOURS),), np.nan, dtype=np.float32)
    for v, name in enumerate(BEHAVIOURS):
        if name in ds:
            behaviour[:, :, v] = ds[name].transpose("worm", "time").values[:, ::stride]
    behaviour[~valid_time] = np.nan
    neurons = tuple(str(n) for n in ds["neuron"].values[keep])
    log.info("panel: %d worms, %d neurons (%d-%d per worm), %d frames max, dt %.3f s",
             len(length), len(neurons), present.sum(1).min(), present.sum(1).max(),
             length.max(), dt)
    return Panel(values, present, length.astype(np.int64), behaviour,
                 tuple(str(w) for w in ds["worm"].values), neurons, BEHAVIOURS, dt)


def _fill_gaps(values: np.ndarray, present: np.ndarray, valid_time: np.ndarray) -> np.ndarray:
    """Absent neurons -> NaN everywhere; gaps of recorded neurons -> last (else next) value."""
    out = np.full_like(values, np.nan)
    for w in range(values.shape[0]):
        recorded = pd.DataFrame(values[w][:, present[w]]).ffill().bfill().to_numpy()
        out[w][:, present[w]] = recorded
    out[~valid_time] = np.nan
    return out


def time_splits(
    length: np.ndarray, context: int, horizon: int, test_fraction: float = 0.25,
    val_fraction: float = 0.15, gap: int | None = None,
) -> Splits:
    """Contiguous blocks ``train | gap | val | gap | test`` per worm.

    ``gap`` defaults to ``context``, the minimum for the contexts of one block not to read
    frames of the previous one. Each block must hold at least one window of
    ``context + horizon`` frames.
    """
    gap = context if gap is None else gap
    if gap < context:
        raise ValueError(f"split gap ({gap} frames) must be >= context ({context} frames)")
    length = np.asarray(length, dtype=np.int64)
    test_start = length - np.floor(test_fraction * length).astype(np.int64)
    val_stop = test_start - gap
    val_start = val_stop - np.floor(val_fraction * length).astype(np.int64)
    train_stop = val_start - gap if val_fraction > 0 else val_stop
    if val_fraction <= 0:
        val_start = val_stop
    need = context + horizon
    for name, size in (("train", train_stop), ("test", length - test_start)):
        if (size < need).any():
            raise ValueError(f"{name} block shorter than context + horizon ({need} frames) for "
                             f"worms with {int(length.min())} frames; lower the fractions or context")
    zero = np.zeros_like(length)
    return Splits(np.stack([zero, train_stop], 1), np.stack([val_start, val_stop], 1),
                  np.stack([test_start, length], 1))


def fit_normalizer(panel: Panel, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-worm, per-neuron mean and sd of activity over the frames in ``blocks`` (W, 2).

    Returns (mean, sd), each (W, N); NaN for absent neurons. Only these frames are read.
    """
    time = np.arange(panel.activity.shape[1])
    inside = (time[None, :] >= blocks[:, :1]) & (time[None, :] < blocks[:, 1:])
    masked = np.where(inside[:, :, None], panel.activity, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(masked, axis=1, dtype=np.float64)
        sd = np.nanstd(masked, axis=1, dtype=np.float64)
    sd = np.where(sd > 1e-6, sd, 1.0)
    return mean.astype(np.float32), sd.astype(np.float32)


def fit_behaviour_normalizer(panel: Panel, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`fit_normalizer` for behaviour (W, V); binary variables keep mean 0, sd 1."""
    as_panel = replace(panel, activity=panel.behaviour)
    mean, sd = fit_normalizer(as_panel, blocks)
    binary = np.array([name in BINARY_BEHAVIOURS for name in panel.behaviours])
    mean[:, binary], sd[:, binary] = 0.0, 1.0
    return mean, sd


def normalize(panel: Panel, blocks: np.ndarray) -> tuple[Panel, dict]:
    """Z-score activity and continuous behaviour with statistics of the frames in ``blocks``.

    Returns the normalised panel and the statistics ``{"mean", "sd", "behaviour_mean",
    "behaviour_sd"}`` needed to invert it.
    """
    mean, sd = fit_normalizer(panel, blocks)
    bmean, bsd = fit_behaviour_normalizer(panel, blocks)
    stats = {"mean": mean, "sd": sd, "behaviour_mean": bmean, "behaviour_sd": bsd}
    activity = (panel.activity - mean[:, None, :]) / sd[:, None, :]
    behaviour = (panel.behaviour - bmean[:, None, :]) / bsd[:, None, :]
    return replace(panel, activity=activity.astype(np.float32),
                   behaviour=behaviour.astype(np.float32)), stats


def window_origins(blocks: np.ndarray, context: int, horizon: int, stride: int = 1):
    """Every window lying wholly inside a block: its worm and origin (last context frame).

    A window reads frames ``origin - context + 1 .. origin + horizon``; all of them are in
    ``[start, stop)`` of its worm's block. Returns (worm, origin), int64 arrays of equal length.
    """
    worms, origins = [], []
    for w, (start, stop) in enumerate(np.asarray(blocks)):
        origin = np.arange(start + context - 1, stop - horizon, stride)
        worms.append(np.full(origin.shape, w))
        origins.append(origin)
    return np.concatenate(worms).astype(np.int64), np.concatenate(origins).astype(np.int64)


def gather(array: np.ndarray, worm: np.ndarray, origin: np.ndarray, start: int, stop: int):
    """Frames ``origin + start .. origin + stop - 1`` of ``array`` (W, T, ...) per window.

    Returns (B, stop - start, ...). ``gather(a, w, o, 1 - K, 1)`` is the K-frame context,
    ``gather(a, w, o, 1, H + 1)`` the H future frames.
    """
    offsets = np.arange(start, stop)
    return array[worm[:, None], origin[:, None] + offsets[None, :]]


def native_dataset(worms: list[dict], source: str = "native") -> xr.Dataset:
    """A homogenized-layout store at native frames, without resampling.

    worms : one dict per worm with ``worm`` (id), ``calcium`` (T, n) array, ``neurons`` (n,)
        canonical names, ``dt`` (median native step, s) and optional behaviour (T,) arrays
        under the names of :data:`BEHAVIOURS`. Frame k gets time k * dt (dt = median over
        worms); worms shorter than the longest are NaN-padded at the end.
    """
    from pipelines.common import NEURONS

    n_time = max(len(w["calcium"]) for w in worms)
    calcium = np.full((len(worms), len(NEURONS), n_time), np.nan, np.float32)
    labeled = np.zeros((len(worms), len(NEURONS)), bool)
    behaviour = {name: np.full((len(worms), n_time), np.nan, np.float32) for name in BEHAVIOURS}
    for i, w in enumerate(worms):
        slots = np.array([NEURON_INDEX[n] for n in w["neurons"]], dtype=np.int64)
        values = np.asarray(w["calcium"], dtype=np.float32)
        calcium[i, slots, : len(values)] = values.T
        labeled[i, slots] = True
        for name in BEHAVIOURS:
            if name in w:
                behaviour[name][i, : len(w[name])] = w[name]
    dt = float(np.median([w["dt"] for w in worms]))
    coords = {"worm": [w["worm"] for w in worms], "neuron": list(NEURONS),
              "time": np.arange(n_time) * dt}
    ds = xr.Dataset({"calcium": (("worm", "neuron", "time"), calcium),
                     "labeled": (("worm", "neuron"), labeled),
                     "native_dt": (("worm",), np.array([w["dt"] for w in worms], np.float32)),
                     **{k: (("worm", "time"), v) for k, v in behaviour.items()}},
                    coords=coords, attrs={"dt": dt, "source": source, "format": "native"})
    return ds
