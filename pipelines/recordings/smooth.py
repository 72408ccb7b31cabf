"""Causal smoothing along time (axis 0), NaN-aware, at the native sampling rate.

Methods (upstream ``preprocess/config.py`` semantics, so the published preset reproduces):

- ``moving``: mean of ``x[max(j - window // 2, 0) : j + 1]`` (window 15 -> last 8 samples);
- ``gaussian``: one-sided weights ``exp(-k^2 / 2 sigma^2)`` over past samples k = 0..ceil(3 sigma);
- ``exponential``: ``y[j] = alpha x[j] + (1 - alpha) y[j-1]``, ``y[0] = x[0]``;
- ``none``: unchanged.

Weighted methods are normalised by the weights of the samples actually available (start of
the recording, NaN samples), so a NaN never spreads; NaN inputs stay NaN.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

METHODS = ("none", "moving", "gaussian", "exponential")


def causal_kernel(method: str, window: int = 15, sigma: float = 5.0) -> np.ndarray:
    """FIR weights over the past: ``kernel[k]`` weighs sample ``j - k``."""
    if method == "moving":
        return np.ones(window // 2 + 1)
    if method == "gaussian":
        k = np.arange(int(np.ceil(3 * sigma)) + 1)
        return np.exp(-(k**2) / (2 * sigma**2))
    raise ValueError(f"no FIR kernel for smoothing method '{method}'")


def causal_fir(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Weighted causal average of ``x`` (T, ...) over axis 0, NaN-aware."""
    finite = np.isfinite(x)
    numerator = lfilter(kernel, [1.0], np.where(finite, x, 0.0), axis=0)
    weight = lfilter(kernel, [1.0], finite.astype(np.float64), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite, numerator / weight, np.nan)


def exponential(x: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average of ``x`` (T, ...) over axis 0; NaN samples are skipped."""
    finite = np.isfinite(x)
    filled = _fill_forward(x, finite)
    zi = ((1 - alpha) * filled[:1])
    y, _ = lfilter([alpha], [1.0, alpha - 1.0], filled, axis=0, zi=zi)
    return np.where(finite, y, np.nan)


def _fill_forward(x: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs along axis 0 (leading NaNs take the first finite value; all-NaN -> 0)."""
    idx = np.where(finite, np.arange(len(x)).reshape((-1,) + (1,) * (x.ndim - 1)), 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = np.take_along_axis(x, idx, axis=0)
    first = np.argmax(finite, axis=0)
    first_value = np.take_along_axis(x, first[None], axis=0)
    filled = np.where(np.isfinite(filled), filled, first_value)
    return np.nan_to_num(filled, nan=0.0)


def smooth(x: np.ndarray, method: str = "none", window: int = 15, sigma: float = 5.0,
           alpha: float = 0.5) -> np.ndarray:
    """Causally smooth ``x`` (T, ...) along time with one of :data:`METHODS`."""
    x = np.asarray(x, dtype=np.float64)
    if method == "none":
        return x
    if method == "exponential":
        return exponential(x, alpha)
    if method in ("moving", "gaussian"):
        return causal_fir(x, causal_kernel(method, window, sigma))
    raise ValueError(f"unknown smoothing method '{method}' (choose from {', '.join(METHODS)})")
