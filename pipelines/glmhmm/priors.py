"""Priors over the per-state interaction matrices W_k (post × pre, zero diagonal).

Every prior turns into a diagonal Gaussian (mean, precision) per off-diagonal coefficient for the
closed-form M-step (``coefficient_prior``), has an exact update of its own parameters
(``update``) and a log-density (``log_prior``) that enters the monitored objective. Self terms
and biases are outside these priors (weak fixed Gaussian, see ``model``).

- ``NoPrior``: plain HMM-GLM; a very weak ridge N(0, ``scale``²) keeps the problem well posed.
- ``GaussianPrior`` (GHG): W_{k,ij} ~ N(W0_ij, σ²) with a learnable state-shared mean W0 (the
  state-constant interaction), itself shrunk W0 ~ N(0, τ²), or, with the soft anatomical
  anchor, W0 ~ N(c · C_ij, τ²) with the scale c learned; τ large keeps function free to depart
  from anatomy.
- ``OneHotPrior`` (OHG, discrete form): each connection of each state has a type
  a ∈ {inhibitory, none, excitatory} ~ Cat(π_ij) with π_ij shared across states; given the type,
  w ~ N(-μ, σ_s²), N(0, σ_0²) or N(+μ, σ_s²) (signed spike-and-slab with a learnable strength
  prior μ, σ_s). The type is a latent variable: q(a) = Cat(r) is its exact posterior given W
  (a mean-field CAVI step that is tight), so MAP-EM on log p(y | W) + log Σ_a p(a) p(W | a)
  never decreases the objective. π_ij has a Dirichlet prior whose pseudo-counts can be set from
  the connectome (soft, never hard). This is the τ → 0 limit of the paper's Concrete prior
  without the Gumbel noise; the Concrete density itself is ``concrete_log_density`` (correct
  log-probability inputs, unlike the paper-version call).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln, logsumexp

__all__ = [
    "TYPES",
    "NoPrior",
    "GaussianPrior",
    "OneHotPrior",
    "make_prior",
    "concrete_log_density",
    "connectome_type_pseudocounts",
    "signed_connectome",
]

TYPES = ("inhibitory", "none", "excitatory")
_LOG_2PI = np.log(2 * np.pi)


def _offdiag(n):
    return ~np.eye(n, dtype=bool)


def _gauss_logpdf(x, mean, var):
    return -0.5 * (_LOG_2PI + np.log(var) + (x - mean) ** 2 / var)


def concrete_log_density(x, log_alpha, tau):
    """Log-density of the Concrete (Gumbel-softmax) distribution on the simplex.

    Maddison et al. 2017, eq. 1 (w.r.t. Lebesgue measure on the first K-1 coordinates):
    log Γ(K) + (K-1) log τ + Σ_i (log α_i - (τ+1) log x_i) - K logsumexp_i(log α_i - τ log x_i).

    Parameters
    ----------
    x : (..., K) points on the open simplex.
    log_alpha : (..., K) log location parameters (log-probabilities or unnormalised logits;
        passing probabilities here is the paper-version bug).
    tau : float, temperature > 0.
    """
    x = np.asarray(x, dtype=float)
    log_alpha = np.asarray(log_alpha, dtype=float)
    k = x.shape[-1]
    log_x = np.log(x)
    return (
        gammaln(k)
        + (k - 1) * np.log(tau)
        + np.sum(log_alpha - (tau + 1) * log_x, axis=-1)
        - k * logsumexp(log_alpha - tau * log_x, axis=-1)
    )


def signed_connectome(weight_chemical, weight_gap, sign):
    """Signed anatomical prior C (post, pre) in [-1, 1] from synapse counts and presynaptic signs.

    Parameters
    ----------
    weight_chemical, weight_gap : (pre, post) synapse counts (NaN = not covered → 0).
    sign : (pre, post) int, +1 excitatory, -1 inhibitory, 0 unknown.

    Returns
    -------
    (post, pre) float: sign · log1p(count) / max, 0 without synapse or with unknown sign; the
    diagonal is 0 (self terms are outside the priors).
    """
    chem = np.nan_to_num(np.asarray(weight_chemical, float)).T
    gap = np.nan_to_num(np.asarray(weight_gap, float)).T
    strength = np.log1p(chem + gap)
    scale = strength.max() if strength.max() > 0 else 1.0
    c = np.asarray(sign, float).T * strength / scale
    np.fill_diagonal(c, 0.0)
    return c


def connectome_type_pseudocounts(has_synapse, sign, strength: float):
    """Dirichlet pseudo-counts (post, pre, type) for π from anatomy.

    P(none) = 0.2 where a chemical synapse or gap junction exists (else 0.9, never 1: function
    is not bounded by anatomy); exc vs inh split 0.8/0.2 by the presynaptic sign (0.5/0.5 when
    unknown). Returns ``strength`` × those probabilities (post, pre, 3) in TYPES order.
    """
    has = np.asarray(has_synapse, bool).T
    s = np.asarray(sign, float).T
    p_none = np.where(has, 0.2, 0.9)
    p_exc_given = np.where(s > 0, 0.8, np.where(s < 0, 0.2, 0.5))
    probs = np.stack([(1 - p_none) * (1 - p_exc_given), p_none, (1 - p_none) * p_exc_given], axis=-1)
    return strength * probs


@dataclass
class NoPrior:
    """Plain HMM-GLM: weak ridge N(0, scale²) on every interaction."""

    scale: float = 10.0

    def initialize(self, interactions):
        return self

    def coefficient_prior(self, n_states, n_neurons):
        shape = (n_states, n_neurons, n_neurons)
        return np.zeros(shape), np.full(shape, 1.0 / self.scale**2)

    def e_step(self, interactions):
        return self

    def update(self, interactions):
        return self

    def log_prior(self, interactions):
        off = _offdiag(interactions.shape[1])
        return float(_gauss_logpdf(interactions[:, off], 0.0, self.scale**2).sum())

    def shared_interaction(self, interactions):
        return interactions.mean(axis=0)

    def type_probability(self, interactions):
        return None


@dataclass
class GaussianPrior:
    """W_k ~ N(W0, scale²) elementwise; W0 ~ N(c · anchor, shared_scale²) (anchor 0 when absent).

    The hyperprior on W0 shrinks the state-constant interaction toward 0 (or toward the scaled
    signed connectome, with c learned); ``shared_scale=inf`` gives the flat hyperprior
    (W0 = mean of the W_k, as in the paper's code).
    """

    scale: float = 0.01
    shared_scale: float = 0.01
    anchor: np.ndarray | None = None  # (post, pre) signed connectome, optional
    shared: np.ndarray | None = None  # W0 (post, pre)
    anchor_gain: float = 0.0  # c

    def initialize(self, interactions):
        self.shared = interactions.mean(axis=0)
        self.anchor_gain = 0.0
        return self

    def coefficient_prior(self, n_states, n_neurons):
        mean = np.broadcast_to(self.shared, (n_states, n_neurons, n_neurons)).copy()
        return mean, np.full(mean.shape, 1.0 / self.scale**2)

    def e_step(self, interactions):
        return self

    def _centre(self):
        return 0.0 if self.anchor is None else self.anchor_gain * self.anchor

    def update(self, interactions):
        n_states = interactions.shape[0]
        if self.anchor is not None:
            # exact block update of c given W0 (least squares), then W0 given c
            off = _offdiag(self.anchor.shape[0])
            a = self.anchor[off]
            if np.dot(a, a) > 0:
                self.anchor_gain = float(np.dot(a, self.shared[off]) / np.dot(a, a))
        prec_w = n_states / self.scale**2
        prec_0 = 1.0 / self.shared_scale**2
        self.shared = (interactions.sum(0) / self.scale**2 + prec_0 * self._centre()) / (prec_w + prec_0)
        np.fill_diagonal(self.shared, 0.0)
        return self

    def log_prior(self, interactions):
        off = _offdiag(interactions.shape[1])
        total = _gauss_logpdf(interactions[:, off], self.shared[off], self.scale**2).sum()
        if np.isfinite(self.shared_scale):
            centre = np.broadcast_to(self._centre(), self.shared.shape)[off]
            total += _gauss_logpdf(self.shared[off], centre, self.shared_scale**2).sum()
        return float(total)

    def shared_interaction(self, interactions):
        return self.shared.copy()

    def type_probability(self, interactions):
        return None


@dataclass
class OneHotPrior:
    """Connection types {inh, none, exc} ~ Cat(π_ij) shared over states; signed spike-and-slab.

    ``pseudocounts`` (post, pre, 3) are the Dirichlet prior on π beyond the uniform α = 1 (a
    scalar applies to every type; an anatomical array comes from
    ``connectome_type_pseudocounts``). ``none_scale`` is σ_0 of the "none" spike. The strength
    prior (``strength`` μ, ``strength_scale`` σ_s) is fixed by default: learning it
    (``learn_strength``, σ_s floored at 2 σ_0) follows the overfitted weights and weakens the
    shrinkage; the defaults are tuned for z-scored calcium at ~0.6 s frames (docs/glmhmm.md).
    """

    none_scale: float = 0.002
    strength: float = 0.01
    strength_scale: float = 0.01
    pseudocounts: float | np.ndarray = 0.5
    learn_strength: bool = False
    probability: np.ndarray | None = None  # π (post, pre, 3)
    responsibility: np.ndarray | None = field(default=None, repr=False)  # r (K, post, pre, 3)

    def _components(self):
        means = np.array([-self.strength, 0.0, self.strength])
        variances = np.array([self.strength_scale**2, self.none_scale**2, self.strength_scale**2])
        return means, variances

    def _joint(self, interactions):
        """log π_c + log N(w; m_c, v_c), (K, N, N, 3)."""
        means, variances = self._components()
        return np.log(self.probability)[None] + _gauss_logpdf(interactions[..., None], means, variances)

    def initialize(self, interactions):
        n = interactions.shape[1]
        alpha = self._alpha(n)
        self.probability = alpha / alpha.sum(-1, keepdims=True)
        return self.e_step(interactions)

    def _alpha(self, n):
        return 1.0 + np.broadcast_to(np.asarray(self.pseudocounts, float), (n, n, 3))

    def e_step(self, interactions):
        joint = self._joint(interactions)
        self.responsibility = np.exp(joint - logsumexp(joint, axis=-1, keepdims=True))
        return self

    def coefficient_prior(self, n_states, n_neurons):
        means, variances = self._components()
        r = self.responsibility
        precision = (r / variances).sum(-1)
        mean = (r * means / variances).sum(-1) / precision
        return mean, precision

    def update(self, interactions):
        r = self.responsibility
        n = interactions.shape[1]
        off = _offdiag(n)
        alpha = self._alpha(n)
        counts = r.sum(0) + alpha - 1.0
        self.probability = counts / counts.sum(-1, keepdims=True)
        if self.learn_strength:
            # slab moments of |w| signed by type: exc uses +w, inh uses -w
            signed = np.stack([-interactions, interactions], axis=-1)[:, off]  # (K, E, 2)
            weight = r[:, off][..., [0, 2]]
            total = weight.sum()
            if total > 1e-8:
                mu = float((weight * signed).sum() / total)
                self.strength = max(mu, 0.0)
                var = float((weight * (signed - self.strength) ** 2).sum() / total)
                self.strength_scale = float(np.sqrt(max(var, (2 * self.none_scale) ** 2)))
        return self

    def log_prior(self, interactions):
        n = interactions.shape[1]
        off = _offdiag(n)
        mixture = logsumexp(self._joint(interactions), axis=-1)[:, off].sum()
        alpha = self._alpha(n)[off]
        dirichlet = (
            gammaln(alpha.sum(-1)) - gammaln(alpha).sum(-1) + ((alpha - 1) * np.log(self.probability[off])).sum(-1)
        ).sum()
        return float(mixture + dirichlet)

    def shared_interaction(self, interactions):
        """Prior mean interaction E_π[w] = μ (π_exc - π_inh), the state-constant wiring."""
        w0 = self.strength * (self.probability[..., 2] - self.probability[..., 0])
        np.fill_diagonal(w0, 0.0)
        return w0

    def type_probability(self, interactions):
        p = self.probability.copy()
        idx = np.arange(p.shape[0])
        p[idx, idx] = np.nan  # self terms are outside the prior
        return p


def make_prior(kind: str, **options):
    """Prior by name: 'none', 'gaussian' or 'onehot' (options go to the dataclass)."""
    classes = {"none": NoPrior, "gaussian": GaussianPrior, "onehot": OneHotPrior}
    if kind not in classes:
        raise ValueError(f"prior must be one of {sorted(classes)}, got {kind!r}")
    return classes[kind](**options)
