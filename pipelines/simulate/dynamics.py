"""Latent dynamics of one worm: the state sequence, the stimulus input and the activity.

Leaky rate dynamics on a fine grid of step ``dt`` (Euler-Maruyama)::

    tau_i dx_i = (-x_i + sum_j M_t[i, j] tanh(x_j) + b_i + d_{z_t, i} + u_i(t)) dt
                 + sigma sqrt(2 tau_i) dB_i

with ``M_t = W_{z_t} + sum_c on_c(t) C_c`` (state interaction plus the couplings of the
communities whose stimulus is on), ``d`` the state drive, ``b`` the baseline and ``u`` the
stimulus input. ``tanh`` saturates, so the activity stays bounded whatever the matrices; the
spectral radius of every ``M`` is below 1 (checked when the model is built), so the circuit is
also locally stable around its resting point. Without coupling ``x`` is an Ornstein-Uhlenbeck
process of stationary sd ``sigma``.
"""

from __future__ import annotations

import numpy as np


def sample_states(t: np.ndarray, dwell: np.ndarray, jump: np.ndarray, shape: float,
                  rng: np.random.Generator) -> np.ndarray:
    """State index at each time of the regular grid ``t`` (s) from the semi-Markov chain.

    Dwell times are Gamma(``shape``, ``dwell / shape``) (mean ``dwell``; shape 1 is the
    Markov chain); the first state is drawn from the stationary time share and its dwell is
    the residual of a renewal process (uniform fraction of a full dwell).

    Returns (time,) int64.
    """
    visits = _stationary(jump)
    share = visits * dwell / np.sum(visits * dwell)
    states = np.empty(len(t), dtype=np.int64)
    state = int(rng.choice(len(dwell), p=share))
    end = t[0] + rng.uniform() * rng.gamma(shape, dwell[state] / shape)
    start_index = 0
    while start_index < len(t):
        stop_index = int(np.searchsorted(t, end, side="left"))
        states[start_index:stop_index] = state
        start_index = max(stop_index, start_index)
        state = int(rng.choice(len(dwell), p=jump[state]))
        end = end + rng.gamma(shape, dwell[state] / shape)
    return states


def _stationary(jump: np.ndarray) -> np.ndarray:
    """Stationary distribution of the jump chain (visit frequencies)."""
    values, vectors = np.linalg.eig(jump.T)
    p = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return np.abs(p) / np.abs(p).sum()


def ornstein_uhlenbeck(n_steps: int, n: int, dt: float, tau: float, sd: float,
                       rng: np.random.Generator) -> np.ndarray:
    """(time, n) stationary OU processes of time constant ``tau`` (s) and sd ``sd``."""
    from scipy.signal import lfilter

    a = np.exp(-dt / tau)
    noise = rng.standard_normal((n_steps, n)) * sd * np.sqrt(1 - a * a)
    noise[0] = rng.standard_normal(n) * sd
    return lfilter([1.0], [1.0, -a], noise, axis=0)


def stimulus_input(t: np.ndarray, start: np.ndarray, end: np.ndarray, community: np.ndarray,
                   membership: np.ndarray, participation: np.ndarray, amplitude: float,
                   drive_sd: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Input to the community members while their stimulus blocks are on.

    Each community c gets ``participation[c] * (amplitude + z_c(t))`` with ``z_c`` an OU
    process (tau 2 s, sd ``drive_sd``) common to its members: a time-locked step plus a shared
    fluctuation that makes the members co-activate.

    Returns
    -------
    u : (time, neuron) input.
    on : (time, community) bool, whether the community's stimulus is on.
    """
    n_communities = membership.shape[0]
    on = np.zeros((len(t), n_communities), dtype=bool)
    for s, e, c in zip(start, end, community, strict=True):
        on[(t >= s) & (t < e), c] = True
    dt = float(t[1] - t[0]) if len(t) > 1 else 1.0
    shared = ornstein_uhlenbeck(len(t), n_communities, dt, 2.0, drive_sd, rng)
    level = on * participation[None, :] * (amplitude + shared)
    return level @ membership.astype(float), on


def integrate(x0: np.ndarray, tau: np.ndarray, matrices: np.ndarray, matrix_index: np.ndarray,
              inputs: np.ndarray, sigma: float, dt: float,
              rng: np.random.Generator) -> np.ndarray:
    """Euler-Maruyama integration of the latent activity (module doc).

    Parameters
    ----------
    x0 : (neuron,) initial latent activity.
    tau : (neuron,) leak time constants (s), > dt.
    matrices : (combination, post, pre) the distinct interaction matrices.
    matrix_index : (time,) which matrix applies at each step.
    inputs : (time, neuron) every additive input (baseline, state drive, stimulus).
    sigma, dt : noise sd of the latent OU process, step (s).

    Returns (time, neuron) float64 latent ``x``.
    """
    n_steps, n = inputs.shape
    rate = dt / tau
    noise = rng.standard_normal((n_steps, n)) * (sigma * np.sqrt(2 * rate))
    drive = inputs * rate + noise
    scaled = matrices * rate[None, :, None]  # rate applies to the receiving neuron
    decay = 1.0 - rate
    x = np.empty((n_steps, n))
    current = np.asarray(x0, dtype=float)
    for i in range(n_steps):
        current = decay * current + scaled[matrix_index[i]] @ np.tanh(current) + drive[i]
        x[i] = current
    return x


def matrix_combinations(states: np.ndarray, on: np.ndarray, interaction: np.ndarray,
                        coupling: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct effective matrices ``W_z + sum_c on_c C_c`` and the index of each step.

    Returns (combination, post, pre) matrices and (time,) int64 indices.
    """
    keys = np.concatenate([states[:, None], on.astype(np.int64)], axis=1)
    unique, index = np.unique(keys, axis=0, return_inverse=True)
    matrices = np.stack([interaction[key[0]] + np.tensordot(key[1:], coupling, axes=1)
                         for key in unique])
    return matrices, index.ravel()
