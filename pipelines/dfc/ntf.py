"""Non-negative CP decomposition (NTF) of a time x worm x pair tensor with missing entries.

Model: ``X[t, w, p] ~ sum_r A[t, r] B[w, r] C[p, r]``, all factors >= 0, fitted by
hierarchical alternating least squares (HALS, Cichocki & Phan 2009) as in tensortools
``ncp_hals``, but

* float32 and BLAS: each mode's MTTKRP is one matrix product on a reshaped view of the
  tensor (no unfolding copies), the reconstruction error comes from Gram matrices for free;
* batched random starts: several starts (even of different ranks, as in a rank sweep) are
  fitted together as one wide factorization with a block-diagonal Gram matrix, so the tensor
  is read once per mode for all of them; a start leaves the batch when it has converged;
* missing entries (neurons not recorded in a worm, worms shorter than others) are imputed
  EM-style from the current reconstruction each iteration (tensortools' ``mask`` semantics),
  and the error is measured on observed entries only.

Convergence: a start stops when its relative error ``||M*(X - Xhat)|| / ||M*X||`` improves by
less than ``tol`` per iteration on average over the last 10 iterations (the float32 error
estimate jitters by ~1e-6; one step is too noisy), after ``min_iter``, or at ``max_iter``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
from sklearn.base import BaseEstimator

from pipelines.common import get_logger

log = get_logger(__name__)

_EPS = np.float32(1e-12)
_ZERO = 1e-9  # unit-norm factor entries below this are at the HALS floor (1e-12): reported as 0
_CHUNK_ENTRIES = 1 << 22
_WINDOW = 10  # iterations over which the convergence criterion averages  # entries per reconstruction chunk of the EM imputation


@dataclass
class CPFit:
    """One fitted start.

    Attributes
    ----------
    factors : [time (T, R), worm (W, R), pair (P, R)] float32, unit-norm columns.
    weights : (R,) float64 component norms; ``weights[r] * outer(factors[:, r])`` is component r.
    error : (n_iter,) relative error (observed entries) after each iteration.
    objective : (n_iter,) ``sqrt((||M*(X - Xhat)||^2 + 2 sum_r ||a_r|| ||b_r|| sum_p l1_p c_pr
        + pooling sum_r ||a_r||^2 ||b_r - mean(b_r)||^2 ||c_r||^2) / ||M*X||^2)``, the
        penalised objective (the convergence criterion; ``l1_p`` from :func:`pair_penalty`);
        equals ``error`` without sparsity and pooling.
    converged : whether the tolerance was met before ``max_iter``.
    start : index of the random start (its seed is derived from the fit's seed and this).
    """

    factors: list[np.ndarray]
    weights: np.ndarray
    error: np.ndarray
    converged: bool
    start: int = 0
    objective: np.ndarray | None = None
    rank: int = field(init=False)

    def __post_init__(self):
        self.rank = int(self.weights.size)
        if self.objective is None:
            self.objective = self.error

    @property
    def final_error(self) -> float:
        return float(self.error[-1])

    @property
    def final_objective(self) -> float:
        """Relative error with the L1 penalty of a sparse fit (= ``final_error`` otherwise):
        what the fit minimises, so starts are compared on it."""
        return float(self.objective[-1])

    def to_cptensor(self):
        """The fit as a tensorly ``CPTensor`` (weights, factors)."""
        from tensorly.cp_tensor import CPTensor

        return CPTensor((self.weights.astype(np.float32), [f.copy() for f in self.factors]))

    def reconstruct(self) -> np.ndarray:
        """(T, W, P) float32 reconstruction."""
        a, b, c = self.factors
        return np.einsum("tr,wr,pr->twp", a * self.weights.astype(np.float32), b, c)


# ---------------------------------------------------------------------------------------------
# input checks


def prepare_tensor(tensor: np.ndarray, mask: np.ndarray | None = None,
                   rank: int | None = None,
                   free_modes=(0, 1, 2)) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a tensor for NTF; return (float32 C-contiguous data with 0 at missing entries,
    boolean mask or None when fully observed).

    Raises ValueError with the reason and the fix for: wrong shape, negative values, a worm,
    time point or pair with no observed entry (all-NaN), too few worms or time points or
    pairs for ``rank``, or fewer observed entries than free parameters. Only the
    ``free_modes`` (those to be fitted) must have an observed entry in every slice.
    """
    tensor = np.asarray(tensor)
    if tensor.ndim != 3:
        raise ValueError(f"NTF needs a 3-way (time, worm, pair) tensor, got shape {tensor.shape}")
    observed = np.isfinite(tensor)
    if mask is not None:
        if mask.shape != tensor.shape:
            raise ValueError(f"mask shape {mask.shape} differs from tensor shape {tensor.shape}")
        observed &= mask.astype(bool)
    data = np.where(observed, tensor, 0).astype(np.float32)
    if (data < 0).any():
        raise ValueError(f"NTF needs non-negative data; {int((data < 0).sum())} entries are < 0 "
                         "(clip or shift the affinities first)")
    for axis, name in enumerate(("time point", "worm", "pair")):
        if axis not in free_modes:
            continue
        empty = ~observed.any(axis=tuple(a for a in range(3) if a != axis))
        if empty.any():
            raise ValueError(
                f"{int(empty.sum())} {name}(s) of {tensor.shape[axis]} have no observed entry "
                f"(all-NaN, e.g. index {int(np.flatnonzero(empty)[0])}); drop them before the "
                "fit (build_tensor drops all-NaN pairs and time points)")
    if not data.any():
        raise ValueError("the tensor is all zero: nothing to factorize")
    if rank is not None:
        check_rank(tensor.shape, rank, int(observed.sum()))
    return data, (None if observed.all() else observed)


def check_rank(shape: tuple[int, int, int], rank: int, n_observed: int | None = None) -> None:
    """Raise ValueError if ``rank`` is larger than the data support: fewer than 2 worms,
    ``rank > min(T, P)``, or more free parameters than observed entries."""
    n_time, n_worms, n_pairs = shape
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    if n_worms < 2:
        raise ValueError(f"NTF needs at least 2 worms for a worm factor, got {n_worms}; "
                         "add worms or use a matrix factorization of one worm")
    if rank > min(n_time, n_pairs):
        raise ValueError(f"rank {rank} exceeds min(time points, pairs) = {min(n_time, n_pairs)} "
                         f"of the tensor {shape}: lower the rank or add neurons/time")
    n_params = rank * (n_time + n_worms + n_pairs)
    if n_observed is not None and n_observed < 2 * n_params:
        raise ValueError(f"rank {rank} has {n_params} parameters but only {n_observed} observed "
                         "entries (need >= 2x): lower the rank or add worms")


# ---------------------------------------------------------------------------------------------
# kernels


@numba.njit(cache=True)
def _hals_update(factor, mttkrp, gram, bounds, sweeps, l1, pooling):
    """In-place HALS column updates of ``factor`` (I, K) for independent blocks of columns.

    ``bounds`` (n_blocks + 1,) are the block column offsets; ``gram`` (K, K) is only read
    inside each block; ``l1`` (I,) >= 0 is an L1 penalty on each row's entries (a soft
    threshold of every update). ``pooling`` >= 0 (worm mode): each column's squared
    deviation from its mean over the rows costs ``pooling`` x the component's Gram
    (||a_r||^2 ||c_r||^2), i.e. ``pooling`` x the squared norm of the part of the component
    that differs between worms; the column mean is kept up to date, so every step is an
    exact coordinate minimisation and the penalised objective never increases. Serial: it
    costs I * K * R per sweep, small next to the MTTKRPs, and thread start-up dominates at
    these sizes on a loaded machine.
    """
    n_rows = factor.shape[0]
    shrink = 1.0 - 1.0 / n_rows
    for k in range(bounds.size - 1):
        lo, hi = bounds[k], bounds[k + 1]
        for _ in range(sweeps):
            for r in range(lo, hi):
                g = gram[r, r]
                if g <= 0.0:
                    continue
                mu = pooling * g
                total = 0.0
                for i in range(n_rows):
                    total += factor[i, r]
                for i in range(n_rows):
                    acc = mttkrp[i, r] - l1[i]
                    for q in range(lo, hi):
                        acc -= factor[i, q] * gram[q, r]
                    old = factor[i, r]
                    value = old + (acc - mu * (old - total / n_rows)) / (g + mu * shrink)
                    value = value if value > 1e-12 else 1e-12
                    factor[i, r] = value
                    total += value - old


@numba.njit(cache=True)
def _impute(data, mask, estimate, filled):
    """Copy ``estimate`` into ``filled`` where ``mask`` is False; return the squared error of
    ``estimate`` on observed entries. 2-D (rows, cols) views."""
    total = 0.0
    for i in range(data.shape[0]):
        total += _impute_row(data[i], mask[i], estimate[i], filled[i])
    return total


@numba.njit(cache=True, fastmath=True)
def _impute_row(data, mask, estimate, filled):
    total = 0.0
    for j in range(data.size):  # branch-free so that it vectorizes
        observed = mask[j]
        d = np.float64(data[j]) - np.float64(estimate[j])
        total += d * d * observed
        filled[j] = data[j] if observed else estimate[j]
    return total


def _khatri_rao(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Column-wise Khatri-Rao product: row ``i * len(v) + j`` is ``u[i] * v[j]``."""
    return (u[:, None, :] * v[None, :, :]).reshape(-1, u.shape[1])


def _mttkrp(data: np.ndarray, factors: list[np.ndarray], mode: int) -> np.ndarray:
    """Matricized tensor times Khatri-Rao product of the other two factors, (I_mode, K)."""
    n_time, n_worms, n_pairs = data.shape
    a, b, c = factors
    if mode == 0:
        return data.reshape(n_time, n_worms * n_pairs) @ _khatri_rao(b, c)
    if mode == 2:
        return data.reshape(n_time * n_worms, n_pairs).T @ _khatri_rao(a, b)
    partial = (data.reshape(n_time * n_worms, n_pairs) @ c).reshape(n_time, n_worms, -1)
    return np.einsum("twk,tk->wk", partial, a)


# ---------------------------------------------------------------------------------------------
# the fitting routine


def random_factors(shape, rank: int, rng: np.random.Generator, scale: float) -> list[np.ndarray]:
    """Uniform random non-negative factors whose reconstruction has norm ``scale``."""
    factors = [rng.random((n, rank), dtype=np.float32) for n in shape]
    norm = np.sqrt(_gram_product(factors).sum())
    factor_scale = np.float32((scale / max(norm, 1e-30)) ** (1 / 3))
    return [f * factor_scale for f in factors]


def _gram_product(factors, skip=None):
    out = None
    for n, f in enumerate(factors):
        if n != skip:
            g = f.T.astype(np.float64) @ f.astype(np.float64)
            out = g if out is None else out * g
    return out


def fit_ncp(tensor: np.ndarray, ranks, mask: np.ndarray | None = None, *, seed: int = 0,
            max_iter: int = 500, tol: float = 1e-5, min_iter: int = 5, sweeps: int = 3,
            init: list[list[np.ndarray]] | None = None, fixed_modes=(),
            check: bool = True, sparsity: float = 0.0, pooling: float = 0.0) -> list[CPFit]:
    """Fit one non-negative CP decomposition per entry of ``ranks`` (random starts batched).

    Parameters
    ----------
    tensor : (T, W, P) non-negative data; NaN entries are missing.
    ranks : int or sequence of ints, one start per entry (``[6] * 4`` gives 4 starts of
        rank 6; ``range(2, 11)`` a sweep with one start per rank).
    mask : optional (T, W, P) bool, True where observed (combined with ``isfinite``).
    seed : start ``k`` uses ``default_rng([seed, k])``.
    max_iter, tol, min_iter : stop a start when its relative error improves by less than
        ``tol`` per iteration, averaged over the last 10 iterations.
    sweeps : HALS sweeps over the columns per mode and iteration.
    init : optional initial factors per start (overrides the random init).
    fixed_modes : modes (0 time, 1 worm, 2 pair) kept at their initial values.
    sparsity : L1 penalty on the pair factor, in units of the root-mean-square observed
        entry (0: plain NTF). With time and worm columns at unit norm, a pair's loading is
        its projection on the component's (time x worm) pattern soft-thresholded at
        ``sparsity`` RMS entries, so ``sparsity`` ~ 2-3 keeps a pair only when its
        co-fluctuation stands out of entry-level noise by that many SDs; the rest are
        exactly 0. The threshold of a pair observed on a fraction f of its entries is
        scaled by sqrt(f) (see :func:`pair_penalty`), so that it stays a threshold in SDs
        of the noise of that pair's projection, whatever its coverage.
    pooling : partial pooling of the worm loadings (0: plain NTF): the part of each
        component that differs between worms, (a_r ⊗ (b_r − mean_w b_r) ⊗ c_r), costs
        ``pooling`` times its squared norm, so a component that one or two worms' own
        events would carry must explain that much more than it costs (1: a single-worm
        component gains only 1/W of what it explains). Scale-free (the same for any
        rescaling of the three factors).

    Returns
    -------
    list of :class:`CPFit`, in the order of ``ranks``.
    """
    ranks = [int(ranks)] if np.isscalar(ranks) else [int(r) for r in ranks]
    if check:
        data, observed = prepare_tensor(tensor, mask, max(ranks))
    else:  # already validated; missing entries must still be zero for the MTTKRPs
        data, observed = tensor, mask
        if observed is not None:
            data = np.where(observed, data, np.float32(0))
    norm = float(np.sqrt(np.sum(data.astype(np.float64) ** 2)))
    if sparsity < 0:
        raise ValueError(f"sparsity must be >= 0, got {sparsity}")
    if pooling < 0:
        raise ValueError(f"pooling must be >= 0, got {pooling}")
    pooling = float(pooling) * (1 not in fixed_modes)
    l1 = pair_penalty(data.shape, observed, sparsity * (2 not in fixed_modes), norm)
    if init is None:
        init = [random_factors(data.shape, r, np.random.default_rng([seed, k]), norm)
                for k, r in enumerate(ranks)]
    if observed is None:
        return _fit_batched(data, norm, ranks, init, max_iter, tol, min_iter, sweeps, fixed_modes,
                            l1=l1, pooling=pooling)
    fibres = observed.any(axis=0)
    if (observed == fibres[None]).all():  # whole (worm, pair) fibres missing: the fast path
        w_idx, p_idx = np.nonzero(~fibres)
        return _fit_batched(data, norm, ranks, init, max_iter, tol, min_iter, sweeps, fixed_modes,
                            missing=(w_idx.astype(np.int64), p_idx.astype(np.int64)), l1=l1,
                            pooling=pooling)
    log.info("NTF: irregular mask, fitting %d starts one by one with EM imputation", len(ranks))
    return [_fit_masked(data, observed, ranks[k], init[k], k, max_iter, tol, min_iter, sweeps,
                        fixed_modes, l1, pooling) for k in range(len(ranks))]


def refit_worm_loadings(tensor: np.ndarray, fit: CPFit, mask: np.ndarray | None = None,
                        **options) -> CPFit:
    """The worm loadings of ``fit`` refitted without pooling, time and pair factors fixed.

    Pooling (:func:`fit_ncp`) decides which components the data support; its shrinkage of
    the worm loadings towards their mean is a bias the reported loadings should not carry
    (as a relaxed lasso refits the selected variables). Warm-started from the pooled
    loadings; ``options`` as :func:`fit_ncp` (``max_iter``, ``tol``). The returned error
    trace is the pooled fit's followed by the refit's, so it ends at the returned factors.
    """
    init = [[fit.factors[0], (fit.factors[1] * fit.weights).astype(np.float32), fit.factors[2]]]
    refit = fit_ncp(tensor, [fit.rank], mask, init=init, fixed_modes=(0, 2), **options)[0]
    return CPFit([fit.factors[0], refit.factors[1], fit.factors[2]], refit.weights,
                 np.concatenate([fit.error, refit.error]), fit.converged and refit.converged,
                 fit.start, np.concatenate([fit.objective, refit.objective]))


def refit_pair_loadings(tensor: np.ndarray, fit: CPFit, mask: np.ndarray | None = None,
                        **options) -> np.ndarray:
    """The pair loadings of ``fit`` refitted without the L1 penalty, time and worm factors
    fixed: (P, R) float32, in the units of the fit's unit-norm pair factor.

    The sparse pair factor (``sparsity`` > 0) selects which pairs carry a component, but its
    soft threshold also subtracts a fixed amount from every kept loading, which distorts
    their proportions (no common scale undoes it); the refit is each pair's non-negative
    least-squares loading on the fixed (time x worm) patterns of all components jointly,
    over its observed entries (a relaxed lasso, as :func:`refit_worm_loadings` for the worm
    mode).
    Warm-started from the fit's pair factor; ``options`` as :func:`fit_ncp` (``max_iter``,
    ``tol``). Column r of the result times ``fit.weights[r]`` is the pair mode of component
    r with the fit's unit-norm time and worm columns.
    """
    amplitude = fit.weights.astype(np.float32)
    init = [[fit.factors[0], fit.factors[1] * amplitude, fit.factors[2]]]
    refit = fit_ncp(tensor, [fit.rank], mask, init=init, fixed_modes=(0, 1), **options)[0]
    scale = np.where(amplitude > 0, refit.weights / np.where(amplitude > 0, amplitude, 1), 0)
    return (refit.factors[2] * scale[None, :]).astype(np.float32)


def pair_penalty(shape, observed: np.ndarray | None, sparsity: float, norm: float) -> np.ndarray:
    """L1 weight of every pair (P,) float32: ``sparsity`` x RMS observed entry x sqrt(coverage).

    With unit-norm time and worm columns, a pair's loading is its inner product with the
    component's (time x worm) pattern over the pair's observed entries. Pure noise of SD s
    gives that inner product an SD of s * ||pattern on observed entries||, which is about
    s * sqrt(coverage) when worm loadings are alike (coverage: the fraction of the pair's
    entries observed). A threshold scaled by sqrt(coverage) is therefore the same z-score for
    every pair; a single threshold would drop pairs of neurons recorded in few worms
    (low coverage) far more often than others, and with them those neurons' edges. The
    weights depend on the mask only, so the penalised objective stays fixed during the fit.
    """
    n_time, n_worms, n_pairs = shape
    if sparsity <= 0:
        return np.zeros(n_pairs, np.float32)
    if observed is None:
        coverage = np.ones(n_pairs)
    else:
        coverage = observed.sum(axis=(0, 1), dtype=np.float64) / (n_time * n_worms)
    n_observed = n_time * n_worms * n_pairs if observed is None else int(observed.sum())
    rms = norm / np.sqrt(max(n_observed, 1))
    return (float(sparsity) * rms * np.sqrt(coverage)).astype(np.float32)


def _updates(data, factors, bounds, sweeps, fixed_modes, l1, pooling=0.0, missing=None):
    """One HALS pass over the free modes; returns (last mode, its MTTKRP of the data) for the
    error. With ``missing`` fibres, each MTTKRP gets the contribution of the current
    reconstruction on those fibres (EM imputation with the current factors, never
    materialised). ``l1`` (P,) is the L1 penalty of every pair (:func:`pair_penalty`): when
    any is > 0 the time and worm columns are scaled to unit norm before the pair update (the
    scale moves into the pair factor, the reconstruction is unchanged), so the penalty
    soft-thresholds each pair's projection on the component's unit-norm (time x worm)
    pattern. ``pooling`` > 0 shrinks the worm loadings towards their mean
    (:func:`_hals_update`); the same penalty is a ridge on the time and pair columns
    (:func:`_pooling_ridge`), so every update minimises the penalised objective."""
    mode, mttkrp = None, None
    block = _block_mask(bounds)
    sparse = bool(np.any(l1 > 0))
    for mode in (m for m in range(3) if m not in fixed_modes):
        penalty = l1 if mode == 2 else np.zeros(factors[mode].shape[0], np.float32)
        if mode == 2 and sparse:
            _normalize_into(factors, target=2)
        mttkrp = _mttkrp(data, factors, mode)
        gram = _gram_product(factors, skip=mode) * block
        if pooling > 0 and mode != 1:
            gram = gram + np.diag(_pooling_ridge(factors, mode, pooling))
        filled = mttkrp if missing is None else mttkrp + _missing_mttkrp(
            factors, mode, missing, bounds, block)
        _hals_update(factors[mode], filled, gram, bounds, sweeps, penalty,
                     pooling if mode == 1 else 0.0)
    return mode, mttkrp


def _worm_spread(worm):
    """(K,) ``||b_r - mean(b_r)||^2`` of every worm column, in float64."""
    worm = worm.astype(np.float64)
    return ((worm - worm.mean(axis=0)) ** 2).sum(axis=0)


def _pooling_ridge(factors, mode, pooling):
    """(K,) ridge on the time (mode 0) or pair (mode 2) columns from the pooling penalty
    ``pooling ||a_r||^2 ||b_r - mean(b_r)||^2 ||c_r||^2``, quadratic in either of them."""
    other = factors[2 - mode].astype(np.float64)
    return pooling * _worm_spread(factors[1]) * (other ** 2).sum(axis=0)


def _normalize_into(factors, target):
    """Scale every column of the other modes to unit norm, moving the scale into ``target``."""
    for mode, f in enumerate(factors):
        if mode != target:
            norms = np.maximum(np.linalg.norm(f, axis=0), 1e-30).astype(np.float32)
            f /= norms
            factors[target] *= norms


def _missing_mttkrp(factors, mode, missing, bounds, block):
    """MTTKRP of the reconstruction restricted to the missing (worm, pair) fibres, (I, K)."""
    a, b, c = factors
    w_idx, p_idx = missing
    if mode == 0:
        return (a.astype(np.float64) @ (_fibre_gram(b, c, w_idx, p_idx, bounds) * block)
                ).astype(np.float32)
    time_gram = (a.T.astype(np.float64) @ a.astype(np.float64)) * block
    if mode == 1:
        out = np.zeros(b.shape, np.float64)
        _fibre_mttkrp(b, c, time_gram, w_idx, p_idx, bounds, out)
    else:
        out = np.zeros(c.shape, np.float64)
        _fibre_mttkrp(c, b, time_gram, p_idx, w_idx, bounds, out)
    return out.astype(np.float32)


@numba.njit(cache=True)
def _fibre_gram(u, v, iu, iv, bounds):
    """sum_i z_i z_i^T within blocks, z_i = u[iu[i]] * v[iv[i]]: (K, K)."""
    width = u.shape[1]
    out = np.zeros((width, width))
    for i in range(iu.size):
        for k in range(bounds.size - 1):
            for s in range(bounds[k], bounds[k + 1]):
                zs = u[iu[i], s] * v[iv[i], s]
                for r in range(bounds[k], bounds[k + 1]):
                    out[s, r] += zs * u[iu[i], r] * v[iv[i], r]
    return out


@numba.njit(cache=True)
def _fibre_mttkrp(target, other, time_gram, i_target, i_other, bounds, out):
    """out[i_target[i], r] += sum_s target[., s] time_gram[s, r] other[., s] other[., r]."""
    for i in range(i_target.size):
        j, o = i_target[i], i_other[i]
        for k in range(bounds.size - 1):
            for r in range(bounds[k], bounds[k + 1]):
                acc = 0.0
                for s in range(bounds[k], bounds[k + 1]):
                    acc += target[j, s] * time_gram[s, r] * other[o, s]
                out[j, r] += acc * other[o, r]


def _block_mask(bounds):
    width = bounds[-1]
    block = np.zeros((width, width))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        block[lo:hi, lo:hi] = 1.0
    return block


def _rebalance(factors):
    """Give the three factors of every component the same column norm (numerical hygiene)."""
    norms = np.stack([np.linalg.norm(f, axis=0) for f in factors])
    norms = np.maximum(norms, 1e-30)
    target = np.prod(norms, axis=0) ** (1 / 3)
    for f, n in zip(factors, norms, strict=True):
        f *= (target / n).astype(np.float32)


def _objective(fit2, factors, l1, pooling, norm2):
    """Relative penalised objective (see :class:`CPFit`) from the squared residual ``fit2``;
    ``l1`` (P,) is the penalty of every pair, ``pooling`` the weight of the worm-deviation
    penalty."""
    if not np.any(l1 > 0) and pooling <= 0:
        return np.sqrt(max(fit2, 0.0) / norm2)
    a, b, c = (f.astype(np.float64) for f in factors)
    penalty = 2 * (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
                   * (l1.astype(np.float64) @ c)).sum()
    if pooling > 0:
        penalty += pooling * ((a ** 2).sum(axis=0) * (c ** 2).sum(axis=0)
                              * _worm_spread(b)).sum()
    return np.sqrt(max(fit2 + penalty, 0.0) / norm2)


def _finish(factors, error, converged, start, fixed_modes, objective=None):
    """Unit-norm columns and weights; components sorted by weight unless modes were fixed."""
    norms = np.stack([np.linalg.norm(f.astype(np.float64), axis=0) for f in factors])
    weights = np.prod(norms, axis=0)
    unit = [(f / np.maximum(n, 1e-30)).astype(np.float32) for f, n in zip(factors, norms, strict=True)]
    for u in unit:  # entries held at the positivity floor are exact zeros
        u[u < _ZERO] = 0.0
    order = np.argsort(-weights, kind="stable") if not fixed_modes else np.arange(weights.size)
    return CPFit([u[:, order] for u in unit], weights[order], np.asarray(error), converged, start,
                 None if objective is None else np.asarray(objective))


def _converged(errors, tol, window=_WINDOW):
    """Mean improvement per iteration over the last ``window`` iterations below ``tol``.

    A window, not the last step: the float32 error estimate jitters by ~1e-6, and stopping at
    the first jitter leaves fits stuck on slow stretches ("swamps") of HALS.
    """
    if len(errors) <= window:
        return False
    return (errors[-window - 1] - errors[-1]) / window < tol


def _fit_batched(data, norm, ranks, init, max_iter, tol, min_iter, sweeps, fixed_modes,
                 l1, pooling=0.0, missing=None):
    """All starts in one wide factorization, converged ones removed. Fully observed, or with
    whole (worm, pair) fibres ``missing`` = (worm indices, pair indices)."""
    active = list(range(len(ranks)))
    per_start = {k: [f.astype(np.float32).copy() for f in init[k]] for k in active}
    errors = {k: [] for k in active}
    objectives = {k: [] for k in active}
    results: dict[int, CPFit] = {}
    norm2 = norm**2
    for iteration in range(max_iter):
        bounds = np.concatenate([[0], np.cumsum([ranks[k] for k in active])]).astype(np.int64)
        factors = [np.ascontiguousarray(np.concatenate([per_start[k][m] for k in active], axis=1))
                   for m in range(3)]
        last_mode, last = _updates(data, factors, bounds, sweeps, fixed_modes, l1, pooling,
                                   missing)
        inner = (last.astype(np.float64) * factors[last_mode]).sum(axis=0)
        grams = _gram_product(factors)
        if missing is not None:  # ||M * Xhat||^2 = ||Xhat||^2 - ||Xhat on missing fibres||^2
            grams = grams - _fibre_gram(factors[1], factors[2], *missing, bounds) * (
                factors[0].T.astype(np.float64) @ factors[0].astype(np.float64))
        still = []
        for b, k in enumerate(active):
            lo, hi = bounds[b], bounds[b + 1]
            fit2 = norm2 - 2 * inner[lo:hi].sum() + grams[lo:hi, lo:hi].sum()
            errors[k].append(np.sqrt(max(fit2, 0.0) / norm2))
            per_start[k] = [f[:, lo:hi] for f in factors]
            objectives[k].append(_objective(fit2, per_start[k], l1, pooling, norm2))
            if not fixed_modes:
                _rebalance(per_start[k])
            done = iteration + 1 >= min_iter and _converged(objectives[k], tol)
            if done or iteration + 1 == max_iter:
                results[k] = _finish(per_start[k], errors[k], done, k, fixed_modes,
                                     objectives[k])
            else:
                still.append(k)
        active = still
        if not active:
            break
        if (iteration + 1) % 50 == 0:
            log.info("NTF iteration %d: %d of %d starts still running", iteration + 1,
                     len(active), len(ranks))
    return [results[k] for k in range(len(ranks))]


def _fit_masked(data, observed, rank, init, start, max_iter, tol, min_iter, sweeps, fixed_modes,
                l1, pooling=0.0):
    """Tensor with missing entries: EM imputation from the current reconstruction."""
    factors = [f.astype(np.float32).copy() for f in init]
    bounds = np.array([0, rank], dtype=np.int64)
    filled = data.copy()
    obs_norm2 = float(np.sum(data.astype(np.float64) ** 2))
    data2 = data.reshape(data.shape[0], -1)
    mask2 = observed.reshape(data.shape[0], -1)
    filled2 = filled.reshape(data.shape[0], -1)
    _reconstruct_and_impute(factors, data2, mask2, filled2)
    errors, objectives = [], []
    converged = False
    for iteration in range(max_iter):
        _updates(filled, factors, bounds, sweeps, fixed_modes, l1, pooling)
        if not fixed_modes:
            _rebalance(factors)
        sq = _reconstruct_and_impute(factors, data2, mask2, filled2)
        errors.append(np.sqrt(sq / obs_norm2))
        objectives.append(_objective(sq, factors, l1, pooling, obs_norm2))
        if iteration + 1 >= min_iter and _converged(objectives, tol):
            converged = True
            break
    return _finish(factors, errors, converged, start, fixed_modes, objectives)


def _reconstruct_and_impute(factors, data2, mask2, filled2):
    a, b, c = factors
    kr_t = np.ascontiguousarray(_khatri_rao(b, c).T)
    rows = max(1, _CHUNK_ENTRIES // max(kr_t.shape[1], 1))
    total = 0.0
    for lo in range(0, data2.shape[0], rows):
        estimate = a[lo:lo + rows] @ kr_t
        total += _impute(data2[lo:lo + rows], mask2[lo:lo + rows], estimate, filled2[lo:lo + rows])
    return total


# ---------------------------------------------------------------------------------------------
# scikit-learn style estimator


class NonNegativeCP(BaseEstimator):
    """Masked non-negative CP decomposition with several random starts (best one kept).

    ``fit(X)`` on a (time, worm, pair) tensor (NaN = missing) learns ``time_factor_`` (T, R),
    ``worm_factor_`` (W, R) and ``pair_factor_`` (P, R). Convention: time and pair factors
    have unit-norm columns and the worm factor carries each component's amplitude, so that
    ``transform`` (the atlas "mapping mode") gives comparable loadings for new worms:
    ``transform(X_new)`` fits only the worm loadings of new worms, (W_new, R), with the time
    and pair factors fixed.

    Parameters
    ----------
    rank : number of components.
    n_starts : random starts; the lowest final error wins.
    max_iter, tol, min_iter, sweeps, sparsity, pooling : see :func:`fit_ncp` (0: plain
        NTF; the workflow's defaults are 1).
    random_state : int seed.
    """

    def __init__(self, rank: int = 5, n_starts: int = 4, max_iter: int = 500, tol: float = 1e-5,
                 min_iter: int = 5, sweeps: int = 3, sparsity: float = 0.0,
                 pooling: float = 0.0, random_state: int = 0):
        self.rank = rank
        self.n_starts = n_starts
        self.max_iter = max_iter
        self.tol = tol
        self.min_iter = min_iter
        self.sweeps = sweeps
        self.sparsity = sparsity
        self.pooling = pooling
        self.random_state = random_state

    def _options(self):
        return dict(max_iter=self.max_iter, tol=self.tol, min_iter=self.min_iter,
                    sweeps=self.sweeps)

    def fit(self, X, y=None, mask=None):
        """Fit on ``X`` (T, W, P); ``mask`` optional (True = observed)."""
        if self.n_starts < 1:
            raise ValueError(f"n_starts must be >= 1, got {self.n_starts}")
        fits = fit_ncp(X, [self.rank] * self.n_starts, mask, seed=self.random_state,
                       sparsity=self.sparsity, pooling=self.pooling, **self._options())
        self.fits_ = sorted(fits, key=lambda f: f.final_objective)
        best = self.fits_[0]
        if self.pooling > 0:
            best = refit_worm_loadings(X, best, mask, **self._options())
        self.time_factor_, worm, self.pair_factor_ = best.factors
        self.worm_factor_ = (worm * best.weights).astype(np.float32)
        self.error_ = best.error
        self.cp_tensor_ = best.to_cptensor()
        log.info("NTF rank %d: best of %d starts, relative error %.4f after %d iterations",
                 self.rank, self.n_starts, best.final_error, best.error.size)
        return self

    def transform(self, X, mask=None):
        """Worm loadings (W_new, R) of new worms ``X`` (T, W_new, P), time and pair fixed."""
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[0] != self.time_factor_.shape[0] or \
                X.shape[2] != self.pair_factor_.shape[0]:
            raise ValueError(f"transform needs (time, worm, pair) = ("
                             f"{self.time_factor_.shape[0]}, W, {self.pair_factor_.shape[0]}), "
                             f"got {X.shape}")
        data, observed = prepare_tensor(X, mask, free_modes=(1,))
        rng = np.random.default_rng(self.random_state)
        scale = float(np.sqrt((data.astype(np.float64) ** 2).sum()))
        worm = random_factors((data.shape[1],), self.rank, rng, scale)[0]
        init = [[self.time_factor_.copy(), worm, self.pair_factor_.copy()]]
        fit = fit_ncp(data, [self.rank], observed, seed=self.random_state, init=init,
                      fixed_modes=(0, 2), check=False, **self._options())[0]
        # the fixed factors have unit columns, so the weights are the worm loadings' norms
        return (fit.factors[1] * fit.weights).astype(np.float32)

    def fit_transform(self, X, y=None, mask=None):
        return self.fit(X, mask=mask).worm_factor_

    def inverse_transform(self, worm_factor):
        """(T, W, P) reconstruction from worm loadings (W, R)."""
        return np.einsum("tr,wr,pr->twp", self.time_factor_, worm_factor, self.pair_factor_)
