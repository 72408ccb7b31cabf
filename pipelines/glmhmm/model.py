"""Generalised EM for the switching AR-GLM and the sklearn-style ``SwitchingGLM`` estimator.

Objective (monitored every iteration): log p(y | θ) (exact, by forward–backward, marginal over
states) + log p(θ): connection prior (``priors``), weak Gaussian on self terms and biases,
inverse-gamma on noise variances, sticky Dirichlet on transition rows, Dirichlet on the initial
distribution. Every M-step block is an exact maximiser, so for Gaussian and Student-t emissions
the objective is non-decreasing; a decrease beyond round-off is logged as a warning and
counted in ``monotone_violations_``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
from sklearn.cluster import KMeans

from pipelines.common import get_logger

from . import emissions, mstep
from .inference import filter_predict, forward_backward, viterbi
from .priors import make_prior

log = get_logger(__name__)

__all__ = ["Params", "SwitchingGLM", "occupancy"]


@dataclass(frozen=True)
class Params:
    """Fitted parameters.

    log_initial (K,), log_transition (K, K), coef (K, N, N + S) = [W with self terms d on the
    diagonal, bias, own-lag terms e for lags 2..S], noise (K, N) variances (Gaussian) or
    squared scales (Student-t).
    """

    log_initial: np.ndarray
    log_transition: np.ndarray
    coef: np.ndarray
    noise: np.ndarray

    @property
    def n_states(self) -> int:
        return self.coef.shape[0]

    @property
    def interaction(self) -> np.ndarray:
        """(K, post, pre) interaction matrices with zero diagonal."""
        n = self.coef.shape[1]
        w = self.coef[:, :, :n].copy()
        w[:, np.arange(n), np.arange(n)] = 0.0
        return w

    @property
    def self_term(self) -> np.ndarray:
        """(K, N) self-history coefficients d."""
        n = self.coef.shape[1]
        return self.coef[:, np.arange(n), np.arange(n)]

    @property
    def bias(self) -> np.ndarray:
        return self.coef[:, :, self.coef.shape[1]]

    @property
    def self_history(self) -> np.ndarray:
        """(K, N, S) coefficients of each neuron's own past frames, lag 1 (= ``self_term``) to S."""
        n = self.coef.shape[1]
        return np.concatenate([self.self_term[..., None], self.coef[:, :, n + 1:]], axis=2)


def occupancy(posterior: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(K,) fraction of valid frames assigned to each state (posterior mass)."""
    return posterior[frames].sum(axis=0) / max(frames.sum(), 1)


class SwitchingGLM:
    """Switching autoregressive GLM with connection priors (HMM-GLM / GHG / OHG families).

    Parameters
    ----------
    n_states : int
        Number of hidden states K.
    prior : {'none', 'gaussian', 'onehot'}
        Prior over the interaction matrices (see ``pipelines.glmhmm.priors``).
    prior_options : dict, optional
        Keyword arguments of the prior (e.g. ``scale``, ``anchor``, ``pseudocounts``).
    observation : {'gaussian', 'studentt'}
    dof : float
        Student-t degrees of freedom (fixed).
    lags : int
        History length of the exponential basis (1: previous frame only).
    self_lags : int
        Own past frames of each neuron with free per-state coefficients, outside the priors
        (1: only the previous frame, through the history; 3: an AR(3) filter of the neuron's
        own activity, which captures calcium kinetics and the momentum of a change).
    n_restarts, max_iter, tol
        Restarts (best final objective kept), EM iterations, relative-change stopping rule.
    stickiness, transition_concentration
        Dirichlet pseudo-counts of transition rows (diagonal extra, every entry).
    self_scale : float
        SD of the weak Gaussian prior on self terms and biases.
    noise_shape, noise_rate : float
        Inverse-gamma prior on noise variances (stops a state collapsing onto few frames).
    noise : {'state', 'shared'}
        Noise variance per (state, neuron), or one per neuron shared by all states, so that
        states differ only in their dynamics (coefficients), not in noise level.
    min_occupancy : float
        States with less posterior occupancy are reported as unused.
    init_block : int
        Block length (frames) of the random-block initialisation of restarts after the first.
    seed : int
    """

    def __init__(
        self,
        n_states: int = 4,
        prior: str = "gaussian",
        prior_options: dict | None = None,
        observation: str = "gaussian",
        dof: float = 4.0,
        lags: int = 1,
        self_lags: int = 1,
        n_restarts: int = 3,
        max_iter: int = 100,
        tol: float = 1e-5,
        stickiness: float = 10.0,
        transition_concentration: float = 1.0,
        self_scale: float = 10.0,
        noise_shape: float = 1.0,
        noise_rate: float = 0.01,
        noise: str = "state",
        min_occupancy: float = 0.02,
        init_block: int = 20,
        seed: int = 0,
    ):
        self.n_states = n_states
        self.prior = prior
        self.prior_options = prior_options
        self.observation = observation
        self.dof = dof
        self.lags = lags
        self.self_lags = self_lags
        self.n_restarts = n_restarts
        self.max_iter = max_iter
        self.tol = tol
        self.stickiness = stickiness
        self.transition_concentration = transition_concentration
        self.self_scale = self_scale
        self.noise_shape = noise_shape
        self.noise_rate = noise_rate
        self.noise = noise
        self.min_occupancy = min_occupancy
        self.init_block = init_block
        self.seed = seed

    # ------------------------------------------------------------------ checks and set-up
    def _check_settings(self):
        if int(self.n_states) < 1:
            raise ValueError(f"n_states must be >= 1, got {self.n_states}")
        if self.observation not in ("gaussian", "studentt"):
            raise ValueError(f"observation must be 'gaussian' or 'studentt', got {self.observation!r}")
        if self.noise not in ("state", "shared"):
            raise ValueError(f"noise must be 'state' or 'shared', got {self.noise!r}")
        if int(self.self_lags) < 1:
            raise ValueError(f"self_lags must be >= 1, got {self.self_lags}")
        if self.n_restarts < 1 or self.max_iter < 1:
            raise ValueError("n_restarts and max_iter must be >= 1")
        make_prior(self.prior, **(self.prior_options or {}))

    @property
    def _dof(self):
        return self.dof if self.observation == "studentt" else None

    def _sequences(self, worms, recorded, for_fit=False):
        return emissions.prepare_sequences(worms, recorded, self.lags, for_fit=for_fit,
                                           self_lags=int(self.self_lags))

    def _check_size(self, seq):
        n_frames = int(seq.frames.sum())
        n_params = seq.n_coef
        needed = self.n_states * n_params
        if n_frames < needed:
            raise ValueError(
                f"too few frames: {n_frames} valid frames for {self.n_states} states × {n_params} "
                f"coefficients per neuron (need >= {needed}); use fewer states, neurons or lags, or more worms"
            )

    def _full_prior(self, prior, n_states, n_neurons, n_coef):
        """(K, N, P) prior mean and precision of every coefficient (self terms, bias and own
        lags weak)."""
        mean_w, prec_w = prior.coefficient_prior(n_states, n_neurons)
        mean = np.zeros((n_states, n_neurons, n_coef))
        prec = np.full(mean.shape, 1.0 / self.self_scale**2)
        mean[:, :, :n_neurons] = mean_w
        prec[:, :, :n_neurons] = prec_w
        idx = np.arange(n_neurons)
        mean[:, idx, idx] = 0.0
        prec[:, idx, idx] = 1.0 / self.self_scale**2
        return mean, prec

    def _log_prior(self, params: Params, prior) -> float:
        var = self.self_scale**2
        weak = np.concatenate([params.self_history.ravel(), params.bias.ravel()])
        total = prior.log_prior(params.interaction)
        total += float(np.sum(-0.5 * (np.log(2 * np.pi * var) + weak**2 / var)))
        noise = params.noise[:1] if self.noise == "shared" else params.noise  # one prior term per variance
        total += mstep.log_inverse_gamma(noise, self.noise_shape, self.noise_rate)
        pseudo = mstep.transition_pseudocounts(params.n_states, self.transition_concentration, self.stickiness)
        total += mstep.log_dirichlet(np.exp(params.log_transition), pseudo)
        total += mstep.log_dirichlet(np.exp(params.log_initial), np.full(params.n_states, self.transition_concentration))
        return total

    # ------------------------------------------------------------------ EM
    def _m_step(self, seq, posterior, counts, params, prior):
        """One pass of exact block updates; returns new params (prior updated in place)."""
        n_states, n_neurons, n_coef = params.coef.shape
        weights = None
        if self._dof is not None:
            weights = emissions.student_weights(params.coef, params.noise, seq, self._dof)
        stats = emissions.sufficient_stats(seq, posterior, weights)
        prior.e_step(params.interaction)
        mean, prec = self._full_prior(prior, n_states, n_neurons, n_coef)
        coef = mstep.solve_coefficients(stats, params.noise, mean, prec)
        noise = mstep.update_noise(stats, coef, self.noise_shape, self.noise_rate, shared=self.noise == "shared")
        new = replace(params, coef=coef, noise=noise)
        prior.update(new.interaction)
        trans = mstep.update_transitions(counts, self.transition_concentration, self.stickiness)
        init = mstep.update_initial(posterior[:, 0], self.transition_concentration)
        return replace(new, log_transition=np.log(trans), log_initial=np.log(init))

    def _initial_labels(self, seq, rng, restart):
        """Hard state labels of the valid frames (flattened worm-major) for one restart.

        Restart 0: k-means on [y_t, Δy_t]. Later restarts: random contiguous blocks of
        ``init_block`` frames, each given a random state (respects stickiness, explores other
        optima than k-means, which clusters on levels rather than dynamics).
        """
        n_states, n_neurons = self.n_states, seq.n_neurons
        frames = seq.frames
        if restart == 0:
            feats = np.concatenate([seq.y, seq.y - seq.x[..., :n_neurons]], axis=-1)[frames]
            return KMeans(n_states, n_init=3, random_state=int(rng.integers(2**31))).fit_predict(feats)
        n_time = frames.shape[1]
        n_blocks = -(-n_time // self.init_block)
        blocks = rng.integers(n_states, size=(frames.shape[0], n_blocks))
        labels = np.repeat(blocks, self.init_block, axis=1)[:, :n_time][frames]
        missing = np.setdiff1d(np.arange(n_states), labels)
        if missing.size:  # every state gets frames: never identical states
            labels[rng.choice(labels.size, missing.size, replace=False)] = missing
        return labels

    def _initialize(self, seq, rng, restart):
        """Initial labels → hard responsibilities and transition counts → one M-step."""
        n_states, n_neurons = self.n_states, seq.n_neurons
        frames = seq.frames
        labels = self._initial_labels(seq, rng, restart)
        posterior = np.full(frames.shape + (n_states,), 1.0 / n_states)
        hard = np.full((labels.size, n_states), 0.05 / max(n_states - 1, 1))
        hard[np.arange(labels.size), labels] = 0.95 if n_states > 1 else 1.0
        posterior[frames] = hard
        lab = np.full(frames.shape, -1)
        lab[frames] = labels
        ok = (lab[:, 1:] >= 0) & (lab[:, :-1] >= 0)
        counts = np.zeros((n_states, n_states))
        np.add.at(counts, (lab[:, :-1][ok], lab[:, 1:][ok]), 1.0)
        params = Params(
            log_initial=np.full(n_states, -np.log(n_states)),
            log_transition=np.log(np.full((n_states, n_states), 1.0 / n_states)),
            coef=np.zeros((n_states, n_neurons, seq.n_coef)),
            noise=np.ones((n_states, n_neurons)),
        )
        prior = make_prior("none")  # first regression: weak ridge only
        params = self._m_step(seq, posterior, counts, params, prior)
        fitted_prior = make_prior(self.prior, **(self.prior_options or {})).initialize(params.interaction)
        return params, fitted_prior

    def _em(self, seq, rng, restart):
        params, prior = self._initialize(seq, rng, restart)
        trace, seconds, violations, converged = [], [], 0, False
        exact = True  # every block is an exact maximiser for the emissions implemented here
        for iteration in range(self.max_iter):
            start = time.perf_counter()
            ll = emissions.log_likelihood(params.coef, params.noise, seq, self._dof)
            posterior, counts, marginal = forward_backward(params.log_initial, params.log_transition, ll, seq.frames)
            objective = float(marginal.sum()) + self._log_prior(params, prior)
            if trace and exact and objective < trace[-1] - 1e-8 * abs(trace[-1]):
                violations += 1
                log.warning("restart %d iteration %d: objective decreased %.6g -> %.6g", restart, iteration, trace[-1], objective)
            if trace and abs(objective - trace[-1]) < self.tol * abs(trace[-1]):
                trace.append(objective)
                converged = True
                break
            trace.append(objective)
            params = self._m_step(seq, posterior, counts, params, prior)
            seconds.append(time.perf_counter() - start)
        log.info(
            "restart %d: objective %.6g after %d iterations (%s)",
            restart, trace[-1], len(trace), "converged" if converged else "max_iter reached",
        )
        return params, prior, np.array(trace), violations, converged, np.array(seconds)

    # ------------------------------------------------------------------ public API
    def fit(self, worms, recorded=None):
        """Fit on a list of worms.

        Parameters
        ----------
        worms : list of (T_w, N) arrays, z-scored per worm and neuron, NaN where missing.
        recorded : list of (N,) bool or (W, N) bool, optional
            Neurons recorded per worm (default: any finite value).
        """
        self._check_settings()
        seq = self._sequences(worms, recorded, for_fit=True)
        self._check_size(seq)
        best = None
        self.restarts_ = []
        for restart in range(self.n_restarts):
            rng = np.random.default_rng([self.seed, restart])
            result = self._em(seq, rng, restart)
            self.restarts_.append({"restart": restart, "objective": float(result[2][-1]), "n_iter": len(result[2])})
            if best is None or result[2][-1] > best[2][-1]:
                best = result
        (self.params_, self.prior_, self.objective_, self.monotone_violations_, self.converged_,
         self.iteration_seconds_) = best
        self.n_neurons_ = seq.n_neurons
        posterior, _, _ = self._posterior(seq)
        self.occupancy_ = occupancy(posterior, seq.frames)
        self.unused_states_ = np.flatnonzero(self.occupancy_ < self.min_occupancy)
        if self.unused_states_.size:
            log.warning(
                "K=%d: state(s) %s have occupancy < %.1f%% (%s): the data do not support this many "
                "states; pick K from the held-out curve",
                self.n_states, self.unused_states_.tolist(), 100 * self.min_occupancy,
                np.round(self.occupancy_[self.unused_states_], 4).tolist(),
            )
        return self

    def _posterior(self, seq):
        p = self.params_
        ll = emissions.log_likelihood(p.coef, p.noise, seq, self._dof)
        return forward_backward(p.log_initial, p.log_transition, ll, seq.frames)

    def _check_fitted(self, worms):
        if not hasattr(self, "params_"):
            raise RuntimeError("SwitchingGLM is not fitted; call fit first")
        if any(np.shape(y)[1] != self.n_neurons_ for y in worms):
            raise ValueError(f"worms must have the {self.n_neurons_} neurons the model was fitted on")

    def predict_proba(self, worms, recorded=None):
        """Posterior state probabilities p(z_t | y_{1:T}): list of (T_w, K)."""
        self._check_fitted(worms)
        seq = self._sequences(worms, recorded)
        posterior, _, _ = self._posterior(seq)
        return [posterior[w, : len(y)] for w, y in enumerate(worms)]

    def decode(self, worms, recorded=None):
        """Viterbi state paths: list of (T_w,) int."""
        self._check_fitted(worms)
        seq = self._sequences(worms, recorded)
        p = self.params_
        ll = emissions.log_likelihood(p.coef, p.noise, seq, self._dof)
        paths = viterbi(p.log_initial, p.log_transition, ll, seq.frames)
        return [paths[w, : len(y)] for w, y in enumerate(worms)]

    def loglik(self, worms, recorded=None):
        """Marginal log-likelihood (nats) of each worm and the number of observed values."""
        self._check_fitted(worms)
        seq = self._sequences(worms, recorded)
        _, _, marginal = self._posterior(seq)
        return marginal, seq.observed.sum(axis=(1, 2))

    def score(self, worms, recorded=None) -> float:
        """Marginal log-likelihood per observed frame per neuron (nats)."""
        marginal, n_obs = self.loglik(worms, recorded)
        return float(marginal.sum() / n_obs.sum())

    def predict(self, worms, recorded=None):
        """One-step predictions ŷ_t = Σ_k p(z_t=k | y_{<t}) μ_k(h_t): list of (T_w, N), NaN on invalid frames."""
        self._check_fitted(worms)
        seq = self._sequences(worms, recorded)
        p = self.params_
        ll = emissions.log_likelihood(p.coef, p.noise, seq, self._dof)
        predicted, _, _ = filter_predict(p.log_initial, p.log_transition, ll, seq.frames)
        means = emissions.state_means(p.coef, seq.x, seq.own)  # (B, T, K, N)
        yhat = np.einsum("btk,btkn->btn", predicted, means)
        yhat[~seq.frames] = np.nan
        return [yhat[w, : len(y)] for w, y in enumerate(worms)]
