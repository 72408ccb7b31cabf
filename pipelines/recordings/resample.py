"""Resampling onto a uniform time grid, as in the published corpus (Simeon et al. 2024).

Time is shifted to start at 0. When the target step ``dt`` is below the native median step
the traces are linearly interpolated onto ``arange(0, t_max, dt)`` (upsampling); otherwise
they are interpolated onto a grid of step ``dt / 6`` and averaged over blocks of 6 samples
(downsampling by block averaging; block ``i`` is stamped with its start time ``i * dt``).
Grid times are always ``arange(n) * dt``, so grids of different worms share their prefix.
NaN samples stay NaN: an output sample is NaN when an interpolation neighbour is NaN.
"""

from __future__ import annotations

import numpy as np

BLOCK = 6
"""Fine samples averaged per output sample when downsampling (upstream value)."""


def native_dt(timestamps: np.ndarray) -> float:
    """Median step of the native timestamps, seconds."""
    return float(np.median(np.diff(timestamps))) if len(timestamps) > 1 else float("nan")


def grid_length(duration: float, dt: float) -> int:
    """Number of samples of ``arange(0, duration, dt)``."""
    return len(np.arange(0.0, duration, dt))


def time_grid(n: int, dt: float) -> np.ndarray:
    """The uniform grid ``arange(n) * dt`` (seconds), shared by every worm."""
    return np.arange(n, dtype=np.float64) * dt


def interp_linear(t: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of every column of ``values`` at once.

    Parameters
    ----------
    t : ndarray (T,), strictly increasing, seconds
    values : ndarray (T, ...) sampled at ``t``
    grid : ndarray (n,) within ``[t[0], t[-1]]``

    Returns
    -------
    ndarray (n, ...) float64; like ``np.interp`` per column, NaN neighbours give NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(t) == 1:
        return np.repeat(values[:1], len(grid), axis=0)
    left = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, len(t) - 2)
    weight = (grid - t[left]) / (t[left + 1] - t[left])
    weight = weight.reshape((-1,) + (1,) * (values.ndim - 1))
    lo, hi = values[left], values[left + 1]
    with np.errstate(invalid="ignore"):
        return np.where(weight == 0, lo, lo * (1 - weight) + hi * weight)


def resample(values: np.ndarray, timestamps: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``values`` (T, ...) sampled at ``timestamps`` (T,) onto the uniform grid.

    Returns
    -------
    grid : ndarray (n,), seconds from 0, step ``dt``
    resampled : ndarray (n, ...) float64
    """
    t = np.asarray(timestamps, dtype=np.float64)
    t = t - t[0]
    if dt < native_dt(t):
        grid = time_grid(grid_length(t[-1], dt), dt)
        return grid, interp_linear(t, values, grid)
    fine_dt = dt / BLOCK
    fine = time_grid(grid_length(t[-1], fine_dt), fine_dt)
    fine_values = interp_linear(t, values, fine)
    n = len(fine) // BLOCK
    blocks = fine_values[: n * BLOCK].reshape((n, BLOCK) + fine_values.shape[1:])
    return time_grid(n, dt), blocks.mean(axis=1)
