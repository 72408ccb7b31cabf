"""Weighted LFR benchmark graphs (Lancichinetti & Fortunato 2009) on networkx topology.

networkx's ``LFR_benchmark_graph`` gives the topology (power-law degrees, power-law community
sizes, topological mixing μ_t). Weights follow the weighted LFR mixing rule: node strength
s_i = k_i^β, of which a fraction μ_w goes to links leaving the community. The original
generator spreads the strengths by minimising Σ_i (s_i − ρ_i)² over the internal and external
strengths ρ; here each link set (internal, external) gets the non-negative least-squares
weights for the same criterion (multiplicative updates), exact where the targets are
feasible.

Parameter adaptations (documented in ``docs/dfc_communities.md``): networkx requires τ2 > 1,
so the paper's τ2 = 1 becomes 1.1; its community assignment often fails or stalls for
N = 125, so every seed gets a time limit and failures move on to the next seed. Graphs with
one community or without links between communities are degenerate and rejected.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass

import numpy as np

from pipelines.common import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class LFRSetting:
    """One benchmark setting (spec §7): topological mixing, weight mixing, strength exponent,
    mean degree, smallest community, first seed."""

    mu_t: float
    mu_w: float
    beta: float
    average_degree: int
    min_community: int = 10
    seed: int = 13


# The nine settings of the paper's Table 1 (N = 125, k_max = 100, τ1 = 2, τ2 = 1 → 1.1).
SETTINGS: dict[int, LFRSetting] = {
    1: LFRSetting(0.5, 0.5, 0.5, 25),
    2: LFRSetting(0.5, 0.5, 1.0, 25),
    3: LFRSetting(0.5, 0.5, 2.0, 25),
    4: LFRSetting(0.25, 0.5, 2.0, 25),
    5: LFRSetting(0.5, 0.5, 2.0, 25, seed=1013),  # setting 3 on new topologies
    6: LFRSetting(0.75, 0.5, 2.0, 25),
    7: LFRSetting(0.5, 0.5, 2.0, 10, min_community=3),
    8: LFRSetting(0.5, 0.25, 2.0, 25),
    9: LFRSetting(0.5, 0.75, 2.0, 25),
}

N_NODES = 125
MAX_DEGREE = 100
TAU1 = 2.0
TAU2 = 1.1
MAX_COMMUNITY = 100


def fit_strengths(adjacency: np.ndarray, target: np.ndarray, n_iter: int = 1000,
                  tol: float = 1e-6) -> np.ndarray:
    """Non-negative symmetric weights on the links of ``adjacency`` (N, N, 0/1) whose node
    strengths best match ``target`` (N,) in least squares (the weighted LFR criterion).

    Multiplicative NNLS updates, w_ij ← w_ij (t_i + t_j) / (s_i + s_j), decrease
    Σ_i (t_i − s_i)² monotonically and keep weights positive; where the targets are feasible
    they are met exactly.
    """
    i, j = np.nonzero(np.triu(adjacency, 1))
    degree = np.maximum(np.bincount(i, minlength=len(target)) + np.bincount(j, minlength=len(target)), 1)
    per_link = target / degree
    w = (per_link[i] + per_link[j]) / 2
    pull = target[i] + target[j]
    for _ in range(n_iter):
        strength = np.bincount(i, w, len(target)) + np.bincount(j, w, len(target))
        new = w * pull / np.maximum(strength[i] + strength[j], 1e-300)
        if np.max(np.abs(new - w)) <= tol * np.max(w):
            w = new
            break
        w = new
    weights = np.zeros(adjacency.shape)
    weights[i, j] = w
    return weights + weights.T


def lfr_weights(adjacency: np.ndarray, labels: np.ndarray, mu_w: float,
                beta: float) -> np.ndarray:
    """Weights for an LFR topology: strength k^β, a fraction ``mu_w`` on external links."""
    degree = adjacency.sum(axis=1)
    strength = degree.astype(float) ** beta
    same = labels[:, None] == labels[None, :]
    internal = fit_strengths(adjacency * same, (1 - mu_w) * strength)
    external = fit_strengths(adjacency * ~same, mu_w * strength)
    return internal + external


def mixing(weights: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(topological μ_t, weight μ_w): mean over nodes of the external fraction of links and of
    strength."""
    same = labels[:, None] == labels[None, :]
    linked = weights > 0
    degree = linked.sum(axis=1)
    strength = weights.sum(axis=1)
    ok = degree > 0
    mu_t = np.mean((linked & ~same).sum(axis=1)[ok] / degree[ok])
    mu_w = np.mean((weights * ~same).sum(axis=1)[ok] / strength[ok])
    return float(mu_t), float(mu_w)


def is_degenerate(adjacency: np.ndarray, labels: np.ndarray) -> bool:
    """One community only, or no link between communities."""
    same = labels[:, None] == labels[None, :]
    return bool(np.unique(labels).size < 2 or not np.any((adjacency > 0) & ~same))


class _Timeout(Exception):
    pass


def _topology(setting: LFRSetting, seed: int, time_limit: float):
    """networkx LFR topology (adjacency, labels) or None when the generator fails."""
    import networkx as nx

    use_alarm = time_limit > 0 and threading.current_thread() is threading.main_thread()
    if use_alarm:
        def _raise(signum, frame):
            raise _Timeout

        previous = signal.signal(signal.SIGALRM, _raise)
        signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        graph = nx.LFR_benchmark_graph(
            N_NODES, TAU1, TAU2, setting.mu_t, average_degree=setting.average_degree,
            max_degree=MAX_DEGREE, min_community=setting.min_community,
            max_community=MAX_COMMUNITY, seed=seed, max_iters=200)
    except (_Timeout, nx.ExceededMaxIterations, nx.NetworkXError):
        return None
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    graph.remove_edges_from(nx.selfloop_edges(graph))
    adjacency = nx.to_numpy_array(graph, nodelist=range(N_NODES), weight=None)
    communities = {frozenset(graph.nodes[v]["community"]) for v in graph}
    labels = np.empty(N_NODES, dtype=np.int64)
    for k, members in enumerate(sorted(communities, key=min)):
        labels[list(members)] = k
    return adjacency, labels


def weighted_lfr(setting: LFRSetting, n_graphs: int = 10, *, time_limit: float = 3.0,
                 max_seeds: int = 500):
    """Valid weighted LFR graphs of one setting.

    Seeds ``setting.seed``, ``setting.seed + 1``, ... are tried in order; seeds whose
    topology fails, stalls beyond ``time_limit`` seconds or is degenerate are skipped (and
    counted).

    Returns
    -------
    graphs : list of dict with ``weights`` (N, N), ``labels`` (N,), ``seed``, ``mu_t``,
        ``mu_w`` (achieved mixing).
    skipped : dict counting ``failed`` and ``degenerate`` seeds.
    """
    graphs, skipped = [], {"failed": 0, "degenerate": 0}
    for seed in range(setting.seed, setting.seed + max_seeds):
        if len(graphs) == n_graphs:
            break
        topology = _topology(setting, seed, time_limit)
        if topology is None:
            skipped["failed"] += 1
            continue
        adjacency, labels = topology
        if is_degenerate(adjacency, labels):
            skipped["degenerate"] += 1
            continue
        weights = lfr_weights(adjacency, labels, setting.mu_w, setting.beta)
        mu_t, mu_w = mixing(weights, labels)
        graphs.append({"weights": weights, "labels": labels, "seed": seed, "mu_t": mu_t,
                       "mu_w": mu_w})
    if len(graphs) < n_graphs:
        raise RuntimeError(f"only {len(graphs)} valid LFR graphs for {setting} in "
                           f"{max_seeds} seeds ({skipped})")
    return graphs, skipped
