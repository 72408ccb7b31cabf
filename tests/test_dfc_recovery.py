"""Planted recovery through the tensor baseline (``dfc.tensor.baseline``): time-locked
communities next to a few pairs with large, worm-specific (state-driven) co-activation, the
situation of the simulator (docs/dfc.md, "Recovery on the simulator")."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import linear_sum_assignment

from pipelines.connectome.compare import auroc
from pipelines.dfc.ntf import fit_ncp
from pipelines.dfc.tensor import remove_pair_baseline

WINDOWS = [(20, 40), (80, 100), (140, 160)]


def planted_tensor(seed: int = 0, n_time: int = 200, n_worms: int = 6, n_pairs: int = 300):
    """(time, worm, pair) affinities: 3 communities of 10 pairs active in shared windows
    (amplitude 0.3), 40 state pairs following each worm's own slow state (amplitude 3), and
    a half-normal floor everywhere; 5% of (worm, pair) fibres missing."""
    rng = np.random.default_rng(seed)
    values = np.abs(0.1 * rng.standard_normal((n_time, n_worms, n_pairs)))
    for k, (start, end) in enumerate(WINDOWS):
        values[start:end, :, 10 * k: 10 * (k + 1)] += 0.3
    state = gaussian_filter1d(rng.standard_normal((n_time, n_worms)), 5, axis=0) ** 2
    values[:, :, 30:70] += 3 * (state / state.std())[:, :, None]
    values[:, rng.random((n_worms, n_pairs)) < 0.05] = np.nan
    return values.astype(np.float32)


def window_auroc(time_factor: np.ndarray) -> np.ndarray:
    """Per planted window, AUROC of the matched component's time course (Hungarian)."""
    on = np.zeros((len(WINDOWS), time_factor.shape[0]), bool)
    for k, (start, end) in enumerate(WINDOWS):
        on[k, start:end] = True
    scores = np.array([[auroc(time_factor[:, r], on[k]) for r in range(time_factor.shape[1])]
                       for k in range(len(WINDOWS))])
    rows, cols = linear_sum_assignment(-scores)
    return scores[rows, cols]


def fitted_time_factor(values: np.ndarray, baseline: str) -> np.ndarray:
    data = remove_pair_baseline(values, baseline)
    fits = fit_ncp(data, [4] * 2, seed=0, tol=1e-5, max_iter=300)
    return min(fits, key=lambda f: f.final_error).factors[0]


def test_pair_zscore_recovers_windows_that_state_pairs_hide():
    values = planted_tensor()
    raw = window_auroc(fitted_time_factor(values, "none"))
    standardized = window_auroc(fitted_time_factor(values, "pair_zscore"))
    assert standardized.min() >= 0.9
    assert raw.min() < standardized.min()  # the raw tensor spends components on the states


def test_baseline_keeps_mask_and_sign():
    values = planted_tensor(seed=1)
    for mode in ("pair_median", "pair_zscore"):
        out = remove_pair_baseline(values, mode)
        assert np.array_equal(np.isnan(out), np.isnan(values))
        assert np.nanmin(out) >= 0
    constant = np.ones((10, 2, 3), np.float32)
    assert np.all(remove_pair_baseline(constant, "pair_zscore") == 0)
    with pytest.raises(ValueError, match="tensor.baseline"):
        remove_pair_baseline(values, "mean")
