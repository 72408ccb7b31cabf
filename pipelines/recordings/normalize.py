"""Per-neuron normalization along time (axis 0), NaN-aware.

- ``standard``: z-score over the whole recording (sklearn ``StandardScaler``: population
  std, a constant trace is only centred). Non-causal: uses the future.
- ``causal``: expanding mean and std from cumulative sums (upstream ``CausalNormalizer``),
  std floored at ``sqrt(1e-8)``; sample j only uses samples <= j.
- ``none``: unchanged.
"""

from __future__ import annotations

import warnings

import numpy as np

METHODS = ("none", "standard", "causal")
VARIANCE_FLOOR = 1e-8


def standard(x: np.ndarray) -> np.ndarray:
    """Z-score each column of ``x`` (T, ...) over time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        mean = np.nanmean(x, axis=0)
        std = np.nanstd(x, axis=0)
    std = np.where(std > 0, std, 1.0)
    return (x - mean) / std


def causal(x: np.ndarray) -> np.ndarray:
    """Normalize each sample by the mean/std of all samples up to and including it."""
    finite = np.isfinite(x)
    filled = np.where(finite, x, 0.0)
    count = np.cumsum(finite, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.cumsum(filled, axis=0) / count
        variance = np.cumsum(filled**2, axis=0) / count - mean**2
        std = np.sqrt(np.maximum(variance, VARIANCE_FLOOR))
        return np.where(finite, (x - mean) / std, np.nan)


def normalize(x: np.ndarray, method: str = "standard") -> np.ndarray:
    """Normalize ``x`` (T, ...) along time with one of :data:`METHODS`."""
    x = np.asarray(x, dtype=np.float64)
    if method == "none":
        return x
    if method == "standard":
        return standard(x)
    if method == "causal":
        return causal(x)
    raise ValueError(f"unknown normalization '{method}' (choose from {', '.join(METHODS)})")
