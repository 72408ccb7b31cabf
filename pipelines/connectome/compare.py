"""Function versus structure: how well a functional matrix picks out anatomical connections.

Every functional matrix of the atlas (a component's pair weights, a state's interactions, the
predictor's attention) is scored the same way: the AUROC of its absolute entries for telling
connected from unconnected neuron pairs of a wiring diagram, restricted to pairs where both
are defined, and compared with a degree-preserving null (Maslov-Sneppen edge swaps of the
wiring), so that hub neurons with many synapses and strong activity do not pass for structure.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.stats import rankdata


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for binary ``label`` (ties count one half)."""
    score = np.asarray(score, dtype=float)
    label = np.asarray(label, dtype=bool)
    n_pos, n_neg = label.sum(), (~label).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@numba.njit(cache=True)
def _edge_swaps(present: np.ndarray, pre: np.ndarray, post: np.ndarray, n_swaps: int, seed: int):
    """In-place directed double-edge swaps: (a→b, c→d) becomes (a→d, c→b) when that creates
    neither a self-loop nor a duplicate edge. Preserves every neuron's in- and out-degree.
    ``present`` is the dense (N, N) adjacency, kept in step with the edge list."""
    np.random.seed(seed)
    n_edges = pre.shape[0]
    for _ in range(n_swaps):
        e1 = np.random.randint(n_edges)
        e2 = np.random.randint(n_edges)
        a, b, c, d = pre[e1], post[e1], pre[e2], post[e2]
        if e1 == e2 or a == d or c == b or present[a, d] or present[c, b]:
            continue
        present[a, b] = False
        present[c, d] = False
        present[a, d] = True
        present[c, b] = True
        post[e1], post[e2] = d, b


def degree_preserving_shuffle(adjacency: np.ndarray, seed: int, swaps_per_edge: int = 10):
    """A random directed graph with the same in- and out-degree of every node as
    ``adjacency`` (bool, (post, pre) or (pre, post): the swap is symmetric in the two)."""
    out = np.array(adjacency, dtype=bool, copy=True)
    rows, cols = np.nonzero(out)
    if rows.size:
        _edge_swaps(out, rows.astype(np.int64), cols.astype(np.int64),
                    swaps_per_edge * len(rows), seed)
    return out


def anatomy_overlap(
    matrix: np.ndarray,
    adjacency: np.ndarray,
    valid: np.ndarray | None = None,
    n_null: int = 20,
    seed: int = 0,
    symmetric: bool = False,
) -> dict[str, float]:
    """AUROC of ``|matrix|`` against a wiring diagram, with a degree-preserving null.

    Parameters
    ----------
    matrix : (N, N) float
        Functional weights, same orientation as ``adjacency``; NaN entries are ignored.
    adjacency : (N, N) bool
        Anatomical connections (e.g. Cook 2019 chemical or gap junction).
    valid : (N, N) bool, optional
        Pairs to score (e.g. both neurons recorded and covered by the wiring). The diagonal is
        always excluded.
    symmetric : bool
        Score only the upper triangle, with ``adjacency`` symmetrised (undirected matrices
        such as NTF pair weights).

    Returns
    -------
    dict with ``auroc``, ``null_mean``, ``null_sd``, ``z`` and the one-sided empirical
    ``p_value`` (fraction of null AUROCs at least as large, with the +1 correction).
    """
    matrix = np.asarray(matrix, dtype=float)
    adjacency = np.asarray(adjacency, dtype=bool)
    n = matrix.shape[0]
    keep = np.isfinite(matrix) & ~np.eye(n, dtype=bool)
    if valid is not None:
        keep &= np.asarray(valid, dtype=bool)
    if symmetric:
        keep &= np.triu(np.ones((n, n), dtype=bool), k=1)
        adjacency = adjacency | adjacency.T
    score = np.abs(matrix[keep])
    observed = auroc(score, adjacency[keep])
    null = np.array([
        auroc(score, _symmetrise(degree_preserving_shuffle(adjacency, seed + k), symmetric)[keep])
        for k in range(n_null)
    ])
    null = null[np.isfinite(null)]
    null_mean = float(null.mean()) if null.size else float("nan")
    null_sd = float(null.std(ddof=1)) if null.size > 1 else float("nan")
    return {
        "auroc": observed,
        "null_mean": null_mean,
        "null_sd": null_sd,
        "z": (observed - null_mean) / null_sd if null_sd and null_sd > 0 else float("nan"),
        "p_value": float((1 + np.sum(null >= observed)) / (1 + null.size)),
        "n_pairs": int(keep.sum()),
        "n_edges": int(adjacency[keep].sum()),
    }


def _symmetrise(adjacency: np.ndarray, symmetric: bool) -> np.ndarray:
    return adjacency | adjacency.T if symmetric else adjacency
