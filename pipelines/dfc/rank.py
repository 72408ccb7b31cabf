"""Rank selection for the NTF: sweep, factor similarity across starts, a time-shifted null or
held-out error, and the flat "baseline" component.

Two rules (``selection``):

``null`` (default; parallel analysis, Horn 1965, for a time-locked CP): the same sweep is
fitted to a null tensor in which every worm's time axis is circularly shifted by its own
random lag. The null keeps each worm's own structure (its brain-state co-activations, the
noise floor, pair means) but nothing time-locked across worms, which is what a component of
a CP with a time mode shared by all worms is meant to capture. The selected rank maximises
the variance explained beyond the null, ``excess(r) = null_error(r)^2 - best_error(r)^2``
(squared relative errors of the best start): a further component is kept while it explains
more on the data than on the null, and single ranks whose best start was unlucky do not end
the sweep (the cumulative excess is robust to that; a first-failure rule is not). One null
draw (``null_draws``, default 1) gives no significance level; with several, the excess is
their mean, and only ranks whose excess exceeds 2 SDs of the draws are candidates (none: the
smallest rank). On noisy data (e.g. a
few planted communities among thousands of noise pairs: relative error > 0.9 at every rank)
the training error has no plateau, the held-out error is flat and random starts disagree, so
the ``heldout`` rule below falls back to the smallest rank; the null comparison still
separates shared structure from noise.

``both`` (default): the larger of the two ranks. Each rule misses structure of one kind: the
null rule undercounts when one component dominates the variance (the null, which conserves
each worm's variance, then has large gains at the next ranks; a dense random rank-3 CP
gives 2), the held-out rule undercounts weak motifs buried in worm-specific co-activation.

``heldout`` (reference spec ``dynamic-connectome.md`` §3): among the swept ranks keep the smallest R
whose best error is within ``plateau_tol`` (relative) of the lowest error of the sweep, whose
starts agree (mean similarity of every start to the best one >= ``min_similarity``), and whose
held-out error is within ``heldout_tol`` of the lowest held-out error. Held-out entries are
whole (worm, pair) fibres, so a held-out pair's time course in a worm must be predicted from
other worms and pairs, which is not possible by temporal interpolation. When no rank meets
all three, the fall-backs in order are: stable and predictive; on the plateau and stable;
predictive; on the plateau (the training error always falls with rank, so it is the weakest
evidence). The reason is reported.

A component whose three factors are all nearly constant (coefficient of variation below
``baseline_cv``) is the non-negative noise floor, not a motif: it is flagged, never presented
as a motif.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from pipelines.common import get_logger

from .ntf import CPFit, fit_ncp, prepare_tensor

log = get_logger(__name__)


SELECTIONS = ("both", "null", "heldout")


@dataclass(frozen=True)
class RankSettings:
    """Sweep and selection settings (config keys under ``dfc.ntf``)."""

    ranks: tuple[int, ...] = tuple(range(2, 11))
    n_starts: int = 4
    heldout_fraction: float = 0.1
    plateau_tol: float = 0.01
    min_similarity: float = 0.9
    heldout_tol: float = 0.01
    baseline_cv: float = 0.1
    max_iter: int = 500
    tol: float = 1e-5
    sparsity: float = 1.0
    pooling: float = 1.0
    selection: str = "both"
    null_draws: int = 1

    def __post_init__(self):
        if self.null_draws < 1:
            raise ValueError(f"null_draws must be >= 1, got {self.null_draws}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"rank selection '{self.selection}' is not one of {SELECTIONS}")


def factor_similarity(a: CPFit, b: CPFit) -> tuple[float, np.ndarray]:
    """Similarity of two CP fits as in tensortools ``kruskal_align``.

    Component similarity is the product over the three modes of the cosine between unit
    factor columns (in [0, 1] for non-negative factors); components are matched one-to-one by
    the Hungarian algorithm; the score is the mean matched similarity over the larger rank
    (unmatched components count 0).

    Returns
    -------
    score : float in [0, 1].
    match : (min(R_a, R_b), 2) int array of matched component indices (a, b).
    """
    sim = np.ones((a.rank, b.rank))
    for fa, fb in zip(a.factors, b.factors, strict=True):
        sim *= _unit(fa).T @ _unit(fb)
    rows, cols = linear_sum_assignment(-sim)
    return float(sim[rows, cols].sum() / max(a.rank, b.rank)), np.stack([rows, cols], axis=1)


def _unit(f: np.ndarray) -> np.ndarray:
    f = f.astype(np.float64)
    return f / np.maximum(np.linalg.norm(f, axis=0), 1e-30)


def factor_cv(fit: CPFit) -> np.ndarray:
    """(3, R) coefficient of variation (SD / mean) of each factor column."""
    return np.stack([f.std(axis=0) / np.maximum(f.mean(axis=0), 1e-30) for f in fit.factors])


def baseline_components(fit: CPFit, max_cv: float = 0.1) -> np.ndarray:
    """(R,) bool: components whose factors are nearly constant in all three modes."""
    return (factor_cv(fit) < max_cv).all(axis=0)


def effective_worms(fit: CPFit) -> np.ndarray:
    """(R,) participation ratio of each component's worm loadings, (Σ_w b_w²)² / Σ_w b_w⁴:
    W when every worm loads equally, 1 when a single worm carries the component.

    A component carried by one or two worms is an event of those worms (e.g. a brain-state
    episode of one animal that the shared time factor happens to fit), not a motif shared
    across the cohort.
    """
    energy = fit.factors[1].astype(np.float64) ** 2
    return energy.sum(axis=0) ** 2 / np.maximum((energy ** 2).sum(axis=0), 1e-300)


def heldout_fibres(observed: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """(W, P) bool: a random ``fraction`` of the observed (worm, pair) fibres, chosen so that
    every worm and every pair keeps at least one observed fibre."""
    fibres = observed.any(axis=0)
    candidates = np.argwhere(fibres)
    pick = rng.random(len(candidates)) < fraction
    held = np.zeros_like(fibres)
    held[tuple(candidates[pick].T)] = True
    for axis in (0, 1):  # give back fibres of worms/pairs that would lose all of theirs
        left = (fibres & ~held).any(axis=1 - axis)
        for k in np.flatnonzero(~left & fibres.any(axis=1 - axis)):
            index = (k, slice(None)) if axis == 0 else (slice(None), k)
            held[index] = False
    return held


def heldout_error(data: np.ndarray, held: np.ndarray, fit: CPFit) -> float:
    """Relative error of ``fit`` on held-out entries ``held`` (T, W, P) bool."""
    estimate = fit.reconstruct()
    residual = np.where(held, data - estimate, 0.0).astype(np.float64)
    target = np.where(held, data, 0.0).astype(np.float64)
    return float(np.sqrt((residual**2).sum() / max((target**2).sum(), 1e-30)))


def time_shift_null(data: np.ndarray, observed: np.ndarray | None,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Null tensor: every worm's time axis circularly shifted by its own random lag (between
    10% and 90% of the time points), mask shifted with it. Keeps each worm's own structure,
    destroys what is time-locked across worms."""
    shifted = np.empty_like(data)
    mask = None if observed is None else np.empty_like(observed)
    n_time = data.shape[0]
    for w in range(data.shape[1]):
        lag = int(rng.integers(max(1, n_time // 10), max(2, n_time - n_time // 10)))
        shifted[:, w] = np.roll(data[:, w], lag, axis=0)
        if observed is not None:
            mask[:, w] = np.roll(observed[:, w], lag, axis=0)
    return shifted, mask


def _best_by_rank(fits, plan, ranks):
    return {r: min((f for f, p in zip(fits, plan, strict=True) if p == r),
                   key=lambda f: f.final_objective) for r in ranks}


def rank_sweep(tensor: np.ndarray, settings: RankSettings = RankSettings(),
               mask: np.ndarray | None = None, seed: int = 0) -> tuple[xr.Dataset, dict[int, CPFit]]:
    """Fit every rank of ``settings.ranks`` with ``n_starts`` starts and collect the evidence.

    Parameters
    ----------
    tensor : (T, W, P) non-negative, NaN = missing.
    mask : optional (T, W, P) bool, True = observed.

    Returns
    -------
    evidence : Dataset on dims ``rank`` and ``start``: ``error`` (rank, start) final relative
        error of every start, ``n_iter`` (rank, start), ``best_error`` (rank),
        ``similarity`` (rank) mean similarity of the other starts to the best,
        ``n_baseline`` (rank) baseline components of the best fit; with the null rule
        ``null_error`` (rank) (best error on the time-shifted null, mean over draws) and
        ``excess`` (rank), with ``null_draws`` > 1 also ``excess_sd`` (rank);
        with the held-out rule ``heldout_error`` (rank) (NaN otherwise); attrs
        ``selected_rank``, ``reason``, ``selection``.
    best : rank -> best :class:`CPFit` on the full tensor.
    """
    ranks = sorted(set(int(r) for r in settings.ranks))
    data, observed = prepare_tensor(tensor, mask, max(ranks))
    options = dict(max_iter=settings.max_iter, tol=settings.tol, check=False,
                   sparsity=settings.sparsity, pooling=settings.pooling)
    use_null = settings.selection in ("null", "both")
    plan = [r for r in ranks for _ in range(settings.n_starts)]
    log.info("rank sweep: ranks %s x %d starts on a %s tensor", ranks, settings.n_starts,
             data.shape)
    fits = fit_ncp(data, plan, observed, seed=seed, **options)
    by_rank = {r: [f for f, p in zip(fits, plan, strict=True) if p == r] for r in ranks}
    best = _best_by_rank(fits, plan, ranks)
    variables = {}

    heldout = np.full(len(ranks), np.nan)
    if settings.selection in ("heldout", "both") and settings.heldout_fraction > 0:
        rng = np.random.default_rng([seed, 1])
        full = np.ones(data.shape, bool) if observed is None else observed
        held = heldout_fibres(full, settings.heldout_fraction, rng)[None] & full
        if held.any():
            # fresh random starts: warm-starting from the full fits would leak the held-out data
            train_fits = fit_ncp(data, plan, full & ~held, seed=seed + 7919, **options)
            train_best = _best_by_rank(train_fits, plan, ranks)
            heldout = np.array([heldout_error(data, held, train_best[r]) for r in ranks])
    if use_null:
        data_error = np.array([best[r].final_error for r in ranks])
        null_error = np.empty((settings.null_draws, len(ranks)))
        for draw in range(settings.null_draws):
            null_data, null_mask = time_shift_null(data, observed,
                                                   np.random.default_rng([seed, 3, draw]))
            null_best = _best_by_rank(fit_ncp(null_data, plan, null_mask,
                                              seed=seed + 7919 * (draw + 1), **options),
                                      plan, ranks)
            null_error[draw] = [null_best[r].final_error for r in ranks]
        excess = null_error ** 2 - data_error ** 2
        variables.update(null_error=("rank", null_error.mean(axis=0)),
                         excess=("rank", excess.mean(axis=0)))
        if settings.null_draws > 1:
            variables["excess_sd"] = ("rank", excess.std(axis=0, ddof=1))
    for k, r in enumerate(ranks):
        log.info("rank %d: best error %.4f, held-out error %.4f%s", r, best[r].final_error,
                 heldout[k], f", excess over the null {variables['excess'][1][k]:.5f}"
                 if variables else "")

    evidence = xr.Dataset(
        {
            "error": (("rank", "start"), [[f.final_error for f in by_rank[r]] for r in ranks]),
            "n_iter": (("rank", "start"), [[f.error.size for f in by_rank[r]] for r in ranks]),
            "best_error": ("rank", [best[r].final_error for r in ranks]),
            "similarity": ("rank", [_mean_similarity(best[r], by_rank[r]) for r in ranks]),
            "heldout_error": ("rank", heldout),
            "n_baseline": ("rank", [int(baseline_components(best[r], settings.baseline_cv).sum())
                                    for r in ranks]),
            **variables,
        },
        coords={"rank": ranks, "start": np.arange(settings.n_starts)},
    )
    selected, reason = select_rank(evidence, settings)
    evidence.attrs.update(selected_rank=selected, reason=reason, selection=settings.selection)
    log.info("rank selection: %d (%s)", selected, reason)
    return evidence, best


def _mean_similarity(best: CPFit, fits: list[CPFit]) -> float:
    others = [f for f in fits if f is not best]
    if not others:
        return np.nan
    return float(np.mean([factor_similarity(best, f)[0] for f in others]))


def select_rank(evidence: xr.Dataset, settings: RankSettings = RankSettings()) -> tuple[int, str]:
    """Apply the selection rule to sweep evidence; return (rank, human-readable reason)."""
    if settings.selection == "null":
        return select_rank_null(evidence)
    if settings.selection == "heldout":
        return select_rank_heldout(evidence, settings)
    (null_rank, null_why), (held_rank, held_why) = (select_rank_null(evidence),
                                                    select_rank_heldout(evidence, settings))
    return max(null_rank, held_rank), (f"larger of the time-shifted-null rank {null_rank} "
                                       f"({null_why}) and the held-out rank {held_rank} "
                                       f"({held_why})")


def select_rank_null(evidence: xr.Dataset) -> tuple[int, str]:
    """The rank of largest ``excess`` over the time-shifted null (module doc). With several
    null draws (``excess_sd``), only ranks whose excess is above 2 SDs of the draws count."""
    ranks = evidence["rank"].values
    excess = evidence["excess"].values
    spread = evidence["excess_sd"].values if "excess_sd" in evidence else np.zeros_like(excess)
    significant = excess > 2 * spread
    best = int(np.argmax(np.where(significant, excess, -np.inf)))
    if not significant.any():
        return int(ranks[0]), ("no rank explains more than on the time-shifted null"
                               + (" (by 2 SDs of the null draws)" if "excess_sd" in evidence
                                  else "") + ": nothing is time-locked across worms beyond "
                               "chance; the smallest rank is reported")
    why = (" (the largest swept rank: raise it)" if best == ranks.size - 1 else "")
    return int(ranks[best]), (f"largest variance explained beyond the time-shifted null "
                              f"({excess[best]:.4f}){why}")


def select_rank_heldout(evidence: xr.Dataset,
                        settings: RankSettings = RankSettings()) -> tuple[int, str]:
    """The plateau / similarity / held-out rule (module doc)."""
    ranks = evidence["rank"].values
    error = evidence["best_error"].values
    similarity = evidence["similarity"].values
    heldout = evidence["heldout_error"].values
    plateau = error <= error.min() * (1 + settings.plateau_tol)
    stable = ~(similarity < settings.min_similarity)  # NaN (one start) counts as stable
    if np.isfinite(heldout).any():
        predictive = heldout <= np.nanmin(heldout) * (1 + settings.heldout_tol)
    else:
        predictive = np.ones(ranks.size, bool)
    criteria = (f"error within {settings.plateau_tol:.0%} of the lowest ({error.min():.4f}), "
                f"similarity across starts >= {settings.min_similarity}, held-out error within "
                f"{settings.heldout_tol:.0%} of the lowest ({np.nanmin(heldout) if np.isfinite(heldout).any() else np.nan:.4f})")
    for ok, why in ((plateau & stable & predictive, "smallest rank meeting all criteria: "),
                    (stable & predictive, "no stable rank on the error plateau; smallest "
                     "stable rank with good held-out error: "),
                    (plateau & stable, "held-out criterion not met; smallest rank on the "
                     "error plateau with stable factors: "),
                    (predictive, "no rank had stable factors; smallest rank with good "
                     "held-out error: "),
                    (plateau, "smallest rank on the error plateau (held-out and similarity "
                     "criteria not met): ")):
        if ok.any():
            return int(ranks[np.flatnonzero(ok)[0]]), why + criteria
    return int(ranks[np.argmin(error)]), "lowest error"


def worm_bootstrap(tensor: np.ndarray, reference: CPFit, n_boot: int,
                   mask: np.ndarray | None = None, seed: int = 0,
                   **options) -> tuple[np.ndarray, np.ndarray]:
    """Pair factors refitted on worms resampled with replacement, aligned to ``reference``.

    Each resample gets one fresh random start of the reference's rank (no warm start, so the
    spread is not biased towards the reference); its components are matched to the
    reference's by :func:`factor_similarity` on the time and pair factors (the worm factor
    of a resample indexes other worms).

    Returns
    -------
    pair : (n_boot, R, P) unit-norm pair factors in the reference's component order.
    similarity : (n_boot,) time-and-pair similarity of each resample to the reference.
    """
    rng = np.random.default_rng([seed, 2])
    n_worms = tensor.shape[1]
    pair = np.zeros((n_boot, reference.rank, tensor.shape[2]), np.float32)
    similarity = np.zeros(n_boot)
    ref = CPFit([reference.factors[0], np.ones((1, reference.rank), np.float32),
                 reference.factors[2]], reference.weights, reference.error, True)
    for b in range(n_boot):
        worms = rng.choice(n_worms, n_worms, replace=True)
        sub_mask = None if mask is None else mask[:, worms]
        fit = fit_ncp(tensor[:, worms], [reference.rank], sub_mask, seed=seed + 104729 + b,
                      **options)[0]
        other = CPFit([fit.factors[0], np.ones((1, fit.rank), np.float32), fit.factors[2]],
                      fit.weights, fit.error, True)
        similarity[b], match = factor_similarity(ref, other)
        pair[b, match[:, 0]] = fit.factors[2][:, match[:, 1]].T
        log.info("worm bootstrap %d/%d: similarity to the reference %.3f", b + 1, n_boot,
                 similarity[b])
    return pair, similarity

