"""How strongly each neuron takes part in a component: a graded membership.

A component's pair weights are close to a product of per-neuron loadings (a planted group
whose members share one drive co-fluctuates pairwise in proportion to how strongly each
responds), so the best symmetric non-negative rank-1 fit of the observed weights,

    w_ij ≈ u_i u_j     (i ≠ j, pairs observed),

gives each neuron one number, its participation u_i. The motif community cuts the neurons
into in and out; the participation keeps the order inside and outside the cut (which members
are core, which are borderline), and the planted benchmark uses it to tell a wrong cut from a
wrong order (``docs/dfc_communities.md``).
"""

from __future__ import annotations

import numpy as np


def participation(weights: np.ndarray, *, tol: float = 1e-12) -> np.ndarray:
    """Participation of every node in a component: the least-squares rank-1 ``u u^T`` fit of
    the observed off-diagonal weights (``u >= 0``), scaled to a maximum of 1.

    Minimises ``sum_ij (w_ij - u_i u_j)^2`` over the observed pairs ``i != j`` with SciPy's
    L-BFGS-B (bounds ``u >= 0``, exact gradient), on weights scaled to a maximum of 1 and
    started from the square root of each node's mean weight. The fit is unique when the
    observed pairs join every node to the rest through a cycle of odd length (a triangle, say;
    a complete component graph has them all); on a star, ``u_0 u_i = w_0i`` leaves the scale
    between the centre and the rest free and one of the equal fits is returned.

    Parameters
    ----------
    weights : (N, N) float
        Symmetric non-negative pair weights (NaN: unobserved pair; diagonal ignored).
    tol : float
        L-BFGS-B's ``ftol`` and ``gtol``.

    Returns
    -------
    (N,) float in [0, 1]; 1 for the most strongly participating node, 0 for a node whose
    observed weights are all 0 or that has none; all 0 for a graph without weight.
    """
    from scipy.optimize import minimize

    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights must be a square (N, N) matrix, got shape {weights.shape}")
    observed = np.isfinite(weights) & ~np.eye(weights.shape[0], dtype=bool)
    if np.any(weights[observed] < 0):
        raise ValueError("pair weights must be non-negative")
    w = np.where(observed, weights, 0.0)
    if not w.any():
        return np.zeros(weights.shape[0])
    w = w / w.max()
    mask = observed.astype(float)

    def loss(u):
        residual = mask * (w - np.outer(u, u))
        return 0.5 * np.sum(residual ** 2), -2.0 * residual @ u

    start = np.sqrt(w.sum(axis=1) / np.maximum(observed.sum(axis=1), 1))
    fit = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * w.shape[0],
                   options={"ftol": tol, "gtol": tol, "maxiter": 10_000})
    u = np.where(observed.any(axis=1), fit.x, 0.0)
    return u / u.max() if u.max() > 0 else u
