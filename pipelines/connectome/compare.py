"""Function versus structure: how well a functional matrix picks out anatomical connections.

Every functional matrix of the pipeline (a component's pair weights, a state's interactions,
the predictor's attention) is scored the same way: the AUROC of its absolute entries for
telling connected from unconnected neuron pairs of a wiring diagram, over the pairs where
both are defined, against a degree-preserving null (Maslov-Sneppen edge swaps of the wiring
among the scored pairs), so that hub neurons with many synapses and strong activity do not
pass for structure.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.stats import rankdata


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for binary ``label`` (ties count one half)."""
    return _auroc_from_ranks(rankdata(np.asarray(score, dtype=float)),
                             np.asarray(label, dtype=bool))


@numba.njit(cache=True)
def _edge_swaps(present: np.ndarray, pre: np.ndarray, post: np.ndarray, n_swaps: int, seed: int):
    """In-place directed double-edge swaps: (a→b, c→d) becomes (a→d, c→b) when that creates
    neither a self-loop nor a duplicate edge. Preserves every neuron's in- and out-degree.
    ``present`` is the dense (N, N) adjacency, kept in step with the edge list."""
    np.random.seed(seed)  # noqa: NPY002 - inside numba: its own RNG, seeded per call
    n_edges = pre.shape[0]
    for _ in range(n_swaps):
        e1 = np.random.randint(n_edges)  # noqa: NPY002
        e2 = np.random.randint(n_edges)  # noqa: NPY002
        a, b, c, d = pre[e1], post[e1], pre[e2], post[e2]
        if e1 == e2 or a == d or c == b or present[a, d] or present[c, b]:
            continue
        present[a, b] = False
        present[c, d] = False
        present[a, d] = True
        present[c, b] = True
        post[e1], post[e2] = d, b


@numba.njit(cache=True)
def _undirected_edge_swaps(present: np.ndarray, first: np.ndarray, second: np.ndarray,
                           n_swaps: int, seed: int):
    """In-place undirected double-edge swaps: {a, b}, {c, d} become {a, d}, {c, b} (or, with
    the second edge's ends exchanged, {a, c}, {d, b}) when that creates neither a self-loop
    nor a duplicate edge. Preserves every node's degree and the symmetry of ``present``."""
    np.random.seed(seed)  # noqa: NPY002 - inside numba: its own RNG, seeded per call
    n_edges = first.shape[0]
    for _ in range(n_swaps):
        e1 = np.random.randint(n_edges)  # noqa: NPY002
        e2 = np.random.randint(n_edges)  # noqa: NPY002
        a, b, c, d = first[e1], second[e1], first[e2], second[e2]
        if np.random.random() < 0.5:  # noqa: NPY002
            c, d = d, c
        if e1 == e2 or a == c or a == d or b == c or b == d or present[a, d] or present[c, b]:
            continue
        present[a, b] = present[b, a] = False
        present[c, d] = present[d, c] = False
        present[a, d] = present[d, a] = True
        present[c, b] = present[b, c] = True
        second[e1] = d
        first[e2], second[e2] = c, b


def degree_preserving_shuffle(adjacency: np.ndarray, seed: int, swaps_per_edge: int = 10,
                              undirected: bool = False):
    """A random graph with the same degrees as ``adjacency`` (bool (N, N)).

    Directed (default): every node keeps its in- and out-degree ((post, pre) or (pre, post):
    the swap is symmetric in the two); a symmetric input is treated as directed, so its
    degrees (not its symmetry) are kept. ``undirected``: ``adjacency`` must be symmetric;
    the result is symmetric and every node keeps its degree (Maslov-Sneppen swaps of the
    undirected edges).
    """
    out = np.array(adjacency, dtype=bool, copy=True)
    if undirected:
        if not np.array_equal(out, out.T):
            raise ValueError("an undirected shuffle needs a symmetric adjacency")
        rows, cols = np.nonzero(np.triu(out, 1))
        if rows.size >= 2:
            _undirected_edge_swaps(out, rows.astype(np.int64), cols.astype(np.int64),
                                   swaps_per_edge * len(rows), seed)
        return out
    rows, cols = np.nonzero(out)
    if rows.size:
        _edge_swaps(out, rows.astype(np.int64), cols.astype(np.int64),
                    swaps_per_edge * len(rows), seed)
    return out


STATISTICS = ("auroc", "null_mean", "null_sd", "z", "p_value", "n_pairs", "n_edges")


def edge_auroc(
    score: np.ndarray,
    reference: np.ndarray,
    valid: np.ndarray | None = None,
    n_null: int = 20,
    seed: int = 0,
    symmetric: bool = False,
) -> dict[str, float]:
    """AUROC of ``|score|`` for the edges of a wiring diagram, with a degree-preserving null.

    Parameters
    ----------
    score : (N, N) float
        Functional weights, same orientation as ``reference``; NaN entries are not scored.
    reference : (N, N) float or bool
        The wiring: > 0 (or True) is an edge, NaN marks pairs the source does not cover.
    valid : (N, N) bool, optional
        Pairs to score (e.g. both neurons recorded). The diagonal is always excluded.
    symmetric : bool
        Score only the upper triangle, with the reference symmetrised (undirected matrices
        such as NTF pair weights); the null then rewires the undirected graph.

    Returns
    -------
    dict of :data:`STATISTICS`: the AUROC, the mean and SD of ``n_null`` AUROCs with the
    reference's edges shuffled among the scored pairs (every neuron keeps its in- and
    out-degree), the z-score, the one-sided empirical p-value with the +1 correction, and
    the numbers of scored pairs and edges.
    """
    score = np.asarray(score, dtype=float)
    reference = np.asarray(reference, dtype=float)
    n = score.shape[0]
    keep = np.isfinite(score) & np.isfinite(reference) & ~np.eye(n, dtype=bool)
    if valid is not None:
        keep &= np.asarray(valid, dtype=bool)
    edges = np.nan_to_num(reference) > 0
    if symmetric:
        edges = edges | edges.T
        keep &= keep.T & np.triu(np.ones((n, n), dtype=bool), k=1)
    labels = edges[keep]
    result = dict.fromkeys(STATISTICS, float("nan"))
    result.update(n_pairs=int(keep.sum()), n_edges=int(labels.sum()))
    if labels.all() or not labels.any():
        return result
    ranks = rankdata(np.abs(score[keep]))  # the scores are fixed: rank them once
    result["auroc"] = _auroc_from_ranks(ranks, labels)
    # the null moves edges among the scored pairs only, then scores the same pairs
    scored_edges = edges & (keep | keep.T) if symmetric else edges & keep
    null = np.array([
        _auroc_from_ranks(ranks, degree_preserving_shuffle(scored_edges, seed + k,
                                                           undirected=symmetric)[keep])
        for k in range(n_null)
    ])
    null = null[np.isfinite(null)]
    if null.size:
        result["null_mean"] = float(null.mean())
        result["p_value"] = float((1 + np.sum(null >= result["auroc"])) / (1 + null.size))
    if null.size > 1:
        result["null_sd"] = float(null.std(ddof=1))
        if result["null_sd"] > 0:
            result["z"] = (result["auroc"] - result["null_mean"]) / result["null_sd"]
    return result


def _auroc_from_ranks(ranks: np.ndarray, labels: np.ndarray) -> float:
    """AUROC (Mann-Whitney U / n_pos n_neg) from the scores' ranks (ties averaged)."""
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
