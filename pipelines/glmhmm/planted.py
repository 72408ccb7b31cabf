"""Planted switching AR-Gaussian data for tests and benchmarks (vectorised over worms)."""

from __future__ import annotations

import numpy as np

from .model import Params

__all__ = ["random_params", "sample"]


def random_params(n_states, n_neurons, rng, density=0.2, strength=0.3, self_term=0.7, noise=0.1,
                  dwell=50.0, bias=1.0, own_lags=()):
    """Sticky switching AR(1) parameters with sparse signed interactions differing by state.

    Each state has its own random sparse W_k (``density`` of off-diagonal pairs, ±``strength``),
    self terms ``self_term``, a state-specific bias, and noise variance ``noise``; the mean dwell
    time is ``dwell`` frames; the biases place each state's fixed point at N(0, ``bias``²) per neuron. Spectral radius is kept below 0.9 so the process is stable.
    ``own_lags`` (S - 1 values) are each neuron's coefficients on its own frames y_{t-2} ..
    y_{t-S} in every state (e.g. ``self_term=1.3, own_lags=(-0.45,)``: an AR(2) with momentum);
    the caller keeps them stable.
    """
    n = n_neurons
    coef = np.zeros((n_states, n, n + 1 + len(own_lags)))
    coef[:, :, n + 1:] = np.asarray(own_lags, float)
    for k in range(n_states):
        w = rng.choice([-1.0, 0.0, 1.0], size=(n, n), p=[density / 2, 1 - density, density / 2]) * strength
        np.fill_diagonal(w, self_term)
        radius = np.abs(np.linalg.eigvals(w)).max()
        if radius > 0.9 and not len(own_lags):
            w *= 0.9 / radius
        coef[k, :, :n] = w
        # bias puts the state's fixed point at m_k ~ N(0, bias²): levels differ by O(bias)
        gain = np.eye(n) - w - np.sum(own_lags) * np.eye(n)  # fixed point of the AR(S) recursion
        coef[k, :, n] = gain @ rng.normal(scale=bias, size=n)
    stay = 1.0 - 1.0 / dwell
    trans = np.full((n_states, n_states), (1 - stay) / max(n_states - 1, 1))
    np.fill_diagonal(trans, stay if n_states > 1 else 1.0)
    return Params(
        log_initial=np.full(n_states, -np.log(n_states)),
        log_transition=np.log(trans),
        coef=coef,
        noise=np.full((n_states, n), noise),
    )


def sample(params: Params, n_worms, n_time, rng):
    """Sample states (W, T) and activity (W, T, N) with y_0 ~ N(0, 1)."""
    k_states, n = params.coef.shape[:2]
    trans = np.exp(params.log_transition)
    cum = np.cumsum(trans, axis=1)
    states = np.zeros((n_worms, n_time), dtype=int)
    states[:, 0] = rng.choice(k_states, size=n_worms, p=np.exp(params.log_initial))
    u = rng.random((n_worms, n_time))
    y = np.zeros((n_worms, n_time, n))
    y[:, 0] = rng.normal(size=(n_worms, n))
    eps = rng.normal(size=(n_worms, n_time, n)) * np.sqrt(params.noise[0])
    for t in range(1, n_time):
        states[:, t] = (u[:, t, None] > cum[states[:, t - 1]]).sum(axis=1).clip(max=k_states - 1)
        c = params.coef[states[:, t]]  # (W, N, P)
        y[:, t] = np.einsum("wnp,wp->wn", c[:, :, :n], y[:, t - 1]) + c[:, :, n] + eps[:, t] * np.sqrt(
            params.noise[states[:, t]] / params.noise[0]
        )
        for s in range(min(c.shape[2] - n - 1, t - 1)):  # own frames y_{t-2-s}
            y[:, t] += c[:, :, n + 1 + s] * y[:, t - 2 - s]
    return states, y
