"""Bernoulli and Poisson GLM emissions for spike counts, with the one-hot HMM-GLM priors.

Model (Li et al., ICLR 2024; spec ``switching-glm.md`` §1): in state s neuron n fires with
rate ``sigmoid(b[s, n] + sum_m W[s, n, m] h[t, m])`` where ``h`` is every neuron's spike history
filtered by one fixed 5-lag exponential basis (lag 1 first, sums to 1). Counts are Bernoulli
or Poisson (rate <= 1, as in the authors' code).

Priors on the per-state coupling ``W`` (state, post, pre):

- ``"none"``: plain HMM-GLM (maximum likelihood);
- ``"gaussian"``: ``W[s] ~ N(W0, prior_sd^2)`` elementwise with a learnable state-shared mean
  ``W0`` (closed-form update: the mean of ``W`` over states);
- ``"onehot"``: each connection of each state (self-pairs included, as in the paper's
  generator) has a type ``A[s, n, m]`` in {inhibitory, none, excitatory} with a learnable
  state-shared prior ``Cat(pi[n, m])`` and a strength ``S[s, n, m]`` drawn from a Gaussian
  slab ``N(mu, v0)`` with learnable ``mu``, ``v0`` (the shared strength prior of the paper's
  schematic), so ``W = (A_exc - A_inh) * S``. The posterior is mean-field,
  ``q(A, S) = prod Cat(r) N(m | A, 1 / P)``: a signed spike-and-slab. Without the slab a
  zero-strength "excitatory" connection equals "none" and the types are not identifiable. The
  categorical prior is evaluated on log-probabilities (the authors' paper code passed
  probabilities, confining it to about [0.21, 0.58]); ``pi`` has a symmetric
  Dirichlet(1 + pseudocount) hyperprior. No Gumbel noise, no temperature.

M-step (deterministic, no learning rate): minorise-maximise Newton steps. The log-likelihood of
every observation has a curvature bounded below (Bernoulli: 1/4; Poisson with a sigmoid rate:
``x/4 + 1/(6 sqrt 3)``), so a quadratic with that curvature expanded at the current parameters is
a global lower bound of the gamma-weighted log-likelihood (Böhning & Lindsay 1988). Maximising
it (plus the log prior) never decreases the M-step objective. Its curvature matrix is fixed for
the whole M-step, computed once per E-step. The Gaussian prior keeps the surrogate quadratic
(one batched linear solve per step, alternating with ``W0``). For the one-hot prior the
quadratic uses the expected Fisher information at the M-step's start instead of the bound
(Fisher scoring): the type evidence scales with the curvature, and the bound's overstatement
made the type posteriors overconfident; this step has no monotonicity guarantee. The expected
quadratic under ``q`` is quadratic in the moments of ``w``, so each connection's
``q(type, strength)`` has an exact closed-form coordinate update (Carbonetto & Stephens 2012),
swept over the presynaptic neurons and vectorised over states and postsynaptic neurons; ``pi``,
``mu`` and ``v0`` are then updated in closed form. The E-step uses the posterior-mean weights.

The history regressors are centred (a fixed per-neuron offset, absorbed in the bias) so that
the mean-field posterior is not made overconfident by their correlation with the intercept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import gammaln, log_softmax

from pipelines.common import get_logger

from . import mstep
from .emissions import history_basis
from .inference import forward_backward

log = get_logger(__name__)

__all__ = [
    "OBSERVATIONS",
    "PRIORS",
    "SpikeGLMEmissions",
    "SpikeSwitchingGLM",
    "curvature_bound",
    "design_matrix",
    "SpikeFit",
    "coupling_labels",
    "fit_single_glm",
    "fisher_information",
    "fit_spike_glmhmm",
    "initialize",
    "observation_gradient",
    "observation_log_likelihood",
    "sample_observation",
    "spike_history",
]

OBSERVATIONS = ("bernoulli", "poisson")
PRIORS = ("none", "gaussian", "onehot")
#: max over sigma of sigma (1 - sigma) (1 - 2 sigma): the bound on the non-count part of the
#: Poisson-sigmoid curvature.
_POISSON_CURVATURE = 1.0 / (6.0 * np.sqrt(3.0))
_MIN_STRENGTH_SD = 0.01
_GRAM_CHUNK = 8192  # frames per chunk of the weighted Gram matrix (memory ~ chunk * D^2)


def spike_history(spikes: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(trial, time, neuron) filtered history ``h[t] = sum_k basis[k-1] x[t-k]`` (0 before t=0).

    Only past bins enter: ``h[t]`` never depends on ``x[t]``.
    """
    spikes = np.asarray(spikes, dtype=float)
    if spikes.ndim != 3:
        raise ValueError(f"spikes must be (trial, time, neuron), got shape {spikes.shape}")
    history = np.zeros_like(spikes)
    for lag, coefficient in enumerate(basis, start=1):
        if lag < spikes.shape[1]:
            history[:, lag:] += coefficient * spikes[:, :-lag]
    return history


def design_matrix(spikes: np.ndarray, basis: np.ndarray, offset: np.ndarray | float = 0.0) -> np.ndarray:
    """(trial, time, 1 + neuron) regressors ``[1, h[t] - offset]`` (intercept first).

    Centring the history (``offset`` = its mean) only moves the intercept, but it removes the
    strong correlation between the non-negative histories and the intercept, which the one-hot
    prior's mean-field (coordinate-wise) posterior would otherwise turn into overconfidence.
    """
    history = spike_history(spikes, basis) - offset
    ones = np.ones(history.shape[:2] + (1,))
    return np.concatenate([ones, history], axis=-1)


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(_log_sigmoid(x))


def _check_observation(observation: str) -> None:
    if observation not in OBSERVATIONS:
        raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")


def observation_log_likelihood(counts: np.ndarray, drive: np.ndarray, observation: str) -> np.ndarray:
    """Elementwise log p(count | rate = sigmoid(drive)) in nats (broadcasts).

    Bernoulli: ``x log s + (1 - x) log(1 - s)``; Poisson: ``x log s - s - log x!``.
    """
    _check_observation(observation)
    if observation == "bernoulli":
        return counts * _log_sigmoid(drive) + (1.0 - counts) * _log_sigmoid(-drive)
    return counts * _log_sigmoid(drive) - _sigmoid(drive) - gammaln(counts + 1.0)


def observation_gradient(counts: np.ndarray, drive: np.ndarray, observation: str) -> np.ndarray:
    """Elementwise d log p / d drive: ``x - s`` (Bernoulli), ``(1 - s)(x - s)`` (Poisson)."""
    _check_observation(observation)
    rate = _sigmoid(drive)
    if observation == "bernoulli":
        return counts - rate
    return (1.0 - rate) * (counts - rate)


def curvature_bound(counts: np.ndarray, observation: str) -> np.ndarray:
    """Elementwise c >= -d^2 log p / d drive^2 for every drive (a global curvature bound).

    Bernoulli: 1/4. Poisson-sigmoid: ``x s (1-s) + s (1-s)(1-2s) <= x/4 + 1/(6 sqrt 3)``.
    """
    _check_observation(observation)
    counts = np.asarray(counts, dtype=float)
    if observation == "bernoulli":
        return np.full_like(counts, 0.25)
    return 0.25 * counts + _POISSON_CURVATURE


def sample_observation(rng: np.random.Generator, drive: np.ndarray, observation: str) -> np.ndarray:
    """Draw int64 counts with rate ``sigmoid(drive)`` (Bernoulli or Poisson)."""
    _check_observation(observation)
    rate = _sigmoid(drive)
    if observation == "bernoulli":
        return (rng.random(rate.shape) < rate).astype(np.int64)
    return rng.poisson(rate).astype(np.int64)


@numba.njit(cache=True)
def _frame_terms(counts, drive, poisson, gamma, out_loglik, out_residual):
    """Fused kernel over (frame, state, neuron), one pass.

    Fills ``out_loglik`` (M, S) with log p summed over neurons (without the Poisson
    ``-log x!``) when it has M rows, and ``out_residual`` (M, S, N) with
    ``gamma * d log p / d drive`` when it has M rows.
    """
    n_frames, n_states, n_neurons = drive.shape
    want_ll = out_loglik.shape[0] == n_frames
    want_grad = out_residual.shape[0] == n_frames
    for m in range(n_frames):
        for s in range(n_states):
            total = 0.0
            for n in range(n_neurons):
                eta = drive[m, s, n]
                x = counts[m, n]
                e = np.exp(-abs(eta))
                rate = 1.0 / (1.0 + e) if eta >= 0 else e / (1.0 + e)
                if want_ll:
                    softplus = max(eta, 0.0) + np.log1p(e)
                    if poisson:
                        total += x * (eta - softplus) - rate
                    else:
                        total += x * eta - softplus
                if want_grad:
                    if poisson:
                        out_residual[m, s, n] = gamma[m, s] * (1.0 - rate) * (x - rate)
                    else:
                        out_residual[m, s, n] = gamma[m, s] * (x - rate)
            if want_ll:
                out_loglik[m, s] = total


def _as_frames(design, spikes, mask, posterior=None):
    """Flatten the observed frames: X (M, D), Y (M, N) and optionally gamma (M, S)."""
    if mask is None:
        mask = np.ones(spikes.shape[:2], dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    frames = (design[mask], np.asarray(spikes, dtype=float)[mask])
    if posterior is None:
        return frames
    return frames + (np.asarray(posterior, dtype=float)[mask],)


def _weighted_gram(weights: np.ndarray, design: np.ndarray) -> np.ndarray:
    """(K, D, D) ``sum_m weights[m, k] x_m x_m^T``, chunked over frames to bound memory."""
    n_frames, n_dim = design.shape
    out = np.zeros((weights.shape[1], n_dim * n_dim))
    for start in range(0, n_frames, _GRAM_CHUNK):
        x = design[start : start + _GRAM_CHUNK]
        outer = (x[:, :, None] * x[:, None, :]).reshape(len(x), -1)
        out += weights[start : start + _GRAM_CHUNK].T @ outer
    return out.reshape(-1, n_dim, n_dim)


def _curvature_matrices(design, counts, gamma, observation, ridge):
    """(S, N or 1, D, D) bound curvature ``sum_m gamma c x x^T + ridge I`` of every GLM row."""
    n_frames, n_states = gamma.shape
    if observation == "bernoulli":  # c = 1/4 for every neuron: one matrix per state
        curvature = _weighted_gram(0.25 * gamma, design)[:, None]
    else:
        bound = curvature_bound(counts, observation)  # (M, N)
        weights = (gamma[:, :, None] * bound[:, None, :]).reshape(n_frames, -1)
        curvature = _weighted_gram(weights, design).reshape(n_states, counts.shape[1], *2 * (design.shape[1],))
    return curvature + ridge * np.eye(design.shape[1])


def fisher_information(drive: np.ndarray, observation: str) -> np.ndarray:
    """Elementwise expected Fisher information of the drive: ``s (1-s)`` (Bernoulli),
    ``s (1-s)^2`` (Poisson with rate ``s = sigmoid(drive)``)."""
    _check_observation(observation)
    rate = _sigmoid(drive)
    return rate * (1.0 - rate) if observation == "bernoulli" else rate * (1.0 - rate) ** 2


def _fisher_matrices(design, gamma, theta, observation, ridge):
    """(S, N, D, D) gamma-weighted expected Fisher information at theta (Fisher scoring)."""
    info = fisher_information(_drive(design, theta), observation) * gamma[:, :, None]  # (M, S, N)
    gram = _weighted_gram(info.reshape(len(design), -1), design)
    return gram.reshape(theta.shape + (design.shape[1],)) + ridge * np.eye(design.shape[1])


def _drive(design: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """(..., S, N) pre-activation from design (..., D) and parameters theta (S, N, D)."""
    n_states, n_neurons, n_dim = theta.shape
    flat = design @ theta.reshape(-1, n_dim).T
    return flat.reshape(design.shape[:-1] + (n_states, n_neurons))


def _summed_log_likelihood(design, counts, theta, observation):
    """(M, S) log p(x_m | state) summed over neurons (nats), from design (M, D) and counts (M, N)."""
    drive = _drive(design, theta)
    counts = np.ascontiguousarray(counts, dtype=float)
    out = np.empty(drive.shape[:2])
    poisson = observation == "poisson"
    _frame_terms(counts, drive, poisson, np.empty((0, 0)), out, np.empty((0, 0, 0)))
    if poisson:
        out -= gammaln(counts + 1.0).sum(axis=1)[:, None]
    return out


def _gradient(design, counts, gamma, theta, observation):
    """(S, N, D) gradient of the gamma-weighted log-likelihood at theta."""
    drive = _drive(design, theta)  # (M, S, N)
    residual = np.empty_like(drive)
    counts = np.ascontiguousarray(counts, dtype=float)
    gamma = np.ascontiguousarray(gamma, dtype=float)
    _frame_terms(counts, drive, observation == "poisson", gamma, np.empty((0, 0)), residual)
    return (residual.reshape(len(design), -1).T @ design).reshape(theta.shape)


def fit_single_glm(design, counts, observation, n_iter=25, ridge=1e-4):
    """(N, D) maximum-likelihood one-state GLM by minorise-maximise Newton steps.

    ``design`` (M, D) and ``counts`` (M, N) are flattened observed frames.
    """
    gamma = np.ones((len(design), 1))
    curvature = _curvature_matrices(design, counts, gamma, observation, ridge)
    theta = np.zeros((1, counts.shape[1], design.shape[1]))
    for _ in range(n_iter):
        grad = _gradient(design, counts, gamma, theta, observation)
        theta = theta + np.linalg.solve(curvature, grad[..., None])[..., 0]
    return theta[0]


def _onehot_coordinate(a, curvature, log_prior, strength_mean, strength_var):
    """Exact coordinate update of one connection's q(type) and q(strength | type).

    The surrogate log-likelihood as a function of this weight is ``a w - F w^2 / 2``; the prior
    is ``type ~ Cat(pi)``, ``w = (+1 | 0 | -1) s`` with a Gaussian slab ``s ~ N(mu, v0)``. For a
    signed type ``q(s | type) = N(m, 1 / P)`` with ``P = F + 1 / v0`` and
    ``m = (+-a + mu / v0) / P``; its log evidence is ``P m^2 / 2 - mu^2 / (2 v0) - log(v0 P) / 2``
    (Carbonetto & Stephens 2012), so ``r = softmax(log pi + evidence)``.

    Returns r (..., 3) over (inh, none, exc), slab means (..., 2) for (inh, exc), slab variance.
    """
    precision = curvature + 1.0 / strength_var
    slab_mean = (np.stack([-a, a], axis=-1) + strength_mean / strength_var) / precision[..., None]
    evidence = (
        0.5 * precision[..., None] * slab_mean**2
        - 0.5 * strength_mean**2 / strength_var
        - 0.5 * np.log(strength_var * precision)[..., None]
    )
    logits = log_prior + np.stack([evidence[..., 0], np.zeros_like(a), evidence[..., 1]], axis=-1)
    return np.exp(log_softmax(logits, axis=-1)), slab_mean, 1.0 / precision


class SpikeGLMEmissions:
    """Per-state Bernoulli / Poisson GLM emissions with a none / Gaussian / one-hot prior.

    Parameters
    ----------
    bias : (state, neuron) array
        Initial per-state bias.
    weights : (state, post, pre) array
        Initial coupling (for ``"onehot"``: types and strengths start at its sign and size).
    observation : {"bernoulli", "poisson"}
    prior : {"none", "gaussian", "onehot"}
    prior_sd : float
        SD of the Gaussian prior around ``W0`` (1/3 in the paper code).
    pseudocount : float
        Dirichlet pseudo-count per type added to the one-hot prior update (keeps every type
        reachable: with 5 states, a pair never used gets pi_none = 6/8 rather than 1).
    strength_mean, strength_sd : float
        Initial mean and SD of the Gaussian slab on strengths (learned; the paper's schematic).
        Without a slab prior a zero-strength "excitatory" connection equals "none" and the
        types are not identifiable.
    n_sweeps : int
        Coordinate-ascent sweeps over the connections per MM step (one-hot only).
    basis : (lag,) array, optional
        History basis (default: the 5-lag exponential ``emissions.history_basis(5)``).
    history_offset : (neuron,) array or float
        Constant subtracted from the history: the drive is ``bias + W (h - history_offset)``
        (see :func:`design_matrix`; :attr:`intercept` is the bias of the uncentred form).
    ridge : float
        Numerical jitter added to every curvature matrix (a tighter minoriser, not a prior).

    Attributes
    ----------
    bias, weights
        Current parameters; for ``"onehot"``, ``weights`` is the posterior mean
        ``(r_exc - r_inh) * strength``, used in the E-step.
    prior_mean : (post, pre) array
        ``W0`` (``"gaussian"`` only).
    type_posterior : (state, post, pre, 3) array
        ``r`` over (inhibitory, none, excitatory) (``"onehot"`` only).
    slab_mean : (state, post, pre, 2) array
        Posterior mean strength given (inhibitory, excitatory) (``"onehot"`` only).
    slab_var : (state, post, pre) array
        Posterior strength variance given a signed type (``"onehot"`` only).
    type_prior : (post, pre, 3) array
        Learned state-shared prior ``pi`` (``"onehot"`` only).
    strength_mean, strength_sd : float
        Learned slab hyperparameters (``"onehot"`` only).
    """

    def __init__(
        self,
        bias: np.ndarray,
        weights: np.ndarray,
        observation: str = "bernoulli",
        prior: str = "none",
        prior_sd: float = 1.0 / 3.0,
        pseudocount: float = 1.0,
        strength_mean: float = 0.5,
        strength_sd: float = 0.5,
        n_sweeps: int = 10,
        basis: np.ndarray | None = None,
        history_offset: np.ndarray | float = 0.0,
        ridge: float = 1e-4,
    ):
        _check_observation(observation)
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        if min(prior_sd, strength_sd, ridge) <= 0 or pseudocount < 0:
            raise ValueError("prior_sd, strength_sd and ridge must be > 0 and pseudocount >= 0")
        self.bias = np.array(bias, dtype=float)
        self.weights = np.array(weights, dtype=float)
        n_states, n_neurons = self.bias.shape
        if self.weights.shape != (n_states, n_neurons, n_neurons):
            raise ValueError(f"weights must be (state, post, pre) = {(n_states, n_neurons, n_neurons)}, got {self.weights.shape}")
        self.observation, self.prior = observation, prior
        self.prior_sd, self.pseudocount, self.ridge = prior_sd, pseudocount, ridge
        self.basis = history_basis(5) if basis is None else np.asarray(basis, dtype=float)
        self.history_offset = np.broadcast_to(np.asarray(history_offset, dtype=float), (n_neurons,)).copy()
        if prior == "gaussian":
            self.prior_mean = self.weights.mean(axis=0)
        if prior == "onehot":
            sign = np.sign(self.weights).astype(int)
            self.type_posterior = np.eye(3)[sign + 1]
            self.slab_mean = np.repeat(np.abs(self.weights)[..., None], 2, axis=-1)
            self.slab_var = np.zeros_like(self.weights)
            self.type_prior = np.full((n_neurons, n_neurons, 3), 1.0 / 3.0)
            self.strength_mean, self.strength_sd = strength_mean, strength_sd
        self.n_sweeps = int(n_sweeps)

    # ---------------------------------------------------------------- shapes and parameters
    @property
    def n_states(self) -> int:
        return self.bias.shape[0]

    @property
    def n_neurons(self) -> int:
        return self.bias.shape[1]

    @property
    def intercept(self) -> np.ndarray:
        """(state, neuron) bias of the uncentred form ``intercept + W h``."""
        return self.bias - self.weights @ self.history_offset

    def _design(self, spikes):
        return design_matrix(spikes, self.basis, self.history_offset)

    def _theta(self) -> np.ndarray:
        return np.concatenate([self.bias[..., None], self.weights], axis=-1)

    def _set_theta(self, theta: np.ndarray) -> None:
        self.bias, self.weights = theta[..., 0].copy(), theta[..., 1:].copy()

    def _check_spikes(self, spikes):
        spikes = np.asarray(spikes)
        if spikes.ndim != 3 or spikes.shape[2] != self.n_neurons:
            raise ValueError(f"spikes must be (trial, time, {self.n_neurons}), got shape {spikes.shape}")
        if (spikes < 0).any() or (self.observation == "bernoulli" and (spikes > 1).any()):
            raise ValueError(f"{self.observation} spikes must be non-negative counts" + (" in {0, 1}" if self.observation == "bernoulli" else ""))
        return spikes

    # ---------------------------------------------------------------- E-step input
    def log_likelihood(self, spikes: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """(trial, time, state) log p(x_t | z_t = s, history), summed over neurons (nats).

        Uses the current ``weights`` (the posterior mean for the one-hot prior). Masked frames
        are 0.
        """
        spikes = self._check_spikes(spikes)
        design = self._design(spikes)
        n_trials, n_time = spikes.shape[:2]
        flat = _summed_log_likelihood(design.reshape(n_trials * n_time, -1), spikes.reshape(n_trials * n_time, -1), self._theta(), self.observation)
        ll = flat.reshape(n_trials, n_time, self.n_states)
        if mask is not None:
            ll = np.where(np.asarray(mask, dtype=bool)[..., None], ll, 0.0)
        return ll

    # ---------------------------------------------------------------- M-step
    def m_step(self, spikes: np.ndarray, posterior: np.ndarray, mask: np.ndarray | None = None, n_iter: int = 3) -> SpikeGLMEmissions:
        """Raise the posterior-weighted log-likelihood plus log prior by ``n_iter`` steps.

        ``"none"`` / ``"gaussian"``: minorise-maximise steps (never decrease the objective);
        ``"onehot"``: coordinate-ascent steps on the Fisher-scoring quadratic (see module doc).

        Parameters
        ----------
        spikes : (trial, time, neuron) counts
        posterior : (trial, time, state) state posteriors from the E-step
        mask : (trial, time) bool, optional; False frames are ignored
        n_iter : int
            Steps, each recomputing the gradient (one pass over the data).
        """
        spikes = self._check_spikes(spikes)
        design, counts, gamma = _as_frames(self._design(spikes), spikes, mask, posterior)
        if self.prior == "onehot":
            curvature = _fisher_matrices(design, gamma, self._theta(), self.observation, self.ridge)
        else:
            curvature = _curvature_matrices(design, counts, gamma, self.observation, self.ridge)
        for _ in range(n_iter):
            grad = _gradient(design, counts, gamma, self._theta(), self.observation)
            if self.prior == "onehot":
                self._onehot_step(grad, curvature)
            else:
                self._gaussian_step(grad, curvature)
        return self

    def _gaussian_step(self, grad, curvature):
        """One MM Newton step (plain: no prior; gaussian: then W0 = mean over states)."""
        theta = self._theta()
        n_dim = theta.shape[-1]
        precision = np.zeros(n_dim)
        if self.prior == "gaussian":
            precision[1:] = self.prior_sd**-2
            anchor = np.concatenate([np.zeros((self.n_neurons, 1)), self.prior_mean], axis=-1)
            grad = grad - precision * (theta - anchor)
        step = np.linalg.solve(curvature + np.diag(precision), grad[..., None])[..., 0]
        self._set_theta(theta + step)
        if self.prior == "gaussian":
            self.prior_mean = self.weights.mean(axis=0)

    def _onehot_step(self, grad, curvature):
        """One MM step: coordinate ascent over the bias, then each presynaptic connection's
        q(type, strength) (exact, vectorised over states and postsynaptic neurons), then the
        closed-form hyperparameters pi, mu and v0."""
        theta_bar = self._theta()
        mean = theta_bar.copy()
        curvature = np.broadcast_to(curvature, theta_bar.shape + (theta_bar.shape[-1],))
        f_delta = np.zeros_like(theta_bar)  # F @ (mean - theta_bar), kept up to date
        log_prior = np.log(self.type_prior)
        diag = np.diagonal(curvature, axis1=-2, axis2=-1)
        # sweeps touch no data (the surrogate is quadratic): several are nearly free and undo
        # most of the Gauss-Seidel slowness between correlated regressors
        for j in np.tile(np.arange(theta_bar.shape[-1]), self.n_sweeps):
            # linear coefficient of the surrogate in coordinate j, others at their means
            a = grad[..., j] - f_delta[..., j] + diag[..., j] * mean[..., j]
            if j == 0:
                new = a / diag[..., 0]
            else:
                r, slab_mean, slab_var = _onehot_coordinate(
                    a, diag[..., j], log_prior[:, j - 1], self.strength_mean, self.strength_sd**2
                )
                self.type_posterior[..., j - 1, :] = r
                self.slab_mean[..., j - 1, :], self.slab_var[..., j - 1] = slab_mean, slab_var
                new = r[..., 2] * slab_mean[..., 1] - r[..., 0] * slab_mean[..., 0]
            f_delta += curvature[..., j] * (new - mean[..., j])[..., None]
            mean[..., j] = new
        self._set_theta(mean)
        self._update_hyperparameters()

    def _update_hyperparameters(self):
        """Closed-form pi (Dirichlet MAP) and slab mean / variance (weighted by q(present))."""
        counts = self.type_posterior.sum(axis=0) + self.pseudocount
        self.type_prior = counts / counts.sum(axis=-1, keepdims=True)
        present = self.type_posterior[..., [0, 2]]  # (S, N, N, 2) for (inh, exc)
        total = present.sum()
        if total > 1e-6:
            mu = float(np.sum(present * self.slab_mean) / total)
            second = np.sum(present * ((self.slab_mean - mu) ** 2 + self.slab_var[..., None]))
            # floored: a slab narrower than this would make every type decision brittle
            self.strength_mean, self.strength_sd = mu, float(max(np.sqrt(second / total), _MIN_STRENGTH_SD))

    # ---------------------------------------------------------------- prior and readouts
    def log_prior(self) -> float:
        """Log prior of the current parameters (nats).

        ``"gaussian"``: Gaussian log density of ``W`` around ``W0``; ``"onehot"``:
        ``-KL(q(type, strength) || p(type, strength))`` (the prior's part of the ELBO) plus the
        Dirichlet hyperprior on ``pi``; ``"none"``: 0.
        """
        if self.prior == "gaussian":
            z = (self.weights - self.prior_mean) / self.prior_sd
            return float(-0.5 * np.sum(z**2) - z.size * np.log(self.prior_sd * np.sqrt(2 * np.pi)))
        if self.prior == "onehot":
            r = self.type_posterior
            log_pi = np.log(self.type_prior)
            entropy = -np.sum(np.where(r > 0, r * np.log(np.where(r > 0, r, 1.0)), 0.0))
            v0, var = self.strength_sd**2, np.maximum(self.slab_var, 1e-300)[..., None]
            slab = -((self.slab_mean - self.strength_mean) ** 2 + var) / (2 * v0) + 0.5 * np.log(var / v0) + 0.5
            slab_term = np.sum(r[..., [0, 2]] * slab)
            return float(np.sum(r * log_pi) + entropy + slab_term + self.pseudocount * np.sum(log_pi))
        return 0.0

    def connection_types(self, threshold: float | None = None) -> np.ndarray:
        """(state, post, pre) int8 types -1/0/+1.

        One-hot prior: argmax of ``r``. Otherwise ``sign(W)`` where ``|W| > threshold`` (required).
        """
        if self.prior == "onehot" and threshold is None:
            return (self.type_posterior.argmax(axis=-1) - 1).astype(np.int8)
        if threshold is None:
            raise ValueError(f"prior {self.prior!r} has no type posterior: pass a |W| threshold")
        return threshold_types(self.weights, threshold)

    def prior_connection_types(self, threshold: float | None = None) -> np.ndarray:
        """(post, pre) int8 state-shared types: argmax ``pi`` (one-hot) or thresholded ``W0``."""
        if self.prior == "onehot":
            return (self.type_prior.argmax(axis=-1) - 1).astype(np.int8)
        if self.prior == "gaussian" and threshold is not None:
            return threshold_types(self.prior_mean, threshold)
        raise ValueError("state-shared types need the one-hot prior, or the Gaussian prior and a threshold")


def threshold_types(weights: np.ndarray, threshold: float) -> np.ndarray:
    """int8 ``sign(w)`` where ``|w| > threshold``, else 0."""
    return (np.sign(weights) * (np.abs(weights) > threshold)).astype(np.int8)


# ==================================================================== initialisation and EM
def coupling_labels(spikes: np.ndarray, n_states: int, basis: np.ndarray, seed: int, mask: np.ndarray | None = None, window: int = 50, stride: int = 10, n_components: int = 10) -> np.ndarray:
    """(trial, time) initial state labels from k-means on windowed spike-history products.

    States differ by their coupling W, whose sufficient statistic is ``x_t h_t^T``: its mean over
    a ``window``-bin window (centred spikes times history, N^2 features, every ``stride`` bins)
    is reduced by PCA and clustered; each bin takes the label of its nearest window centre.
    Masked bins (``mask`` False) contribute nothing to the window means.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    spikes = np.asarray(spikes, dtype=float)
    n_trials, n_time, n_neurons = spikes.shape
    window = min(window, n_time)
    history = spike_history(spikes, basis)
    centred = spikes - spikes.mean(axis=(0, 1))
    starts = np.arange(0, n_time - window + 1, stride)
    feats = np.empty((n_trials, len(starts), n_neurons * n_neurons))
    for b in range(n_trials):
        outer = (centred[b, :, :, None] * history[b, :, None, :]).reshape(n_time, -1)
        if mask is not None:
            outer[~np.asarray(mask[b], dtype=bool)] = 0.0
        cum = np.concatenate([np.zeros((1, outer.shape[1])), np.cumsum(outer, axis=0)])
        feats[b] = (cum[starts + window] - cum[starts]) / window
    flat = feats.reshape(-1, feats.shape[-1])
    reduced = PCA(min(n_components, *flat.shape), random_state=seed).fit_transform(flat)
    window_labels = KMeans(n_states, n_init=10, random_state=seed).fit_predict(reduced).reshape(n_trials, -1)
    centres = starts + window // 2
    nearest = np.abs(np.arange(n_time)[:, None] - centres[None, :]).argmin(axis=1)
    return window_labels[:, nearest]


def _soft_labels(labels: np.ndarray, n_states: int, confidence: float = 0.9) -> np.ndarray:
    """(..., state) responsibilities putting ``confidence`` on each label."""
    if n_states == 1:
        return np.ones(labels.shape + (1,))
    soft = np.full(labels.shape + (n_states,), (1.0 - confidence) / (n_states - 1))
    np.put_along_axis(soft, labels[..., None], confidence, axis=-1)
    return soft


def initialize(spikes: np.ndarray, n_states: int, observation: str = "bernoulli", mask: np.ndarray | None = None, seed: int = 0, basis: np.ndarray | None = None, n_iter: int = 10) -> dict:
    """Initial emissions, shared by every prior: keyword arguments of :class:`SpikeGLMEmissions`.

    A one-state GLM, then ``n_iter`` unpenalised MM steps per state on the responsibilities of
    :func:`coupling_labels`: data-driven and never symmetric (unlike the paper code's identical
    all-zero start of the baselines). Returns ``bias``, ``weights``, ``basis`` and
    ``history_offset`` (the mean history of the observed bins).
    """
    basis = history_basis(5) if basis is None else np.asarray(basis, dtype=float)
    spikes = np.asarray(spikes)
    observed = np.ones(spikes.shape[:2], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    offset = spike_history(spikes, basis)[observed].mean(axis=0)
    design, counts = _as_frames(design_matrix(spikes, basis, offset), spikes, mask)
    single = fit_single_glm(design, counts, observation)
    start = {"bias": single[None, :, 0], "weights": single[None, :, 1:], "basis": basis, "history_offset": offset}
    if n_states == 1:
        return start
    labels = coupling_labels(spikes, n_states, basis, seed, mask)
    start["bias"] = np.repeat(start["bias"], n_states, axis=0)
    start["weights"] = np.repeat(start["weights"], n_states, axis=0)
    model = SpikeGLMEmissions(observation=observation, **start)
    model.m_step(spikes, _soft_labels(labels, n_states), mask, n_iter=n_iter)
    return start | {"bias": model.bias, "weights": model.weights}


@dataclass
class SpikeFit:
    """A fitted spike HMM-GLM.

    Attributes
    ----------
    emissions : SpikeGLMEmissions
    log_initial : (state,) ; log_transition : (state, state)
    objective : (iteration,) log p(train | params) + log prior, per EM iteration (nats)
    converged : bool ; seconds : float (wall time of the fit, initialisation excluded)
    """

    emissions: SpikeGLMEmissions
    log_initial: np.ndarray
    log_transition: np.ndarray
    objective: np.ndarray
    converged: bool
    seconds: float

    def posterior(self, spikes: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(trial, time, state) state posteriors and (trial,) marginal log-likelihood (nats)."""
        ll = self.emissions.log_likelihood(spikes, mask)
        posterior, _, marginal = forward_backward(self.log_initial, self.log_transition, ll, mask)
        return posterior, marginal


def fit_spike_glmhmm(
    spikes: np.ndarray,
    n_states: int,
    prior: str = "none",
    observation: str = "bernoulli",
    mask: np.ndarray | None = None,
    init: dict | None = None,
    seed: int = 0,
    max_iter: int = 100,
    tol: float = 1e-6,
    m_iter: int = 3,
    stay: float = 0.98,
    stickiness: float = 10.0,
    concentration: float = 1.0,
    prior_options: dict | None = None,
) -> SpikeFit:
    """Fit a switching Bernoulli / Poisson GLM by generalised EM.

    Parameters
    ----------
    spikes : (trial, time, neuron) counts
    n_states : int
    prior : {"none", "gaussian", "onehot"}
    observation : {"bernoulli", "poisson"}
    mask : (trial, time) bool, optional; False bins are skipped (history still uses them)
    init : dict, optional
        Starting emissions from :func:`initialize` (default: computed with ``seed``); pass the
        same to every prior for a fair comparison.
    max_iter, tol : EM iterations and relative-change stopping rule of the objective
    m_iter : MM steps per M-step
    stay : initial diagonal of the transition matrix (the paper's 0.98)
    stickiness, concentration : Dirichlet pseudo-counts of transition rows
        (:func:`pipelines.glmhmm.mstep.update_transitions`) and of the initial distribution
    prior_options : keyword arguments of :class:`SpikeGLMEmissions` (``prior_sd``,
        ``pseudocount``, ``strength_mean``, ``strength_sd``, ``n_sweeps``)

    Returns
    -------
    SpikeFit
    """
    import time

    spikes = np.asarray(spikes)
    init = initialize(spikes, n_states, observation, mask, seed) if init is None else init
    if np.shape(init["weights"])[0] != n_states:
        raise ValueError(f"init has {np.shape(init['weights'])[0]} states, n_states is {n_states}")
    start = time.perf_counter()
    model = SpikeGLMEmissions(observation=observation, prior=prior, **init, **(prior_options or {}))
    off = (1.0 - stay) / max(n_states - 1, 1)
    log_transition = np.log(np.where(np.eye(n_states, dtype=bool), stay if n_states > 1 else 1.0, off))
    log_initial = np.full(n_states, -np.log(n_states))
    pseudo = mstep.transition_pseudocounts(n_states, concentration, stickiness)
    trace, converged = [], False
    for _ in range(max_iter):
        ll = model.log_likelihood(spikes, mask)
        posterior, counts, marginal = forward_backward(log_initial, log_transition, ll, mask)
        objective = (
            float(marginal.sum())
            + model.log_prior()
            + mstep.log_dirichlet(np.exp(log_transition), pseudo)
            + mstep.log_dirichlet(np.exp(log_initial), np.full(n_states, concentration))
        )
        if trace and abs(objective - trace[-1]) < tol * abs(trace[-1]):
            trace.append(objective)
            converged = True
            break
        trace.append(objective)
        model.m_step(spikes, posterior, mask, n_iter=m_iter)
        log_transition = np.log(mstep.update_transitions(counts, concentration, stickiness))
        log_initial = np.log(mstep.update_initial(posterior[:, 0], concentration))
    seconds = time.perf_counter() - start
    log.info("%s %s, %d states: objective %.6g after %d iterations (%.1f s, %s)", observation, prior, n_states, trace[-1], len(trace), seconds, "converged" if converged else "max_iter")
    return SpikeFit(model, log_initial, log_transition, np.array(trace), converged, seconds)


class SpikeSwitchingGLM:
    """sklearn-style wrapper of :func:`fit_spike_glmhmm` (parameters as there).

    ``fit(spikes, mask=None)`` stores ``fit_`` (a :class:`SpikeFit`), ``emissions_`` and
    ``objective_``; ``predict_proba`` gives (trial, time, state) posteriors, ``predict`` the
    argmax states and ``score`` the marginal log-likelihood per bin per neuron (nats).
    """

    def __init__(self, n_states: int = 5, prior: str = "onehot", observation: str = "bernoulli", max_iter: int = 100, tol: float = 1e-6, m_iter: int = 3, prior_options: dict | None = None, seed: int = 0):
        self.n_states = n_states
        self.prior = prior
        self.observation = observation
        self.max_iter = max_iter
        self.tol = tol
        self.m_iter = m_iter
        self.prior_options = prior_options
        self.seed = seed

    def fit(self, spikes: np.ndarray, mask: np.ndarray | None = None) -> SpikeSwitchingGLM:
        self.fit_ = fit_spike_glmhmm(
            spikes, self.n_states, self.prior, self.observation, mask=mask, seed=self.seed,
            max_iter=self.max_iter, tol=self.tol, m_iter=self.m_iter, prior_options=self.prior_options,
        )
        self.emissions_, self.objective_ = self.fit_.emissions, self.fit_.objective
        return self

    def _fitted(self) -> SpikeFit:
        if not hasattr(self, "fit_"):
            raise RuntimeError("SpikeSwitchingGLM is not fitted; call fit first")
        return self.fit_

    def predict_proba(self, spikes: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        return self._fitted().posterior(spikes, mask)[0]

    def predict(self, spikes: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        return self.predict_proba(spikes, mask).argmax(axis=-1)

    def score(self, spikes: np.ndarray, mask: np.ndarray | None = None) -> float:
        _, marginal = self._fitted().posterior(spikes, mask)
        n_bins = spikes.shape[0] * spikes.shape[1] if mask is None else int(np.sum(mask))
        return float(marginal.sum() / (n_bins * spikes.shape[2]))
