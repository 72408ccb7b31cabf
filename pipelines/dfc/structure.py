"""How a component's pair weights relate to the anatomical connectome.

For every component, the AUROC with which its pair weights separate anatomically connected
pairs (any chemical synapse or gap junction, either direction, in the chosen source, by
default Cook et al. 2019) from unconnected ones, over the pairs of the tensor whose two
neurons the source covers. Chance is estimated with degree-preserving shuffles of the
anatomical graph restricted to those neurons (double edge swaps): the p value is the fraction
of shuffles with an AUROC at least as high as the observed one.
"""

from __future__ import annotations

import numba
import numpy as np
import xarray as xr
from scipy.stats import rankdata

from pipelines.common import get_logger

log = get_logger(__name__)


def anatomical_edges(weight: xr.DataArray, neuron_1, neuron_2) -> tuple[np.ndarray, np.ndarray]:
    """Edge indicator of each pair in a connectome.

    Parameters
    ----------
    weight : DataArray (layer, pre, post), NaN where the source does not cover a neuron
        (``pipelines.connectome.read_source``).
    neuron_1, neuron_2 : (P,) neuron names of each pair.

    Returns
    -------
    edge : (P,) bool, a synapse of any layer in either direction.
    covered : (P,) bool, both neurons covered by the source.
    """
    total = weight.fillna(0).sum("layer")
    a = total.sel(pre=list(neuron_1), post=list(neuron_2)).values.diagonal()
    b = total.sel(pre=list(neuron_2), post=list(neuron_1)).values.diagonal()
    covered_neuron = weight.notnull().any(("layer", "post")).to_series()
    covered = covered_neuron.reindex(list(neuron_1)).fillna(False).to_numpy(bool) & \
        covered_neuron.reindex(list(neuron_2)).fillna(False).to_numpy(bool)
    return (a + b) > 0, covered


def auroc(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AUROC of ``scores`` (P,) for one or several label vectors (..., P) bool (ties count
    one half; Mann-Whitney U). NaN when a label vector has no positive or no negative."""
    ranks = rankdata(scores)
    labels = np.asarray(labels, bool)
    n_pos = labels.sum(axis=-1)
    n_neg = labels.shape[-1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((labels * ranks).sum(axis=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@numba.njit(cache=True)
def _double_edge_swaps(adjacency, edges, n_swaps, rng):
    """Degree-preserving rewiring of an undirected simple graph, in place."""
    n_edges = edges.shape[0]
    done = 0
    tries = 0
    while done < n_swaps and tries < 100 * n_swaps:
        tries += 1
        e, f = rng.integers(0, n_edges), rng.integers(0, n_edges)
        a, b = edges[e, 0], edges[e, 1]
        c, d = edges[f, 0], edges[f, 1]
        if rng.random() < 0.5:
            c, d = d, c
        if a == c or a == d or b == c or b == d or adjacency[a, d] or adjacency[c, b]:
            continue
        adjacency[a, b] = adjacency[b, a] = False
        adjacency[c, d] = adjacency[d, c] = False
        adjacency[a, d] = adjacency[d, a] = True
        adjacency[c, b] = adjacency[b, c] = True
        edges[e, 1] = d
        edges[f, 0], edges[f, 1] = c, b
        done += 1


def degree_preserving_shuffles(first: np.ndarray, second: np.ndarray, edge: np.ndarray,
                               n_shuffles: int, seed: int = 0,
                               swaps_per_edge: int = 10) -> np.ndarray:
    """(n_shuffles, P) bool: the pair edge indicators of degree-preserving rewirings of the
    graph whose edges are the pairs ``(first[p], second[p])`` with ``edge[p]``."""
    n = int(max(first.max(), second.max())) + 1
    position = np.full((n, n), -1, dtype=np.int64)
    position[first, second] = position[second, first] = np.arange(first.size)
    out = np.zeros((n_shuffles, first.size), bool)
    for k in range(n_shuffles):
        adjacency = np.zeros((n, n), dtype=np.bool_)
        adjacency[first[edge], second[edge]] = adjacency[second[edge], first[edge]] = True
        edges = np.stack([first[edge], second[edge]], axis=1).astype(np.int64)
        if len(edges) >= 2:
            _double_edge_swaps(adjacency, edges, swaps_per_edge * len(edges),
                               np.random.default_rng([seed, k]))
        i, j = np.nonzero(np.triu(adjacency, 1))
        out[k, position[i, j]] = True
    return out


def anatomy_overlap(pair_weight: np.ndarray, neuron_1, neuron_2, weight: xr.DataArray,
                    n_shuffles: int = 100, seed: int = 0) -> xr.Dataset:
    """AUROC of each component's pair weights for anatomical edges, against a degree-preserving
    shuffle null.

    Parameters
    ----------
    pair_weight : (R, P) non-negative pair factor of each component.
    neuron_1, neuron_2 : (P,) pair neuron names (a pair may repeat across sign channels; its
        weights are summed).
    weight : connectome DataArray (layer, pre, post) from ``read_source``.

    Returns
    -------
    Dataset on ``component``: ``anatomy_auroc``, ``anatomy_null_mean``, ``anatomy_null_sd``,
    ``anatomy_p``; attrs ``anatomy_pairs`` (pairs scored), ``anatomy_edges``.
    """
    names = np.stack([np.asarray(neuron_1, str), np.asarray(neuron_2, str)], axis=1)
    unique, inverse = np.unique(names, axis=0, return_inverse=True)
    summed = np.zeros((pair_weight.shape[0], len(unique)))
    np.add.at(summed.T, inverse.ravel(), pair_weight.T)
    edge, covered = anatomical_edges(weight, unique[:, 0], unique[:, 1])
    unique, summed, edge = unique[covered], summed[:, covered], edge[covered]
    _, index = np.unique(unique, return_inverse=True)
    index = index.reshape(-1, 2)
    null = degree_preserving_shuffles(index[:, 0], index[:, 1], edge, n_shuffles, seed)
    observed = np.array([auroc(w, edge) for w in summed])
    null_auc = np.stack([auroc(w, null) for w in summed])  # (R, n_shuffles)
    log.info("anatomy: %d covered pairs, %d edges, AUROC %s", edge.size, int(edge.sum()),
             np.round(observed, 3))
    return xr.Dataset(
        {"anatomy_auroc": ("component", observed),
         "anatomy_null_mean": ("component", null_auc.mean(axis=1)),
         "anatomy_null_sd": ("component", null_auc.std(axis=1)),
         "anatomy_p": ("component", (1 + (null_auc >= observed[:, None]).sum(axis=1))
                       / (1 + n_shuffles))},
        attrs={"anatomy_pairs": int(edge.size), "anatomy_edges": int(edge.sum()),
               "anatomy_shuffles": n_shuffles},
    )
