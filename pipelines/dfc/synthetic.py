"""Planted ground truth for tests and benchmarks of the dfc stage.

* :func:`planted_cp_tensor`: the synthetic non-negative CP tensor of the reference spec §10
  (Gaussian-bump time factors, Gamma(0.7) worm loadings, Gamma(0.3) pair loadings, unit SD,
  Gaussian noise, clipped at 0);
* :func:`planted_communities`: calcium traces of neurons whose communities co-fluctuate only in
  known time windows and in participating worms, in the homogenized layout.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter1d

from pipelines.common import NEURONS


def planted_cp_tensor(shape: tuple[int, int, int], rank: int, noise: float = 0.5,
                      seed: int = 0, baseline: float = 0.0):
    """A noisy non-negative rank-``rank`` tensor and its factors.

    Parameters
    ----------
    shape : (T, W, P).
    noise : SD of the Gaussian noise added to the unit-SD signal before clipping at 0.
    baseline : constant added before the noise (a flat floor, as null affinities give).

    Returns
    -------
    tensor : (T, W, P) float32 >= 0.
    factors : [time (T, R), worm (W, R), pair (P, R)] float64 planted factors.
    """
    rng = np.random.default_rng(seed)
    n_time, n_worms, n_pairs = shape
    t = np.arange(n_time)[:, None]
    centres = rng.uniform(0, n_time, rank)
    widths = rng.uniform(0.03, 0.1, rank) * n_time
    time_f = np.exp(-0.5 * ((t - centres) / widths) ** 2)
    worm_f = rng.gamma(0.7, size=(n_worms, rank))
    pair_f = rng.gamma(0.3, size=(n_pairs, rank))
    signal = np.einsum("tr,wr,pr->twp", time_f, worm_f, pair_f, optimize=True)
    scale = signal.std()
    signal /= scale
    tensor = signal + baseline + noise * rng.standard_normal(shape)
    worm_f = worm_f / scale
    return np.clip(tensor, 0, None).astype(np.float32), [time_f, worm_f, pair_f]


def planted_communities(n_neurons: int = 40, n_worms: int = 8, duration: float = 400.0,
                        dt: float = 0.5, n_communities: int = 3, community_size: int = 8,
                        window: float = 60.0, missing: float = 0.1, seed: int = 0) -> xr.Dataset:
    """Calcium of neurons in planted communities active during known windows.

    Community ``k`` is active in one window ``[start_k, start_k + window)`` (windows spread
    over the recording without overlap); during it, its members in participating worms (each
    worm participates with probability 0.85) follow a shared slow latent signal with large
    transients; otherwise every neuron follows independent low-amplitude noise. A fraction
    ``missing`` of (worm, neuron) traces is NaN (not recorded).

    Returns
    -------
    Dataset in the homogenized layout: ``calcium`` (worm, neuron, time) float32, neuron names
    from the canonical list, ``attrs['dt']``; truth ``membership`` (community, neuron) bool,
    ``window_start``/``window_end`` (community) s, ``participation`` (worm, community) bool.
    """
    rng = np.random.default_rng(seed)
    n_time = int(round(duration / dt))
    time = np.arange(n_time) * dt
    membership = np.zeros((n_communities, n_neurons), bool)
    members = rng.permutation(n_neurons)[: n_communities * community_size]
    for k in range(n_communities):
        membership[k, members[k * community_size:(k + 1) * community_size]] = True
    gap = (duration - n_communities * window) / (n_communities + 1)
    starts = gap + np.arange(n_communities) * (window + gap)
    participation = rng.random((n_worms, n_communities)) < 0.85
    participation[0] = True
    smooth = 2.0 / dt
    calcium = np.empty((n_worms, n_neurons, n_time), dtype=np.float32)
    for w in range(n_worms):
        traces = 0.3 * gaussian_filter1d(rng.standard_normal((n_neurons, n_time)), smooth, axis=1)
        traces *= 1 / traces.std()
        traces *= 0.3
        for k in range(n_communities):
            if not participation[w, k]:
                continue
            on = (time >= starts[k]) & (time < starts[k] + window)
            latent = gaussian_filter1d(rng.standard_normal(n_time), smooth)
            latent *= 2.0 / latent.std()
            gain = rng.uniform(0.7, 1.3, membership[k].sum())
            traces[np.ix_(membership[k], on)] += gain[:, None] * latent[on]
        traces += 0.02 * rng.standard_normal(traces.shape)
        calcium[w] = traces
    calcium[rng.random((n_worms, n_neurons)) < missing] = np.nan
    names = list(NEURONS[:n_neurons])
    return xr.Dataset(
        {"calcium": (("worm", "neuron", "time"), calcium),
         "membership": (("community", "neuron"), membership),
         "window_start": ("community", starts), "window_end": ("community", starts + window),
         "participation": (("worm", "community"), participation)},
        coords={"worm": [f"worm{w:02d}" for w in range(n_worms)], "neuron": names,
                "time": time, "community": np.arange(n_communities)},
        attrs={"dt": dt, "simulated": "planted communities (pipelines.dfc.synthetic)"},
    )
