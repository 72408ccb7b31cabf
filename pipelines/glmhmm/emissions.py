"""Autoregressive observation models of the switching GLM (Gaussian and robust Student-t).

In state k, neuron i at frame t:

    y_{t,i} = d_{k,i} h_{t,i} + sum_{j != i} W_{k,ij} h_{t,j} + b_{k,i} + eps,
    eps ~ N(0, s_{k,i})  (or Student-t with ``dof`` degrees of freedom and scale s_{k,i}),

with the history h_t = sum_{l=1..L} phi_l y_{t-l} through one fixed exponential basis phi
(phi_l ∝ exp(-l), normalised; L = 1 gives h_t = y_{t-1}), as in the paper's code. With
``self_lags`` S > 1, each neuron's own past frames y_{t-2,i} .. y_{t-S,i} enter with free
per-state coefficients too (its own history as an AR(S) filter: calcium rise and decay, the
momentum of a change), so that the neuron's own kinetics are not mistaken for coupling. The
coefficients of one state are stored as ``coef[k, i] = [W_{k,i,:} with d_{k,i} on the
diagonal, b_{k,i}, e_{k,i,2..S}]`` (P = N + S columns): the diagonal (self term d), the bias
and the own-lag terms e sit outside the connection priors (see ``priors``).

Missing data (spec §8): a neuron not recorded in a worm adds 0 to that worm's log-likelihood
(``observed`` mask). Its *regressor* is mean-imputed: inputs are z-scored per worm and neuron
(``standardize``), so the unrecorded history is set to the mean, 0, and W_{:,j} is learned only
from the worms where j was recorded. To keep that imputation small, callers first keep only the
neurons recorded in most worms (``select_neurons``); the imputed fraction is logged. Frames where
any recorded neuron (or its history) is NaN are dropped whole, and logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from pipelines.common import get_logger

log = get_logger(__name__)

__all__ = [
    "Sequences",
    "history_basis",
    "prepare_sequences",
    "state_means",
    "log_likelihood",
    "student_weights",
    "Stats",
    "sufficient_stats",
    "standardize",
    "detrend",
    "select_neurons",
]


@dataclass(frozen=True)
class Sequences:
    """Padded batch of worms ready for fitting.

    Attributes
    ----------
    y : (B, T, N) float64, targets (0 where not observed).
    x : (B, T, N + 1) float64, regressors [h_t, 1] shared by every neuron (0 on invalid frames).
    observed : (B, T, N) bool, target observed (neuron recorded and frame valid).
    frames : (B, T) bool, valid frames (history available, no NaN among recorded neurons).
    recorded : (B, N) bool, neuron recorded in the worm.
    own : (B, T, N, S - 1) float64 or None, each neuron's own past y_{t-2} .. y_{t-S}
        (``self_lags`` S > 1), regressors of that neuron only.
    """

    y: np.ndarray
    x: np.ndarray
    observed: np.ndarray
    frames: np.ndarray
    recorded: np.ndarray
    own: np.ndarray | None = None

    @property
    def n_neurons(self) -> int:
        return self.y.shape[2]

    @property
    def n_observations(self) -> int:
        return int(self.observed.sum())

    @property
    def n_own(self) -> int:
        """Own-history regressors per neuron beyond lag 1 (S - 1)."""
        return 0 if self.own is None else self.own.shape[3]

    @property
    def n_coef(self) -> int:
        """Coefficients per (state, neuron): N + 1 + (S - 1)."""
        return self.x.shape[2] + self.n_own


def history_basis(lags: int) -> np.ndarray:
    """(L,) exponential history weights phi_l ∝ exp(-l), l = 1..L, summing to 1 (lag 1 first)."""
    if lags < 1:
        raise ValueError(f"lags must be >= 1, got {lags}")
    phi = np.exp(-np.arange(1, lags + 1, dtype=float))
    return phi / phi.sum()


def standardize(worms, train_frames=None):
    """Z-score each worm's neurons with statistics from its training frames only.

    Parameters
    ----------
    worms : list of (T_w, N) arrays, NaN where not recorded.
    train_frames : list of (T_w,) bool, optional
        Frames whose mean and SD define the scaling (default: all frames).

    Returns
    -------
    list of (T_w, N) float64 arrays (NaN kept), and the (W, N) means and SDs used.
    """
    out, means, sds = [], [], []
    for w, y in enumerate(worms):
        y = np.asarray(y, dtype=np.float64)
        sel = slice(None) if train_frames is None else np.asarray(train_frames[w], bool)
        with np.errstate(all="ignore"), _nan_warnings_off():
            mean = np.nanmean(y[sel], axis=0)
            sd = np.nanstd(y[sel], axis=0)
        sd = np.where(sd > 0, sd, np.nan)  # constant neurons are caught by prepare_sequences
        out.append((y - mean) / np.where(np.isnan(sd), 1.0, sd))
        means.append(mean)
        sds.append(sd)
    return out, np.array(means), np.array(sds)


def detrend(worms, degree: int):
    """Remove a polynomial trend in time from each worm's neurons (bleaching, slow drift).

    Parameters
    ----------
    worms : list of (T_w, N) arrays, NaN where not recorded.
    degree : int
        Polynomial degree in time (0: subtract the mean only; 1: a linear trend). The trend of
        each (worm, neuron) is a least-squares fit over its finite frames; NaN are kept.

    Returns
    -------
    list of (T_w, N) float64 arrays.
    """
    if degree < 0:
        raise ValueError(f"detrend degree must be >= 0, got {degree}")
    out = []
    for y in worms:
        y = np.asarray(y, dtype=np.float64)
        basis = np.vander(np.linspace(-1.0, 1.0, len(y)), degree + 1)  # (T, degree + 1)
        finite = np.isfinite(y)
        trend = np.zeros_like(y)
        for i in np.flatnonzero(finite.sum(axis=0) > degree + 1):
            ok = finite[:, i]
            coef, *_ = np.linalg.lstsq(basis[ok], y[ok, i], rcond=None)
            trend[:, i] = basis @ coef
        out.append(y - trend)
    return out


def select_neurons(recorded: np.ndarray, min_fraction: float) -> np.ndarray:
    """Indices of the neurons recorded in at least ``min_fraction`` of the worms.

    recorded : (W, N) bool. Raises ValueError when fewer than two neurons remain.
    """
    recorded = np.asarray(recorded, bool)
    keep = np.flatnonzero(recorded.mean(axis=0) >= min_fraction - 1e-12)
    if keep.size < 2:
        raise ValueError(
            f"only {keep.size} neuron(s) are recorded in >= {min_fraction:.0%} of the "
            f"{recorded.shape[0]} worms; lower glmhmm.min_worm_fraction or add worms"
        )
    return keep


class _nan_warnings_off:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def _check_worm(w, y, rec):
    finite = np.isfinite(y)
    all_nan = rec & ~finite.any(axis=0)
    if all_nan.any():
        raise ValueError(
            f"worm {w}: neuron(s) {np.flatnonzero(all_nan).tolist()} are marked recorded but all-NaN; "
            "mark them unrecorded (mask False) or drop them"
        )
    with _nan_warnings_off():
        sd = np.nanstd(np.where(finite, y, np.nan), axis=0)
    constant = rec & ~(sd > 1e-12 * np.maximum(1.0, np.nanmax(np.abs(np.where(finite, y, 0)), axis=0)))
    if constant.any():
        raise ValueError(
            f"worm {w}: neuron(s) {np.flatnonzero(constant).tolist()} are constant; a constant trace "
            "carries no dynamics: mark it unrecorded or drop it"
        )


def prepare_sequences(worms, recorded=None, lags: int = 1, for_fit: bool = True,
                      self_lags: int = 1) -> Sequences:
    """Build the padded regression batch from a list of worms.

    Parameters
    ----------
    worms : list of (T_w, N) arrays
        Z-scored activity, NaN where missing.
    recorded : list of (N,) bool or (W, N) bool, optional
        Neurons recorded in each worm (default: neurons with any finite value).
    lags : int
        History length L of the exponential basis.
    self_lags : int
        Own past frames S of each neuron with free coefficients (1: lag 1 only, through h_t).
    for_fit : bool
        Fitting needs every neuron recorded in some worm; scoring or decoding a few worms does
        not (a neuron none of them records simply adds nothing).

    Returns
    -------
    Sequences
    """
    if len(worms) == 0:
        raise ValueError("no worms given")
    worms = [np.asarray(y, dtype=np.float64) for y in worms]
    n_neurons = worms[0].shape[1]
    if any(y.ndim != 2 or y.shape[1] != n_neurons for y in worms):
        raise ValueError(f"every worm must be (time, {n_neurons}) with the same neurons")
    if recorded is None:
        recorded = [np.isfinite(y).any(axis=0) for y in worms]
    recorded = np.asarray(recorded, dtype=bool)
    if recorded.shape != (len(worms), n_neurons):
        raise ValueError(f"recorded must be ({len(worms)}, {n_neurons}), got {recorded.shape}")
    never = ~recorded.any(axis=0)
    if for_fit and never.any():
        raise ValueError(
            f"neuron(s) {np.flatnonzero(never).tolist()} are all-NaN in every worm; drop them "
            "(or raise glmhmm.min_worm_fraction)"
        )
    phi = history_basis(lags)
    if self_lags < 1:
        raise ValueError(f"self_lags must be >= 1, got {self_lags}")
    depth = max(lags, self_lags)  # frames of history a valid frame needs
    n_time = max(y.shape[0] for y in worms)
    n_seq = len(worms)
    y_out = np.zeros((n_seq, n_time, n_neurons))
    x_out = np.zeros((n_seq, n_time, n_neurons + 1))
    own = np.zeros((n_seq, n_time, n_neurons, self_lags - 1)) if self_lags > 1 else None
    frames = np.zeros((n_seq, n_time), dtype=bool)
    for w, y in enumerate(worms):
        rec = recorded[w]
        _check_worm(w, y, rec)
        length = y.shape[0]
        clean = np.where(rec, y, 0.0)  # unrecorded: mean-imputed regressor (z-scored data)
        bad = ~np.isfinite(clean).all(axis=1)
        ok = ~bad
        for lag in range(1, depth + 1):
            ok[lag:] &= ~bad[:-lag]
        ok[:depth] = False
        clean = np.where(np.isfinite(clean), clean, 0.0)
        hist = np.zeros_like(clean)
        for lag, weight in enumerate(phi, start=1):
            hist[lag:] += weight * clean[:-lag]
        frames[w, :length] = ok
        y_out[w, :length] = np.where(ok[:, None], clean, 0.0)
        x_out[w, :length, :n_neurons] = np.where(ok[:, None], hist, 0.0)
        x_out[w, :length, n_neurons] = ok
        for s in range(self_lags - 1):  # y_{t-2-s}
            lag = s + 2
            own[w, lag:length, :, s] = np.where(ok[lag:, None], clean[:-lag], 0.0)
        dropped = length - depth - ok.sum()
        if dropped > 0:
            log.info("worm %d: dropped %d of %d frames with NaN in recorded neurons", w, dropped, length)
    observed = frames[:, :, None] & recorded[:, None, :]
    imputed = 1.0 - recorded.mean()
    if imputed > 0:
        log.info("%.1f%% of regressor entries are mean-imputed (neurons not recorded in a worm)", 100 * imputed)
    return Sequences(y_out, x_out, observed, frames, recorded, own)


def state_means(coef: np.ndarray, x: np.ndarray, own: np.ndarray | None = None) -> np.ndarray:
    """Predicted means of every state: (B, T, K, N) from coef (K, N, P) and the regressors.

    x : (B, T, N + 1) shared regressors [h_t, 1]: one GEMM of (B·T, N + 1) × (N + 1, K·N).
    own : (B, T, N, S - 1) each neuron's own past frames (``Sequences.own``), or None.
    """
    n_seq, n_time, n_shared = x.shape
    n_states, n_neurons = coef.shape[:2]
    shared = np.ascontiguousarray(coef[:, :, :n_shared]).reshape(n_states * n_neurons, n_shared)
    flat = x.reshape(-1, n_shared) @ shared.T
    means = flat.reshape(n_seq, n_time, n_states, n_neurons)
    if own is not None:
        for s in range(own.shape[3]):  # broadcast multiply-adds: no (B, T, K, N, S) temporary
            means += own[:, :, None, :, s] * coef[:, :, n_shared + s]
    return means


def _standardized_sq(coef, noise, seq):
    """Squared standardised residuals r² = (y - mu)² / s, (B, T, K, N), 0 where unobserved."""
    resid = state_means(coef, seq.x, seq.own)
    np.subtract(seq.y[:, :, None], resid, out=resid)
    resid *= resid
    resid /= noise
    resid *= seq.observed[:, :, None]
    return resid


def log_likelihood(coef, noise, seq: Sequences, dof: float | None = None) -> np.ndarray:
    """Emission log-likelihood of every frame in every state, (B, T, K), nats.

    Sums over observed neurons; unobserved neurons and invalid frames add 0.
    ``dof=None`` is Gaussian, a number is Student-t with that many degrees of freedom.
    """
    sq = _standardized_sq(coef, noise, seq)
    obs = seq.observed.astype(float)
    if dof is None:
        const = np.einsum("btn,kn->btk", obs, np.log(2 * np.pi * noise))
        return -0.5 * (sq.sum(axis=3) + const)
    const = gammaln((dof + 1) / 2) - gammaln(dof / 2) - 0.5 * np.log(dof * np.pi)
    per = np.log1p(sq / dof).sum(axis=3) * (-(dof + 1) / 2)
    return per + np.einsum("btn,kn->btk", obs, const - 0.5 * np.log(noise))


def student_weights(coef, noise, seq: Sequences, dof: float) -> np.ndarray:
    """E[u | y, z=k] of the Student-t scale mixture, (B, T, K, N): (dof + 1) / (dof + r²)."""
    return (dof + 1.0) / (dof + _standardized_sq(coef, noise, seq))


@dataclass(frozen=True)
class Stats:
    """γ-weighted regression statistics per (state, neuron).

    Neurons with the same recording pattern across worms share one Gram matrix of the shared
    regressors x (P_x = N + 1): ``gram[k, pattern[i]]`` is Σ_t w x_t x_tᵀ for state k and
    neuron i. A neuron's own past frames o_{t,i} (S - 1 of them, ``self_lags``) add
    neuron-specific blocks ``own_x[k, i]`` = Σ w o x_ᵀ and ``own_own[k, i]`` = Σ w o oᵀ;
    :meth:`gram_of` assembles the full (P, P) matrix, P = P_x + S - 1.

    gram : (K, Q, P_x, P_x);  pattern : (N,) int into Q;  cross : (K, N, P) Σ w [x, o_i] y_i;
    yy : (K, N) Σ w y_i²;  count : (K, N) Σ γ over frames where neuron i is observed;
    own_x : (K, N, S - 1, P_x) or None;  own_own : (K, N, S - 1, S - 1) or None.
    """

    gram: np.ndarray
    pattern: np.ndarray
    cross: np.ndarray
    yy: np.ndarray
    count: np.ndarray
    own_x: np.ndarray | None = None
    own_own: np.ndarray | None = None

    def gram_of(self, k: int, i: int) -> np.ndarray:
        """Full (P, P) Gram matrix of state k and neuron i (a new array)."""
        shared = self.gram[k, self.pattern[i]]
        if self.own_x is None:
            return shared.copy()
        ox, oo = self.own_x[k, i], self.own_own[k, i]
        return np.block([[shared, ox.T], [ox, oo]])


def sufficient_stats(seq: Sequences, gamma: np.ndarray, weights: np.ndarray | None = None) -> Stats:
    """γ-weighted regression statistics (see ``Stats``).

    Parameters
    ----------
    seq : Sequences
    gamma : (B, T, K) posterior state probabilities.
    weights : (B, T, K, N), optional extra per-neuron weights (Student-t E[u]).
    """
    g = np.where(seq.frames[..., None], gamma, 0.0)  # (B, T, K)
    obs = seq.observed.astype(float)
    count = np.einsum("btk,btn->kn", g, obs)
    n_seq, n_time, n_coef = seq.x.shape
    n_states = g.shape[2]
    own_x = own_own = None
    if seq.n_own:
        own_x, own_own, own_y = _own_stats(seq, g, weights)
    if weights is None:
        # the observation pattern factorises into frames × recorded: one Gram per (worm, state),
        # summed over the worms that record each neuron
        patterns, pattern = np.unique(seq.recorded.T, axis=0, return_inverse=True)
        gram_w = np.empty((n_seq, n_states, n_coef, n_coef))
        cross = np.zeros((n_states, seq.n_neurons, n_coef))
        yy = np.zeros((n_states, seq.n_neurons))
        for b in range(n_seq):
            # one symmetric product (BLAS syrk) of z_t = [x_t, y_t] per state gives the Gram
            # (x x), cross (x y) and yy blocks together; y is already 0 where unobserved
            joint = np.concatenate([seq.x[b], seq.y[b]], axis=1)
            root = np.sqrt(g[b])
            for k in range(n_states):
                weighted = joint * root[:, k, None]
                moment = weighted.T @ weighted
                gram_w[b, k] = moment[:n_coef, :n_coef]
                cross[k] += moment[n_coef:, :n_coef]
                yy[k] += np.diagonal(moment)[n_coef:]
        gram = np.einsum("qb,bkpr->kqpr", patterns.astype(float), gram_w)
        pattern = pattern.ravel()
    else:
        w = g[..., None] * weights * obs[:, :, None]  # (B, T, K, N)
        gram = np.einsum("btkn,btp,btq->knpq", w, seq.x, seq.x, optimize=True)
        cross = np.einsum("btkn,btp,btn->knp", w, seq.x, seq.y, optimize=True)
        yy = np.einsum("btkn,btn->kn", w, seq.y**2)
        pattern = np.arange(seq.n_neurons)
    if own_x is not None:
        cross = np.concatenate([cross, own_y], axis=2)
    return Stats(gram, pattern, cross, yy, count, own_x, own_own)


def _own_stats(seq: Sequences, g: np.ndarray, weights: np.ndarray | None):
    """Neuron-specific blocks of the own past frames o (B, T, N, S'): Σ w o xᵀ (K, N, S', P_x),
    Σ w o oᵀ (K, N, S', S') and Σ w o y (K, N, S'), with w = γ (× Student-t weights).

    Own regressors are 0 where the neuron is not recorded and y is 0 where unobserved, so the
    sums run over the frames where the neuron is observed, as for the shared blocks. Gaussian
    emissions (w = γ_k × observed) need one GEMM per lag for each block; Student-t weights
    differ by state and neuron, so they loop over states.
    """
    n_states, n_neurons, n_own = g.shape[2], seq.n_neurons, seq.n_own
    obs = seq.observed.reshape(-1, n_neurons).astype(float)
    x_flat = seq.x.reshape(-1, seq.x.shape[2])
    y_flat = seq.y.reshape(-1, n_neurons)
    own = [seq.own[..., s].reshape(-1, n_neurons) for s in range(n_own)]
    g_flat = g.reshape(-1, n_states)
    own_x = np.empty((n_states, n_neurons, n_own, x_flat.shape[1]))
    own_own = np.empty((n_states, n_neurons, n_own, n_own))
    own_y = np.empty((n_states, n_neurons, n_own))
    if weights is None:
        for s in range(n_own):
            z = obs * own[s]  # (B·T, N)
            own_y[:, :, s] = g_flat.T @ (z * y_flat)
            for r in range(s, n_own):
                own_own[:, :, s, r] = own_own[:, :, r, s] = g_flat.T @ (z * own[r])
            weighted = (g_flat[:, :, None] * z[:, None, :]).reshape(len(z), -1)  # (B·T, K·N)
            own_x[:, :, s] = (weighted.T @ x_flat).reshape(n_states, n_neurons, -1)
        return own_x, own_own, own_y
    for k in range(n_states):
        w = g_flat[:, k, None] * obs * weights[:, :, k].reshape(-1, n_neurons)
        for s in range(n_own):
            z = w * own[s]
            own_x[k, :, s] = z.T @ x_flat
            own_y[k, :, s] = np.einsum("tn,tn->n", z, y_flat)
            for r in range(s, n_own):
                own_own[k, :, s, r] = own_own[k, :, r, s] = np.einsum("tn,tn->n", z, own[r])
    return own_x, own_own, own_y
