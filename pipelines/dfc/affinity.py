"""Pairwise affinities of calcium traces: the differential affinity of Dyballa et al. (2024),
a windowed-correlation baseline, and a chance level from circularly shifted traces.

The differential affinity (reference spec ``dynamic-connectome.md`` §2) compares the smoothed
derivatives of two neurons while both keep a constant sign (co-monotonic segments):

1. each trace is smoothed and differentiated on the homogenized grid (Gaussian derivative
   filter of width ``sigma`` seconds, or Savitzky-Golay), then divided by its standard
   deviation so that neurons with different dynamic ranges are comparable;
2. noise gate: where ``|d_i(t)| < k * MAD(d_i)`` the neuron is *flat* (state 0), otherwise its
   state is the sign of ``d_i(t)``; a pair scores 0 whenever one of its neurons is flat;
3. pointwise score in [0, 1]: ``min(|d_i|, |d_j|) / max(|d_i|, |d_j|)`` (``kernel="ratio"``)
   or ``exp(-(log|d_i| - log|d_j|)^2 / (2 s^2))`` (``kernel="log"``);
4. with ``segment_average`` the pointwise score is averaged over each co-monotonic segment
   (a maximal run of constant joint state ``(s_i, s_j)``), so the comparison window adapts to
   the data instead of being a fixed sliding window; with ``segment_overlap`` (our addition)
   it is also weighted by the segment's share of the union of the two neurons' own segments;
5. ``sign_mode``: ``abs`` scores pairs whatever the signs (camera-ready paper), ``same`` only
   when both signs agree (submission), ``split`` returns two channels, same-sign and
   opposite-sign coupling, so anticorrelation is kept without being conflated.

Arrays follow the pair order of :func:`pipelines.common.neuron_pairs` over the neurons given:
``P = N (N - 1) / 2`` pairs ``(i, j)``, ``i < j``. Pairs involving a neuron that is not
recorded (all-NaN trace) are NaN (masked), never 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter1d
from scipy.signal import savgol_filter

from pipelines.common import get_logger, neuron_pairs

log = get_logger(__name__)

SIGN_MODES = ("abs", "same", "split")
CHANNELS = ("same_sign", "opposite_sign")
_MAD_TO_SD = 1.4826  # MAD of a Gaussian times this is its standard deviation


@dataclass(frozen=True)
class AffinitySettings:
    """Settings of the differential affinity (all have config keys under ``dfc.affinity``).

    Attributes
    ----------
    method : "differential" (the paper's affinity) or "correlation" (windowed baseline).
    sigma : smoothing width in seconds (Gaussian SD, or half the Savitzky-Golay window).
    smoother : "gaussian" or "savgol".
    noise_k : noise gate: ``|d| < noise_k * MAD(d)`` (MAD scaled to an SD) counts as flat.
    kernel : "ratio" or "log".
    log_width : width ``s`` of the log kernel (natural-log units).
    segment_average : average the pointwise score over each co-monotonic segment.
    segment_overlap : multiply a segment's score by its length over the union of the two
        neurons' own segments, so only changes that start and stop together score fully
        (our addition; off reproduces the paper).
    sign_mode : "abs", "same" or "split".
    window, stride : windowed-correlation window and stride in seconds.
    null_shifts : number of circular-shift surrogates for the chance level (0: none).
    subtract_null : subtract the chance level (clipped at 0) before returning.
    min_shift : smallest circular shift, as a fraction of the recording length.
    """

    method: str = "differential"
    sigma: float = 1.0
    smoother: str = "gaussian"
    noise_k: float = 2.0
    kernel: str = "ratio"
    log_width: float = 1.0
    segment_average: bool = True
    segment_overlap: bool = False
    sign_mode: str = "abs"
    window: float = 10.0
    stride: float = 1.0
    null_shifts: int = 0
    subtract_null: bool = False
    min_shift: float = 0.1

    def __post_init__(self):
        checks = {
            "method": self.method in ("differential", "correlation"),
            "smoother": self.smoother in ("gaussian", "savgol"),
            "kernel": self.kernel in ("ratio", "log"),
            "sign_mode": self.sign_mode in SIGN_MODES,
            "sigma": self.sigma > 0,
            "noise_k": self.noise_k >= 0,
            "log_width": self.log_width > 0,
            "window": self.window > 0,
            "stride": self.stride > 0,
            "null_shifts": self.null_shifts >= 0,
            "min_shift": 0 <= self.min_shift < 0.5,
        }
        bad = [key for key, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid affinity settings {bad}: {asdict(self)}")
        if self.subtract_null and self.null_shifts == 0:
            raise ValueError("affinity subtract_null needs null_shifts >= 1")

    @property
    def n_channels(self) -> int:
        return 2 if self.sign_mode == "split" else 1


# ---------------------------------------------------------------------------------------------
# smoothing, derivative, gate


def smoothed_derivative(calcium: np.ndarray, dt: float, sigma: float = 1.0,
                        smoother: str = "gaussian") -> np.ndarray:
    """Smoothed time derivative of traces.

    Parameters
    ----------
    calcium : (N, T) float, NaN where not recorded. Interior gaps are linearly interpolated
        and edge gaps held constant for filtering, then set back to NaN.
    dt : sampling step in seconds.
    sigma : smoothing width in seconds.

    Returns
    -------
    (N, T) float32 derivative in units of calcium per second, NaN where ``calcium`` is NaN.
    """
    calcium = np.asarray(calcium, dtype=np.float64)
    valid = np.isfinite(calcium)
    filled = _fill_gaps(calcium, valid)
    if smoother == "gaussian":
        deriv = gaussian_filter1d(filled, sigma / dt, axis=-1, order=1, mode="nearest") / dt
    else:
        half = max(2, int(round(sigma / dt)))
        deriv = savgol_filter(filled, 2 * half + 1, polyorder=2, deriv=1, delta=dt, axis=-1,
                              mode="interp" if filled.shape[-1] > 2 * half + 1 else "nearest")
    deriv[~valid] = np.nan
    return deriv.astype(np.float32)


def _fill_gaps(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    t = np.arange(x.shape[-1])
    for n in range(x.shape[0]):
        if valid[n].any():
            out[n] = np.interp(t, t[valid[n]], x[n, valid[n]])
    return out


def normalized_derivative(deriv: np.ndarray, noise_k: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale derivatives to unit SD and apply the noise gate.

    Parameters
    ----------
    deriv : (N, T) derivative, NaN where not recorded.
    noise_k : gate threshold in robust SDs (MAD x 1.4826) of the derivative.

    Returns
    -------
    magnitude : (N, T) float32 ``|d| / SD(d)``; NaN where not recorded.
    state : (N, T) int8: +1 rising, -1 falling, 0 flat (below the gate), -2 not recorded.
    """
    valid = np.isfinite(deriv)
    state = np.full(deriv.shape, -2, dtype=np.int8)
    centred = np.where(valid, deriv, 0.0)
    count = np.maximum(valid.sum(axis=-1, keepdims=True), 1)
    centred = np.where(valid, centred - centred.sum(axis=-1, keepdims=True) / count, 0.0)
    sd = np.sqrt((centred**2).sum(axis=-1, keepdims=True) / count)
    sd = np.where(sd > 0, sd, 1.0)
    mad = _MAD_TO_SD * _nanmad(deriv)[:, None]
    magnitude = (np.abs(deriv) / sd).astype(np.float32)
    active = valid & (np.abs(deriv) >= noise_k * mad) & (np.abs(deriv) > 0)
    state[valid] = 0
    state[active] = np.sign(deriv[active]).astype(np.int8)
    return magnitude, state


def _nanmad(x: np.ndarray) -> np.ndarray:
    out = np.zeros(x.shape[0])
    for n, row in enumerate(x):
        row = row[np.isfinite(row)]
        if row.size:
            out[n] = np.median(np.abs(row - np.median(row)))
    return out


# ---------------------------------------------------------------------------------------------
# the pairwise kernel (numba, parallel over pairs)


@numba.njit(parallel=True, cache=True, fastmath=True)
def _pair_scores(magnitude, state, run_start, run_end, first, second, log_kernel, inv_two_s2,
                 seg_avg, overlap, mode, out):
    """Fill ``out`` (C, T, P) with pair scores. mode 0 abs, 1 same, 2 split. With ``overlap``
    a segment's score is multiplied by its length over the union of the two neurons' own
    segments (``run_start``/``run_end`` (N, T): extent of each neuron's own segment)."""
    n_time = magnitude.shape[1]
    n_pairs = first.shape[0]
    for p in numba.prange(n_pairs):
        i = first[p]
        j = second[p]
        start = 0
        acc = 0.0
        for t in range(n_time + 1):
            boundary = t == n_time
            if not boundary and t > start:
                boundary = state[i, t] != state[i, t - 1] or state[j, t] != state[j, t - 1]
            if boundary and t > start:
                si = state[i, start]
                sj = state[j, start]
                masked = si == -2 or sj == -2
                active = si != 0 and sj != 0 and not masked
                same = si == sj
                channel = 0
                if mode == 2 and not same:
                    channel = 1
                keep = active and (mode != 1 or same)
                mean = acc / (t - start)
                weight = 1.0
                if overlap:
                    union = max(run_end[i, start], run_end[j, start]) - min(
                        run_start[i, start], run_start[j, start])
                    weight = (t - start) / union
                for u in range(start, t):
                    for c in range(out.shape[0]):
                        if masked:
                            out[c, u, p] = np.nan
                        elif keep and c == channel:
                            out[c, u, p] = weight * (mean if seg_avg else _score(
                                magnitude[i, u], magnitude[j, u], log_kernel, inv_two_s2))
                        else:
                            out[c, u, p] = 0.0
                start = t
                acc = 0.0
            if t < n_time:
                acc += _score(magnitude[i, t], magnitude[j, t], log_kernel, inv_two_s2)


@numba.njit(inline="always", fastmath=True)
def _score(a, b, log_kernel, inv_two_s2):
    lo = min(a, b)
    hi = max(a, b)
    if not hi > 0.0:  # also false for NaN
        return 0.0
    if log_kernel:
        if not lo > 0.0:
            return 0.0
        d = np.log(hi / lo)
        return np.exp(-d * d * inv_two_s2)
    return lo / hi


def differential_affinity(calcium: np.ndarray, dt: float,
                          settings: AffinitySettings = AffinitySettings()) -> np.ndarray:
    """Differential affinity of every neuron pair at every time point, for one worm.

    Parameters
    ----------
    calcium : (N, T) float, one worm; an all-NaN row is a neuron not recorded in this worm.
    dt : sampling step in seconds.
    settings : see :class:`AffinitySettings`.

    Returns
    -------
    (C, T, P) float32 in [0, 1], C = 2 for ``sign_mode="split"`` (same-sign, opposite-sign)
    else 1; NaN where either neuron of the pair is not recorded at that time.
    """
    deriv = smoothed_derivative(calcium, dt, settings.sigma, settings.smoother)
    magnitude, state = normalized_derivative(deriv, settings.noise_k)
    return _scores_from_state(magnitude, state, settings)


def _scores_from_state(magnitude, state, settings):
    first, second = neuron_pairs(range(magnitude.shape[0]))
    out = np.empty((settings.n_channels, magnitude.shape[1], first.size), dtype=np.float32)
    state = np.ascontiguousarray(state)
    run_start, run_end = _own_segments(state)
    _pair_scores(np.ascontiguousarray(magnitude, dtype=np.float32), state, run_start, run_end,
                 first.astype(np.int64), second.astype(np.int64), settings.kernel == "log",
                 1.0 / (2.0 * settings.log_width**2), settings.segment_average,
                 settings.segment_overlap, SIGN_MODES.index(settings.sign_mode), out)
    return out


@numba.njit(cache=True)
def _own_segments(state):
    """(N, T) start and end (exclusive) of the run of constant state containing each t."""
    n, n_time = state.shape
    run_start = np.empty((n, n_time), np.int32)
    run_end = np.empty((n, n_time), np.int32)
    for k in range(n):
        lo = 0
        for t in range(1, n_time + 1):
            if t == n_time or state[k, t] != state[k, t - 1]:
                run_start[k, lo:t] = lo
                run_end[k, lo:t] = t
                lo = t
    return run_start, run_end


# ---------------------------------------------------------------------------------------------
# baseline: windowed correlation of derivatives


def windowed_correlation(calcium: np.ndarray, dt: float,
                         settings: AffinitySettings = AffinitySettings()) -> tuple[np.ndarray, np.ndarray]:
    """Windowed Pearson correlation of smoothed derivatives (the baseline affinity).

    Parameters
    ----------
    calcium : (N, T) float, one worm.
    dt : sampling step in seconds; windows of ``settings.window`` s every ``settings.stride`` s.

    Returns
    -------
    scores : (C, K, P) float32 for K windows; ``abs``: |r|, ``same``: max(r, 0), ``split``:
        channels (max(r, 0), max(-r, 0)). NaN where a neuron has fewer than half its window
        samples recorded.
    centres : (K,) window centres in seconds.
    """
    deriv = smoothed_derivative(calcium, dt, settings.sigma, settings.smoother)
    width = max(3, int(round(settings.window / dt)))
    step = max(1, int(round(settings.stride / dt)))
    n_neurons, n_time = deriv.shape
    first, second = neuron_pairs(range(n_neurons))
    if n_time < width:
        return np.full((settings.n_channels, 0, first.size), np.nan, np.float32), np.zeros(0)
    # (K, N, width) windows; NaN samples count as the window mean (need >= half recorded)
    blocks = np.lib.stride_tricks.sliding_window_view(deriv, width, axis=1)[:, ::step]
    blocks = blocks.transpose(1, 0, 2)
    valid = np.isfinite(blocks)
    count = valid.sum(axis=2, keepdims=True)
    filled = np.where(valid, blocks, 0.0)
    centred = np.where(valid, filled - filled.sum(axis=2, keepdims=True) / np.maximum(count, 1),
                       0.0).astype(np.float32)
    norm = np.sqrt((centred**2).sum(axis=2))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (centred @ centred.transpose(0, 2, 1))[:, first, second] / (
            norm[:, first] * norm[:, second])
    r = np.nan_to_num(r)
    enough = count[..., 0] >= width / 2
    r[~(enough[:, first] & enough[:, second])] = np.nan
    starts = np.arange(blocks.shape[0]) * step
    centres = (starts + (width - 1) / 2) * dt
    return _split_sign(r, settings.sign_mode).astype(np.float32), centres


def _split_sign(r: np.ndarray, sign_mode: str) -> np.ndarray:
    """(..., P) correlations -> (C, ..., P) non-negative scores of the sign mode."""
    if sign_mode == "abs":
        return np.abs(r)[None]
    if sign_mode == "same":
        return np.clip(r, 0, None)[None]
    return np.stack([np.clip(r, 0, None), np.clip(-r, 0, None)])


# ---------------------------------------------------------------------------------------------
# chance level from circularly shifted traces


def chance_affinity(calcium: np.ndarray, dt: float, settings: AffinitySettings,
                    rng: np.random.Generator) -> np.ndarray:
    """Chance level of the affinity (``settings.method``): its time average after shifting
    every neuron circularly by an independent random lag (at least ``min_shift`` of the
    recording), which keeps each trace's dynamics and destroys their alignment.

    The differential affinity shifts the gated derivatives (no seam in the derivative); the
    correlation baseline shifts the traces.

    Returns
    -------
    (C, P) float32: mean over ``settings.null_shifts`` surrogates and over time; NaN for
    pairs with a neuron not recorded.
    """
    if settings.method == "differential":
        deriv = smoothed_derivative(calcium, dt, settings.sigma, settings.smoother)
        arrays = normalized_derivative(deriv, settings.noise_k)
        recorded = arrays[1] != -2
    else:
        arrays = (np.asarray(calcium, dtype=np.float64),)
        recorded = np.isfinite(arrays[0])
    valid = np.flatnonzero(recorded.any(axis=0))
    length = valid[-1] + 1 if valid.size else recorded.shape[1]
    lo = max(1, int(settings.min_shift * length))
    total = None
    for _ in range(settings.null_shifts):
        lags = rng.integers(lo, max(lo + 1, length - lo), size=recorded.shape[0])
        shifted = [np.stack([np.roll(row[:length], lag) for row, lag in
                             zip(array, lags, strict=True)]) for array in arrays]
        if settings.method == "differential":
            scores = _scores_from_state(*shifted, settings)
        else:
            scores = windowed_correlation(shifted[0], dt, settings)[0]
        n_valid = np.isfinite(scores).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n_valid > 0, np.nansum(scores, axis=1) / n_valid, np.nan)
        total = mean if total is None else total + mean
    return (total / settings.null_shifts).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# xarray front end: one batch of worms from the homogenized store


def recorded_neurons(calcium: xr.DataArray, neurons=None) -> list[str]:
    """Neurons recorded (any finite sample) in at least one worm, in canonical order,
    optionally restricted to ``neurons``."""
    recorded = calcium.notnull().any(dim=("worm", "time"))
    names = [str(n) for n in calcium["neuron"].values[recorded.values]]
    if neurons is not None:
        wanted = set(neurons)
        names = [n for n in names if n in wanted]
    return names


def batch_affinity(calcium: xr.DataArray, dt: float, settings: AffinitySettings,
                   neurons=None, seed: int = 0, time_bin: float = 0.0) -> xr.Dataset:
    """Affinities of every worm of a homogenized batch.

    Parameters
    ----------
    calcium : DataArray (worm, neuron, time), NaN where not recorded (homogenized store).
    dt : grid step in seconds (``attrs["dt"]`` of the store).
    neurons : optional subset of neuron names (e.g. sensory neurons and interneurons).
    seed : seed of the circular-shift null.
    time_bin : if > 0, average affinities in bins of this many seconds
        (:func:`pipelines.dfc.tensor.bin_time`) right after computing each worm.

    Returns
    -------
    Dataset with ``affinity`` (worm, channel, time, pair) float32, NaN-masked, coords
    ``neuron_1``/``neuron_2`` (pair) with the pair's neuron names; the per-bin moments of the
    standardized calcium on the same time grid (:func:`~.moments.binned_moments`: ``level``
    and ``deviation`` (worm, time, neuron), ``comoment`` (worm, time, pair)), for the
    components' activation and coherence; ``chance``
    (worm, channel, pair) when ``null_shifts > 0``. Raises ValueError if fewer than 2
    neurons are recorded.
    """
    from .moments import binned_moments
    from .tensor import bin_time

    names = recorded_neurons(calcium, neurons)
    if len(names) < 2:
        raise ValueError(f"affinity needs at least 2 recorded neurons, found {len(names)}")
    calcium = calcium.sel(neuron=names).transpose("worm", "neuron", "time")
    first, second = neuron_pairs(names)
    rng = np.random.default_rng(seed)
    worms, chances, time = [], [], None
    for w, worm in enumerate(calcium["worm"].values):
        traces = calcium.isel(worm=w).values
        if settings.method == "differential":
            scores = differential_affinity(traces, dt, settings)
            t = calcium["time"].values
        else:
            scores, t = windowed_correlation(traces, dt, settings)
        if settings.null_shifts:
            chance = chance_affinity(traces, dt, settings, rng)
            chances.append(chance)
            if settings.subtract_null:
                scores = np.clip(scores - chance[:, None, :], 0, None)
        da = xr.DataArray(scores, dims=("channel", "time", "pair"), coords={"time": t})
        if time_bin > 0:
            da = bin_time(da, time_bin)
        worms.append(da)
        time = da["time"].values
        log.info("affinity: worm %s (%d/%d), %d neurons, %d pairs", worm, w + 1,
                 calcium.sizes["worm"], len(names), first.size)
    affinity = xr.concat(worms, dim="worm").assign_coords(worm=calcium["worm"].values, time=time)
    ds = binned_moments(calcium, time_bin, time).assign(
        affinity=affinity.transpose("worm", "channel", "time", "pair"))
    ds = ds.assign_coords(
        pair=np.arange(first.size), neuron_1=("pair", np.array(names)[first]),
        neuron_2=("pair", np.array(names)[second]),
        channel=list(CHANNELS[: settings.n_channels]) if settings.sign_mode == "split"
        else [settings.sign_mode],
    )
    if chances:
        ds["chance"] = (("worm", "channel", "pair"), np.stack(chances))
    ds["affinity"].attrs.update(units="1", long_name=f"{settings.method} affinity")
    ds.attrs.update({f"affinity_{k}": (int(v) if isinstance(v, bool) else v)
                     for k, v in asdict(settings).items()}, dt=dt, time_bin=time_bin)
    return ds
