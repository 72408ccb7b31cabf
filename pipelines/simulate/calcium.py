"""From latent activity to what a microscope records: GCaMP kinetics, noise, drift, F/F20.

- Activity ``a = (1 + tanh x) / 2`` in (0, 1) drives calcium through a double-exponential
  kernel (rise ``tau_r``, decay ``tau_d``), unit area, applied causally as two first-order
  filters, so ``c`` follows ``a`` with a lag.
- Fluorescence of a ROI: ``F = F0 * bleach(t) * drift(t) * (1 + dff * c)``, with lognormal
  brightness ``F0``, per-ROI ``dff`` in a range, exponential bleaching and a slow
  multiplicative OU drift; then shot noise (sd proportional to ``sqrt(F0 F)``) and measurement
  noise (sd proportional to ``F0``).
- Each trace is divided by its 20th percentile (F/F20, as ``gcamp/traces_array_F_F20`` of the
  Flavell-lab files).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from .dynamics import ornstein_uhlenbeck


def activity(x: np.ndarray) -> np.ndarray:
    """Activity in (0, 1) from latent ``x`` (any shape)."""
    return 0.5 * (1.0 + np.tanh(x))


def calcium(a: np.ndarray, dt: float, rise_s: float, decay_s: float) -> np.ndarray:
    """Calcium ``c`` = unit-area double-exponential kernel * ``a`` along axis 0 (time).

    The kernel ``(exp(-t/decay) - exp(-t/rise)) / (decay - rise)`` is the cascade of two
    leaky integrators; each is applied exactly with ``lfilter``, starting at steady state.
    """
    out = np.asarray(a, dtype=float)
    for tau in (rise_s, decay_s):
        keep = np.exp(-dt / tau)
        out = lfilter([1 - keep], [1.0, -keep], out, axis=0, zi=keep * out[:1])[0]
    return out


def interpolate_frames(values: np.ndarray, t_grid: np.ndarray, t_frames: np.ndarray) -> np.ndarray:
    """Linear interpolation of (time, ...) ``values`` on the regular ``t_grid`` at
    ``t_frames`` (all columns at once)."""
    dt = t_grid[1] - t_grid[0]
    position = np.clip((t_frames - t_grid[0]) / dt, 0, len(t_grid) - 1.000001)
    left = np.floor(position).astype(np.int64)
    weight = (position - left).reshape(-1, *([1] * (values.ndim - 1)))
    return values[left] * (1 - weight) + values[left + 1] * weight


def fluorescence(c: np.ndarray, t: np.ndarray, dff: np.ndarray, settings,
                 rng: np.random.Generator) -> np.ndarray:
    """Raw fluorescence (frame, roi) from calcium ``c`` (frame, roi) at frame times ``t`` (s).

    ``dff`` (roi,) is the fluorescence change at full calcium (0 for a ROI with no signal).
    """
    n_frames, n_roi = c.shape
    f0 = rng.lognormal(np.log(100.0), 0.5, n_roi)
    bleach_tau = rng.uniform(*settings.bleach_tau_s, n_roi)
    bleach = np.exp(-(t - t[0])[:, None] / bleach_tau[None, :])
    step = float(np.median(np.diff(t))) if n_frames > 1 else 1.0
    drift = np.exp(ornstein_uhlenbeck(n_frames, n_roi, step, settings.drift_tau_s,
                                      settings.drift_sd, rng))
    f = f0 * bleach * drift * (1.0 + dff[None, :] * c)
    shot = settings.shot_noise * np.sqrt(f0 * f) * rng.standard_normal(f.shape)
    measurement = settings.measurement_noise * f0 * rng.standard_normal(f.shape)
    return np.maximum(f + shot + measurement, 1e-3 * f0)


def f_over_f20(f: np.ndarray) -> np.ndarray:
    """Each column divided by its 20th percentile over time."""
    return f / np.percentile(f, 20, axis=0, keepdims=True)
