"""Weighted stochastic block model with minimum-description-length model selection.

A pip-only stand-in for graph-tool's nested weighted SBM (spec §4). For every block pair
(r, s) with ``n_rs`` node-pair slots, ``m_rs`` present edges (weight > 0) and total weight
``w_rs``:

* edge presence is Bernoulli(p_rs), p_rs ~ Beta(1, 1);
* present edge weights are Exponential(rate λ_rs), λ_rs ~ Gamma(shape 1, rate w̄) where w̄ is
  the graph's mean edge weight (graph-tool's empirical-Bayes default for ``real-exponential``);
  or (``weight_model="lognormal"``) log w ~ Normal(μ_rs, σ²_rs) with a Normal-inverse-gamma
  prior centred on the graph's mean log weight (graph-tool's ``real-normal`` on log weights).

All priors are conjugate, so the marginal likelihood is closed form; for the exponential::

    log P(A, w | b) = Σ_{r≤s} [ log B(m_rs + 1, n_rs − m_rs + 1)
                               + log w̄ + log Γ(m_rs + 1) − (m_rs + 1) log(w̄ + w_rs) ]

and the partition prior is Peixoto's (2017) nonparametric one::

    −log P(b) = log N + log C(N − 1, B − 1) + log N! − Σ_r log n_r!

The description length DL = −log P(A, w | b) − log P(b) (nats) is minimised over partitions
and over the number of blocks B: a spectral k-means over-partition, then agglomerative merges
down to one block with node-move sweeps at every stage, several restarts, no resolution
parameter. NaN weights mark unobserved pairs and are left out of the likelihood. Degree correction (optional) rescales
weights by node strengths, w_ij / (θ_i θ_j) with θ = s / mean(s); the Jacobian and a BIC cost
for θ enter the DL so corrected and uncorrected fits compare on one scale. The nested
hierarchy repeats the fit on the block graph (blocks of level l are the nodes of level l + 1,
with summed slots, edges and weights); each upper level is the best strictly coarser partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import lgamma, log

import numpy as np
from numba import njit
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from pipelines.common import get_logger

log_ = get_logger(__name__)

_MIN_GAIN = 1e-7  # nats: smaller DL improvements are treated as ties (no move)


@dataclass
class SBMFit:
    """Result of :func:`fit_sbm`.

    Attributes
    ----------
    labels : (N,) int
        Level-0 block of every node, relabelled 0..B−1 by decreasing block size.
    levels : list of (N,) int
        Partition of the N nodes at every hierarchy level (``levels[0] is labels``); the last
        level has one block unless ``max_levels`` stopped the hierarchy.
    description_length : list of float
        DL (nats) of the flat model at each level's partition; level 0 is the minimum.
    degree_corrected : bool
        Whether the selected fit corrects weights for node strength.
    weight_model : str
        The selected fit's weight distribution ("exponential" or "lognormal").
    restart_labels : list of (N,) int
        Level-0 partition of every restart (for consensus stability).
    restart_dl : list of float
    """

    labels: np.ndarray
    levels: list[np.ndarray]
    description_length: list[float]
    degree_corrected: bool
    weight_model: str = "exponential"
    restart_labels: list[np.ndarray] = field(default_factory=list)
    restart_dl: list[float] = field(default_factory=list)

    @property
    def n_blocks(self) -> int:
        return int(self.labels.max()) + 1


# ---------------------------------------------------------------------------------------------
# Scores (numba kernels). X is a (5, B, B) stack of block statistics: slots, edges, raw weight,
# and the weight model's sufficient statistics Σx, Σx² (x = w for the exponential model, log w
# for the log-normal one). The diagonal holds within-block totals (each unordered pair once).
# ``hyper`` is (model, h1, h2, h3, h4): model 0 exponential (h1 = rate prior w̄), model 1
# log-normal (Normal-inverse-gamma prior: mean h1, κ0 h2, α0 h3, β0 h4).

_N_STATS = 5
EXPONENTIAL, LOGNORMAL = 0, 1
WEIGHT_MODELS = {"exponential": EXPONENTIAL, "lognormal": LOGNORMAL}
_LOG_2PI = log(2.0 * np.pi)


@njit(cache=True)
def _weight_cost(m, s1, s2, hyper):
    """−log marginal likelihood of the m present weights of one block pair (nats, in x)."""
    if m <= 0.5:
        return 0.0
    if hyper[0] == EXPONENTIAL:
        beta = hyper[1]
        return -(log(beta) + lgamma(m + 1.0) - (m + 1.0) * log(beta + s1))
    mu0, kappa0, alpha0, beta0 = hyper[1], hyper[2], hyper[3], hyper[4]
    mean = s1 / m
    spread = s2 - s1 * mean
    if spread < 0.0:  # round-off
        spread = 0.0
    kappa = kappa0 + m
    alpha = alpha0 + 0.5 * m
    beta = beta0 + 0.5 * spread + 0.5 * kappa0 * m * (mean - mu0) ** 2 / kappa
    return -(lgamma(alpha) - lgamma(alpha0) + alpha0 * log(beta0) - alpha * log(beta)
             + 0.5 * log(kappa0 / kappa) - 0.5 * m * _LOG_2PI)


@njit(cache=True)
def _pair_cost(n, m, s1, s2, hyper):
    """−log marginal likelihood of one block pair (nats): link presence and weights."""
    if n <= 0.5:
        return 0.0
    topology = lgamma(m + 1.0) + lgamma(n - m + 1.0) - lgamma(n + 2.0)
    return _weight_cost(m, s1, s2, hyper) - topology


@njit(cache=True)
def _cost_at(X, r, s, hyper):
    return _pair_cost(X[0, r, s], X[1, r, s], X[3, r, s], X[4, r, s], hyper)


@njit(cache=True)
def _cost_shifted(X, r, s, d, sign, hyper):
    """Cost of block pair (r, s) with statistics X[:, r, s] + sign · d (d: (5,))."""
    return _pair_cost(X[0, r, s] + sign * d[0], X[1, r, s] + sign * d[1],
                      X[3, r, s] + sign * d[3], X[4, r, s] + sign * d[4], hyper)


@njit(cache=True)
def _log_binom(n, k):
    return lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0)


@njit(cache=True)
def _prior_count_terms(n_total, n_blocks):
    """Terms of −log P(b) that depend on B only."""
    return log(n_total) + _log_binom(n_total - 1.0, n_blocks - 1.0) + lgamma(n_total + 1.0)


@njit(cache=True)
def _total_dl(X, size, hyper):
    n_total = 0.0
    n_blocks = 0
    dl = 0.0
    cap = size.shape[0]
    for r in range(cap):
        if size[r] <= 0:
            continue
        n_total += size[r]
        n_blocks += 1
        dl -= lgamma(size[r] + 1.0)
        for s in range(r, cap):
            if size[s] > 0:
                dl += _cost_at(X, r, s, hyper)
    return dl + _prior_count_terms(n_total, n_blocks)


@njit(cache=True)
def _move_delta(X, size, n_blocks, n_total, hyper, r, s, k, self_stats, c_i):
    """DL change when a node (block-row sums ``k`` (5, B), internal ``self_stats`` (5,), size
    ``c_i``) moves from block r to block s."""
    cap = size.shape[0]
    old = 0.0
    new = 0.0
    for t in range(cap):
        if size[t] <= 0 or t == r or t == s:
            continue
        old += _cost_at(X, r, t, hyper) + _cost_at(X, s, t, hyper)
        new += _cost_shifted(X, r, t, k[:, t], -1.0, hyper)
        new += _cost_shifted(X, s, t, k[:, t], 1.0, hyper)
    old += _cost_at(X, r, r, hyper) + _cost_at(X, s, s, hyper) + _cost_at(X, r, s, hyper)
    new += _cost_shifted(X, r, r, k[:, r] + self_stats, -1.0, hyper)
    new += _cost_shifted(X, s, s, k[:, s] + self_stats, 1.0, hyper)
    new += _cost_shifted(X, r, s, k[:, r] - k[:, s], 1.0, hyper)
    prior = (lgamma(size[r] + 1.0) + lgamma(size[s] + 1.0)
             - lgamma(size[r] - c_i + 1.0) - lgamma(size[s] + c_i + 1.0))
    if size[r] - c_i <= 0:  # block r empties: B decreases
        prior += _prior_count_terms(n_total, n_blocks - 1) - _prior_count_terms(n_total, n_blocks)
    return new - old + prior


@njit(cache=True)
def _sweep(A, c, b, X, size, hyper, order):
    """One greedy node-move sweep in ``order``; updates b, X, size in place.

    A is the (5, n, n) node-level statistics (diagonal: within-node totals). Returns the
    number of moves and the total DL change.
    """
    cap = size.shape[0]
    n = A.shape[1]
    n_stats = A.shape[0]
    k = np.zeros((n_stats, cap))
    self_stats = np.zeros(n_stats)
    n_total = 0.0
    n_blocks = 0
    for t in range(cap):
        if size[t] > 0:
            n_total += size[t]
            n_blocks += 1
    moves = 0
    total = 0.0
    for i in order:
        r = b[i]
        k[:, :] = 0.0
        for j in range(n):
            if j != i:
                for q in range(n_stats):
                    k[q, b[j]] += A[q, i, j]
        for q in range(n_stats):
            self_stats[q] = A[q, i, i]
        best = -_MIN_GAIN
        best_s = -1
        for s in range(cap):
            if size[s] <= 0 or s == r:
                continue
            d = _move_delta(X, size, n_blocks, n_total, hyper, r, s, k, self_stats, c[i])
            if d < best:
                best = d
                best_s = s
        if best_s < 0:
            continue
        s = best_s
        for t in range(cap):
            if size[t] <= 0 or t == r or t == s:
                continue
            for q in range(n_stats):
                X[q, r, t] -= k[q, t]
                X[q, t, r] = X[q, r, t]
                X[q, s, t] += k[q, t]
                X[q, t, s] = X[q, s, t]
        for q in range(n_stats):
            rs = X[q, r, s] + k[q, r] - k[q, s]
            X[q, r, r] -= k[q, r] + self_stats[q]
            X[q, s, s] += k[q, s] + self_stats[q]
            X[q, r, s] = rs
            X[q, s, r] = rs
        size[r] -= c[i]
        size[s] += c[i]
        if size[r] <= 0:
            n_blocks -= 1
            for q in range(n_stats):
                X[q, r, :] = 0.0
                X[q, :, r] = 0.0
        b[i] = s
        moves += 1
        total += best
    return moves, total


@njit(cache=True)
def _merge_deltas(X, size, hyper, candidates):
    """Best merge partner of every block among ``candidates`` (B, K; −1 = none).

    Returns (partner (B,), delta (B,)); delta = +inf where a block has no candidate.
    """
    cap = size.shape[0]
    n_total = 0.0
    n_blocks = 0
    for t in range(cap):
        if size[t] > 0:
            n_total += size[t]
            n_blocks += 1
    count_change = _prior_count_terms(n_total, n_blocks - 1) - _prior_count_terms(n_total, n_blocks)
    partner = np.full(cap, -1)
    delta = np.full(cap, np.inf)
    for r in range(cap):
        if size[r] <= 0:
            continue
        for ci in range(candidates.shape[1]):
            s = candidates[r, ci]
            if s < 0 or s == r or size[s] <= 0:
                continue
            old = 0.0
            new = 0.0
            for t in range(cap):
                if size[t] <= 0 or t == r or t == s:
                    continue
                old += _cost_at(X, r, t, hyper) + _cost_at(X, s, t, hyper)
                new += _cost_shifted(X, r, t, X[:, s, t], 1.0, hyper)
            old += _cost_at(X, r, r, hyper) + _cost_at(X, s, s, hyper) + _cost_at(X, r, s, hyper)
            new += _cost_shifted(X, r, r, X[:, s, s] + X[:, r, s], 1.0, hyper)
            prior = (lgamma(size[r] + 1.0) + lgamma(size[s] + 1.0)
                     - lgamma(size[r] + size[s] + 1.0) + count_change)
            d = new - old + prior
            if d < delta[r]:
                delta[r] = d
                partner[r] = s
    return partner, delta


# ---------------------------------------------------------------------------------------------
# Python drivers


def block_statistics(A: np.ndarray, labels: np.ndarray, n_blocks: int) -> np.ndarray:
    """Block statistics (5, B, B) from node statistics A (5, n, n) and labels (n,).

    Off-diagonal entries sum over node pairs across two blocks; the diagonal sums every
    unordered pair inside a block once, plus the nodes' own internal totals.
    """
    return _block_statistics(A, np.asarray(labels, dtype=np.int64), n_blocks)


@njit(cache=True)
def _block_statistics(A, labels, n_blocks):
    n_stats = A.shape[0]
    X = np.zeros((n_stats, n_blocks, n_blocks))
    n = A.shape[1]
    for i in range(n):
        r = labels[i]
        for q in range(n_stats):
            X[q, r, r] += A[q, i, i]
        for j in range(i + 1, n):
            s = labels[j]
            for q in range(n_stats):
                X[q, r, s] += A[q, i, j]
                if r != s:
                    X[q, s, r] += A[q, i, j]
    return X


def node_statistics(weights: np.ndarray, weight_model: str = "exponential") -> np.ndarray:
    """Level-0 statistics (5, N, N): slots (1 for an observed pair off the diagonal, 0 for
    NaN = unobserved), edges (w > 0), weights, and the weight model's Σx, Σx² per pair (x = w,
    or log w for the log-normal model; 0 where there is no edge)."""
    weights = np.asarray(weights, dtype=float)
    observed = np.isfinite(weights) & ~np.eye(weights.shape[0], dtype=bool)
    values = np.where(observed, weights, 0.0)
    edges = values > 0
    if weight_model == "lognormal":
        x = np.where(edges, np.log(np.where(edges, values, 1.0)), 0.0)
    else:
        x = values
    return np.stack([observed.astype(float), edges.astype(float), values, x, x * x])


def description_length(weights: np.ndarray, labels: np.ndarray,
                       degree_corrected: bool = False, weight_model: str = "exponential") -> float:
    """DL (nats) of ``labels`` on the weighted graph ``weights`` (N, N, symmetric, ≥ 0)."""
    _check_weight_model(weight_model)
    A, extra = _prepare(_validate(weights), degree_corrected, weight_model)
    labels = _relabel(np.asarray(labels))
    X = block_statistics(A, labels, labels.max() + 1)
    size = np.bincount(labels).astype(float)
    return float(_total_dl(X, size, _hyper(A, weight_model)) + extra)


def _check_weight_model(weight_model: str) -> None:
    if weight_model not in WEIGHT_MODELS:
        raise ValueError(f"weight_model must be one of {sorted(WEIGHT_MODELS)}, got {weight_model!r}")


def _validate(weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights must be a square (N, N) matrix, got shape {weights.shape}")
    if weights.shape[0] < 2:
        raise ValueError("need at least 2 nodes")
    if np.any(np.isinf(weights)):
        raise ValueError("weights contain inf")
    observed = np.isfinite(weights)
    if not np.array_equal(observed, observed.T):
        raise ValueError("weights must be symmetric (an undirected graph): NaN pattern differs")
    values = np.where(observed, weights, 0.0)
    if np.any(values < 0):
        raise ValueError("weights must be non-negative (the SBM models positive edge weights)")
    if not np.allclose(values, values.T, rtol=1e-6, atol=1e-12):
        raise ValueError("weights must be symmetric (an undirected graph)")
    if not np.any(values > 0):
        raise ValueError("the graph has no edges (all weights are 0 or NaN)")
    return weights


def _prepare(weights: np.ndarray, degree_corrected: bool,
             weight_model: str = "exponential") -> tuple[np.ndarray, float]:
    """Node statistics and the DL offset of the (optionally degree-corrected) data.

    The offset makes every variant's DL the code length of the same data, the weights w:
    the log-normal model scores x = log w (Jacobian Σ log w over edges); degree correction
    scores w / (θ_i θ_j) (Jacobian Σ log θ_i θ_j for the exponential model) and pays a BIC cost
    for θ.
    """
    offset = 0.0
    if degree_corrected:
        strength = np.where(np.isfinite(weights), weights, 0.0).sum(axis=1)
        theta = np.where(strength > 0, strength / strength[strength > 0].mean(), 1.0)
        scale = np.outer(theta, theta)
        corrected = weights / scale
        A = node_statistics(corrected, weight_model)
        edges = np.triu(A[1], 1) > 0
        if weight_model == "exponential":
            offset += float(np.log(scale[edges]).sum())
        offset += 0.5 * (weights.shape[0] - 1) * np.log(max(int(edges.sum()), 2))
        A[2] = np.where(np.isfinite(weights) & (A[0] > 0), weights, 0.0)  # raw weights
    else:
        A = node_statistics(weights, weight_model)
    if weight_model == "lognormal":
        edges = np.triu(A[1], 1) > 0
        offset += float(np.log(np.where(edges, A[2], 1.0)).sum())
    return A, offset


def _hyper(A: np.ndarray, weight_model: str) -> np.ndarray:
    """Empirical-Bayes prior of the weight model from the present edges (scale-free: the
    exponential rate prior has the mean weight w̄, graph-tool's default for real-exponential;
    the log-normal's Normal-inverse-gamma prior is centred on the mean log weight with the
    spread of the log weights and one pseudo-observation)."""
    n_edges = A[1].sum()
    if weight_model == "exponential":
        return np.array([EXPONENTIAL, A[3].sum() / n_edges, 0.0, 0.0, 0.0])
    mean = A[3].sum() / n_edges
    variance = max(A[4].sum() / n_edges - mean**2, 1e-12)
    return np.array([LOGNORMAL, mean, 1.0, 1.0, variance])


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Labels 0..B−1 ordered by decreasing block size (ties: first occurrence)."""
    _, first, inverse, counts = np.unique(labels, return_index=True, return_inverse=True,
                                          return_counts=True)
    order = np.lexsort((first, -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.ravel()]


def _candidates(X: np.ndarray, size: np.ndarray, rng, k: int) -> np.ndarray:
    """Merge candidates per block: all active blocks when few, else the k most strongly
    connected (mean weight per slot) plus k random ones."""
    active = np.flatnonzero(size > 0)
    cap = size.size
    if active.size <= 2 * k + 1:
        cand = np.full((cap, active.size), -1, dtype=np.int64)
        cand[active] = active
        return cand
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(X[0] > 0, X[2] / X[0], 0.0)[np.ix_(active, active)]
    np.fill_diagonal(rate, -np.inf)
    top = np.argpartition(-rate, k, axis=1)[:, :k]
    random = rng.integers(0, active.size, size=(active.size, k))
    cand = np.full((cap, 2 * k), -1, dtype=np.int64)
    cand[active] = active[np.concatenate([top, random], axis=1)]
    return cand


def _select_merges(partner, delta, n_merges):
    """Greedy non-overlapping merges (r → partner[r]) in order of increasing DL change."""
    used = set()
    merges = []
    for r in np.argsort(delta, kind="stable"):
        if len(merges) >= n_merges or not np.isfinite(delta[r]):
            break
        s = partner[r]
        if r in used or s in used:
            continue
        used.update((r, s))
        merges.append((r, s))
    return merges


def _run_sweeps(A, c, b, X, size, hyper, rng, max_sweeps):
    for _ in range(max_sweeps):
        moves, _ = _sweep(A, c, b, X, size, hyper, rng.permutation(b.size))
        if moves == 0:
            break


def _next_target(n_blocks: int, ratio: float, fine_below: int) -> int:
    if n_blocks <= fine_below:
        return n_blocks - 1
    return max(fine_below, int(np.ceil(n_blocks / ratio)))


def _state(A, c, labels):
    """Relabelled labels with their block statistics and sizes."""
    labels = _relabel(labels).astype(np.int64)
    n_blocks = int(labels.max()) + 1
    return labels, block_statistics(A, labels, n_blocks), np.bincount(labels, weights=c).astype(float)


def _spectral_embedding(A, n_dims):
    """Rows of the top-|eigenvalue| eigenvectors of the normalised mean-weight matrix, scaled
    by |eigenvalue| so that noise directions shrink."""
    weights = A[2] / np.maximum(A[0], 1.0)  # mean weight per slot
    np.fill_diagonal(weights, 0.0)
    strength = weights.sum(axis=1)
    scale = np.divide(1.0, np.sqrt(strength), out=np.zeros_like(strength), where=strength > 0)
    values, vectors = np.linalg.eigh(weights * np.outer(scale, scale))
    top = np.argsort(-np.abs(values))[:n_dims]
    return vectors[:, top] * np.abs(values[top])


def _initial_partition(embedding, rng, n_blocks):
    """Over-partition into ``n_blocks`` by k-means on the spectral embedding.

    Starting above singletons matters on dense noisy graphs: merging singletons judges a pair
    of nodes by one noisy weight, while the embedding pools every weight of a node.
    """
    n = embedding.shape[0]
    if n <= n_blocks:
        return np.arange(n, dtype=np.int64)
    return KMeans(n_clusters=n_blocks, n_init=1,
                  random_state=int(rng.integers(2**31 - 1))).fit_predict(embedding).astype(np.int64)


def _agglomerate(A, c, rng, embedding, hyper, *, ratio, fine_below, candidates_k, max_sweeps,
                 initial_blocks):
    """From an over-partition merge down to one block, with node-move sweeps at every
    stage; return {B: (labels, DL)}."""
    b, X, size = _state(A, c, _initial_partition(embedding, rng, initial_blocks))
    stages = {}
    while True:
        _run_sweeps(A, c, b, X, size, hyper, rng, max_sweeps)
        b, X, size = _state(A, c, b)
        n_blocks = size.size
        dl = float(_total_dl(X, size, hyper))
        if n_blocks not in stages or dl < stages[n_blocks][1]:
            stages[n_blocks] = (b.copy(), dl)
        if n_blocks == 1:
            return stages
        target = _next_target(n_blocks, ratio, fine_below)
        while n_blocks > target:
            partner, delta = _merge_deltas(X, size, hyper, _candidates(X, size, rng, candidates_k))
            merges = _select_merges(partner, delta, n_blocks - target)
            for r, s in merges:
                b[b == r] = s
            b, X, size = _state(A, c, b)
            n_blocks = size.size


def _best_partition(A, c, rng, restarts, max_blocks, options, hyper):
    """Best (labels, DL) over restarts with B ≤ max_blocks, plus every restart's best."""
    embedding = _spectral_embedding(A, options["initial_blocks"])
    results = []
    for _ in range(restarts):
        stages = _agglomerate(A, c, rng, embedding, hyper, **options)
        allowed = {B: v for B, v in stages.items() if B <= max_blocks}
        B = min(allowed, key=lambda key: allowed[key][1])
        # sweeps only empty blocks, never create them, so B stays ≤ max_blocks
        b, X, size = _state(A, c, allowed[B][0])
        _run_sweeps(A, c, b, X, size, hyper, rng, 4 * options["max_sweeps"])
        b, X, size = _state(A, c, b)
        results.append((b, float(_total_dl(X, size, hyper))))
    best = min(range(len(results)), key=lambda i: results[i][1])
    return results[best], results


def fit_sbm(
    weights: np.ndarray,
    *,
    degree_corrected: bool | str = False,
    weight_model: str = "exponential",
    restarts: int = 10,
    nested: bool = True,
    max_levels: int = 10,
    seed: int = 0,
    merge_ratio: float = 1.3,
    fine_below: int = 12,
    candidates: int = 10,
    max_sweeps: int = 5,
    initial_blocks: int | None = None,
) -> SBMFit:
    """Fit the weighted SBM by minimum description length.

    Parameters
    ----------
    weights : (N, N) float
        Symmetric non-negative edge weights (0 = no edge; NaN = pair not observed, left out
        of the likelihood; the diagonal is ignored).
    degree_corrected : bool or "auto"
        Correct weights for node strength; "auto" fits both and keeps the smaller DL (the
        paper's rule). Off by default: the global strength correction also removes block
        contrast (a small strong community raises its members' strengths), and on NTF pair
        graphs it won the DL comparison while losing the planted communities
        (docs/dfc_communities.md).
    weight_model : {"exponential", "lognormal", "auto"}
        Distribution of the present weights within a block pair: exponential (graph-tool's
        ``real-exponential``, the paper's choice), log-normal (a normal model of log w with a
        Normal-inverse-gamma prior, graph-tool's ``real-normal`` on log weights: block pairs
        differ in typical weight *and* spread, so a few tight strong weights weigh as much as
        many diffuse weak ones), or "auto": fit both and keep the smaller DL (both are code
        lengths of the same weights).
    restarts : int
        Independent agglomeration runs; the smallest DL wins.
    nested : bool
        Build the hierarchy above the DL-selected level.
    seed : int
        Seed of ``numpy.random.default_rng``; results are deterministic given it.
    merge_ratio, fine_below, candidates, max_sweeps, initial_blocks
        Optimiser schedule: start from ``initial_blocks`` spectral k-means blocks (default
        max(10, 2√N)), shrink by ``merge_ratio`` per stage and by one below ``fine_below``;
        ``candidates`` strongest + random merge partners per block; at most ``max_sweeps``
        node-move sweeps per stage.

    Returns
    -------
    SBMFit
    """
    weights = _validate(weights)
    if restarts < 1:
        raise ValueError("restarts must be ≥ 1")
    if degree_corrected not in (True, False, "auto"):
        raise ValueError("degree_corrected must be true, false or 'auto'")
    if weight_model != "auto":
        _check_weight_model(weight_model)
    options = dict(ratio=merge_ratio, fine_below=fine_below, candidates_k=candidates,
                   max_sweeps=max_sweeps,
                   initial_blocks=initial_blocks or max(10, int(np.ceil(2 * np.sqrt(len(weights))))))
    corrections = [False, True] if degree_corrected == "auto" else [bool(degree_corrected)]
    models = list(WEIGHT_MODELS) if weight_model == "auto" else [weight_model]
    variants = [(dc, model) for model in models for dc in corrections]
    with threadpool_limits(1):  # tiny dense algebra: threads only contend on shared CPUs
        return _fit(weights, variants, restarts, nested, max_levels, seed, options)


def _fit(weights, variants, restarts, nested, max_levels, seed, options):
    fits = []
    for dc, model in variants:
        rng = np.random.default_rng([seed, int(dc)])
        A, extra = _prepare(weights, dc, model)
        hyper = _hyper(A, model)
        c = np.ones(A.shape[1])
        (labels, dl), runs = _best_partition(A, c, rng, restarts, A.shape[1], options, hyper)
        fits.append((dl + extra, dc, model, labels, A, hyper, extra, runs, rng))
    dl, dc, model, labels, A, hyper, extra, runs, rng = min(fits, key=lambda f: f[0])
    levels, dls = [labels], [dl]
    if nested:
        levels, dls = _hierarchy(A, hyper, labels, dl, extra, rng, restarts, max_levels, options)
    log_.debug("SBM: N=%d B=%d DL=%.1f dc=%s weights=%s levels=%d", weights.shape[0],
               labels.max() + 1, dl, dc, model, len(levels))
    return SBMFit(labels=labels, levels=levels, description_length=dls, degree_corrected=dc,
                  weight_model=model, restart_labels=[r[0] for r in runs],
                  restart_dl=[r[1] + extra for r in runs])


def _hierarchy(A, hyper, labels, dl, extra, rng, restarts, max_levels, options):
    """Levels above ``labels``: each the best strictly coarser partition of the one below."""
    levels, dls = [labels], [dl]
    current = labels
    while current.max() > 0 and len(levels) < max_levels:
        n_blocks = int(current.max()) + 1
        block_A = block_statistics(A, current, n_blocks)
        c = np.bincount(current).astype(float)
        (upper, upper_dl), _ = _best_partition(block_A, c, rng, max(1, restarts // 2),
                                               n_blocks - 1, options, hyper)
        current = _relabel(upper[current])
        levels.append(current)
        dls.append(upper_dl + extra)
    return levels, dls
