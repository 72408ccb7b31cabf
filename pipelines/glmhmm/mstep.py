"""Closed-form M-step blocks of the switching AR-GLM.

Each function maximises the expected complete-data log-likelihood plus log-prior over one block
of parameters with the others fixed (exact coordinate ascent), so the EM objective never
decreases: coefficients given noise, noise given coefficients, transitions, initial state.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack
from scipy.special import gammaln

__all__ = [
    "solve_coefficients",
    "residual_sum_of_squares",
    "update_noise",
    "update_transitions",
    "update_initial",
    "log_dirichlet",
    "log_inverse_gamma",
]


def solve_coefficients(stats, noise, prior_mean, prior_precision):
    """γ-weighted ridge regression toward a prior mean, per (state, neuron), by Cholesky (LAPACK posv).

    Maximises -(1/2s) Σ_t γ_t (y_t - xᵀw)² - ½ Σ_p λ_p (w_p - m_p)² over w.

    Parameters
    ----------
    stats : emissions.Stats
    noise : (K, N) noise variances s.
    prior_mean, prior_precision : (K, N, P) diagonal Gaussian prior of each coefficient.

    Returns
    -------
    coef : (K, N, P)
    """
    n_states, n_neurons, n_coef = stats.cross.shape
    rhs = stats.cross / noise[..., None] + prior_precision * prior_mean
    coef = np.empty_like(rhs)
    idx = np.arange(n_coef)
    for k in range(n_states):
        for i in range(n_neurons):
            a = stats.gram_of(k, i) / noise[k, i]
            a[idx, idx] += prior_precision[k, i]
            _, coef[k, i], info = lapack.dposv(a, rhs[k, i], lower=True)
            if info != 0:
                raise np.linalg.LinAlgError(f"regression of state {k}, neuron {i} is not positive definite")
    return coef


def residual_sum_of_squares(stats, coef):
    """γ-weighted RSS (K, N): Σ yy - 2 wᵀ cross + wᵀ gram w."""
    quad = np.empty(coef.shape[:2])
    n_shared = stats.gram.shape[-1]
    shared = coef[..., :n_shared]
    for q in range(stats.gram.shape[1]):
        sel = stats.pattern == q
        gw = np.matmul(shared[:, sel], stats.gram[:, q])  # (K, n_q, P_x)
        quad[:, sel] = (gw * shared[:, sel]).sum(-1)
    if stats.own_x is not None:  # the neuron-specific blocks of the own past frames
        own = coef[..., n_shared:]
        quad += 2 * np.einsum("kns,knsp,knp->kn", own, stats.own_x, shared)
        quad += np.einsum("kns,knsr,knr->kn", own, stats.own_own, own)
    rss = stats.yy - 2 * (coef * stats.cross).sum(-1) + quad
    return np.maximum(rss, 0.0)


def update_noise(stats, coef, shape: float, rate: float, shared: bool = False):
    """MAP noise variances s (K, N) under an inverse-gamma(shape, rate) prior.

    s = (RSS / 2 + rate) / (count / 2 + shape + 1). With ``shared`` every state has the same
    variance per neuron (one prior term per neuron): RSS and counts are pooled over states and
    the result is broadcast to (K, N).
    """
    rss = residual_sum_of_squares(stats, coef)
    if not shared:
        return (rss / 2 + rate) / (stats.count / 2 + shape + 1)
    pooled = (rss.sum(0) / 2 + rate) / (stats.count.sum(0) / 2 + shape + 1)
    return np.broadcast_to(pooled, rss.shape).copy()


def log_inverse_gamma(x, shape: float, rate: float) -> float:
    """Σ log InvGamma(x | shape, rate)."""
    x = np.asarray(x, float)
    return float(np.sum(shape * np.log(rate) - gammaln(shape) - (shape + 1) * np.log(x) - rate / x))


def transition_pseudocounts(n_states: int, concentration: float, stickiness: float) -> np.ndarray:
    """Dirichlet α - 1 of each transition row: ``concentration`` everywhere + ``stickiness`` on the diagonal."""
    return np.full((n_states, n_states), concentration) + stickiness * np.eye(n_states)


def update_transitions(counts, concentration: float, stickiness: float):
    """MAP transition matrix (K, K) from expected counts pooled over worms, sticky Dirichlet rows."""
    post = counts + transition_pseudocounts(counts.shape[0], concentration, stickiness)
    return post / post.sum(axis=1, keepdims=True)


def update_initial(first_posteriors, concentration: float):
    """MAP initial distribution (K,) from the posteriors of each worm's first frame (B, K)."""
    post = first_posteriors.sum(axis=0) + concentration
    return post / post.sum()


def log_dirichlet(p, alpha_minus_one) -> float:
    """Σ over rows of log Dirichlet(p_row | α_row), α = alpha_minus_one + 1."""
    alpha = np.asarray(alpha_minus_one, float) + 1.0
    p = np.atleast_2d(p)
    alpha = np.broadcast_to(alpha, p.shape)
    with np.errstate(divide="ignore"):
        log_p = np.where(alpha > 1.0, np.log(p), 0.0)
    return float(np.sum(gammaln(alpha.sum(-1)) - gammaln(alpha).sum(-1)) + np.sum((alpha - 1) * log_p))
