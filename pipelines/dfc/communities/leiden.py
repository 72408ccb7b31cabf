"""Modularity baselines: Leiden (leidenalg on igraph) and Louvain (networkx).

Both maximise weighted modularity at a resolution parameter (1 by default), unlike the SBM,
which has none. They serve as the baseline the SBM is compared against.
"""

from __future__ import annotations

import numpy as np

from .sbm import _relabel, _validate


def _edges(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Links (i < j) with positive weight; NaN (unobserved) pairs are no link."""
    weights = np.nan_to_num(weights, nan=0.0)
    i, j = np.nonzero(np.triu(weights, 1))
    return i, j, weights[i, j]


def leiden_communities(weights: np.ndarray, *, seed: int = 0, resolution: float = 1.0,
                       n_iterations: int = -1) -> np.ndarray:
    """Leiden partition maximising weighted modularity.

    Parameters
    ----------
    weights : (N, N) float
        Symmetric non-negative weights (0 = no edge).
    seed : int
    resolution : float
        Modularity resolution γ (1 = standard modularity).
    n_iterations : int
        Leiden iterations; negative runs until the partition is stable.

    Returns
    -------
    labels : (N,) int, 0..B−1 by decreasing community size.
    """
    import igraph
    import leidenalg

    weights = _validate(weights)
    i, j, w = _edges(weights)
    graph = igraph.Graph(n=weights.shape[0], edges=list(zip(i.tolist(), j.tolist(), strict=False)))
    graph.es["weight"] = w.tolist()
    partition = leidenalg.find_partition(
        graph, leidenalg.RBConfigurationVertexPartition, weights="weight",
        resolution_parameter=resolution, n_iterations=n_iterations, seed=seed)
    return _relabel(np.asarray(partition.membership))


def louvain_communities(weights: np.ndarray, *, seed: int = 0,
                        resolution: float = 1.0) -> np.ndarray:
    """Louvain partition (networkx) maximising weighted modularity; same contract as
    :func:`leiden_communities`."""
    import networkx as nx

    weights = _validate(weights)
    i, j, w = _edges(weights)
    graph = nx.Graph()
    graph.add_nodes_from(range(weights.shape[0]))
    graph.add_weighted_edges_from(zip(i.tolist(), j.tolist(), w.tolist(), strict=False))
    labels = np.empty(weights.shape[0], dtype=np.int64)
    for k, members in enumerate(nx.community.louvain_communities(
            graph, weight="weight", resolution=resolution, seed=seed)):
        labels[list(members)] = k
    return _relabel(labels)
