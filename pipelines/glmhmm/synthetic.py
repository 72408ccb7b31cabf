"""The one-hot HMM-GLM paper's synthetic spike generator (Li et al., ICLR 2024, demo notebook).

Same distributions as the authors' demo (commit 944f3b3, ``demo.ipynb``; spec
``switching-glm.md`` §3), vectorised over trials instead of one Python loop per trial:

- a state-shared connection prior per ordered pair (self-pairs included),
  ``p_ij ~ Dirichlet(2 * [0.1, 0.8, 0.1])`` over {inhibitory, none, excitatory}: expected density
  1/5, half of the existing connections excitatory;
- per state an independent categorical draw of each connection's type from ``p_ij`` (the
  authors' hard argmax of a Gumbel-softmax sample is exactly such a draw);
- strengths ``log(1 + 3u)``, ``u ~ U(0, 1)``, weight = ±strength or 0;
- bias ``0.1 (u - 0.5)`` per neuron, shared by all states;
- a sticky Markov chain, 0.98 on the diagonal (mean dwell 50 bins), uniform initial state;
- ``x_{t,n} ~ Obs(sigmoid(b_n + sum_m W[z_t, n, m] h_{t,m}))`` with the 5-lag exponential history
  ``h`` (:func:`pipelines.glmhmm.spikes.spike_history`); Obs is Bernoulli (the issue's
  benchmark setting, default) or Poisson with the sigmoid rate <= 1 (the authors' demo).

Randomness comes from ``numpy.random.default_rng(seed)``; the authors' ``torch.manual_seed``
stream is not reproduced bit for bit, only its distributions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .emissions import history_basis
from .spikes import OBSERVATIONS, sample_observation

__all__ = [
    "CONNECTION_TYPES",
    "SyntheticSpikes",
    "make_synthetic_spikes",
    "sample_connectivity",
    "sample_states",
    "sticky_transition",
]

#: Connection-type categories, in the order of the last axis of every type probability array.
#: The integer code of a type is its index minus 1 (-1 inhibitory, 0 none, +1 excitatory).
CONNECTION_TYPES = ("inhibitory", "none", "excitatory")


@dataclass(frozen=True)
class SyntheticSpikes:
    """One synthetic data set with its generating truth.

    Attributes
    ----------
    spikes : (trial, time, neuron) int64
        Counts per bin (0/1 for Bernoulli).
    states : (trial, time) int64
        True hidden state of every bin.
    weights : (state, post, pre) float64
        True coupling ``W[s, n, m]`` from neuron m's history onto neuron n in state s.
    types : (state, post, pre) int8
        True connection type: -1 inhibitory, 0 none, +1 excitatory.
    type_probs : (post, pre, 3) float64
        The state-shared generating prior over (inhibitory, none, excitatory).
    bias : (neuron,) float64
        Pre-activation offset of each neuron (shared by all states).
    transition : (state, state) float64
        Markov transition matrix, rows sum to 1.
    initial : (state,) float64
        Initial state distribution.
    observation : str
        ``"bernoulli"`` or ``"poisson"``.
    seed : int
        Seed of ``numpy.random.default_rng`` that produced everything.
    basis : (lag,) float64
        History basis, lag 1 first.
    """

    spikes: np.ndarray
    states: np.ndarray
    weights: np.ndarray
    types: np.ndarray
    type_probs: np.ndarray
    bias: np.ndarray
    transition: np.ndarray
    initial: np.ndarray
    observation: str
    seed: int
    basis: np.ndarray = field(repr=False)

    @property
    def n_states(self) -> int:
        return self.weights.shape[0]

    def split(self, n_train: int) -> tuple[slice, slice]:
        """Trial slices (train, test): the first ``n_train`` trials and the rest."""
        if not 0 < n_train < self.spikes.shape[0]:
            raise ValueError(f"n_train must be in 1..{self.spikes.shape[0] - 1}, got {n_train}")
        return slice(0, n_train), slice(n_train, None)


def sticky_transition(n_states: int, stay: float = 0.98) -> np.ndarray:
    """(state, state) matrix with ``stay`` on the diagonal and the rest spread evenly.

    The expected dwell time is ``1 / (1 - stay)`` bins (50 for 0.98).
    """
    if n_states < 1 or not 0.0 < stay <= 1.0:
        raise ValueError(f"need n_states >= 1 and 0 < stay <= 1, got {n_states}, {stay}")
    if n_states == 1:
        return np.ones((1, 1))
    matrix = np.full((n_states, n_states), (1.0 - stay) / (n_states - 1))
    np.fill_diagonal(matrix, stay)
    return matrix


def sample_connectivity(
    rng: np.random.Generator,
    n_states: int,
    n_neurons: int,
    concentration: tuple[float, float, float] = (0.2, 1.6, 0.2),
    max_strength: float = 3.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the type prior, the per-state types and the weights.

    Returns
    -------
    type_probs : (post, pre, 3)
        ``p_ij ~ Dirichlet(concentration)`` over (inhibitory, none, excitatory).
    types : (state, post, pre) int8
        Per-state categorical draws from ``p_ij``, coded -1/0/+1.
    weights : (state, post, pre)
        ``types * log(1 + max_strength * u)``, ``u ~ U(0, 1)``.
    """
    type_probs = rng.dirichlet(np.asarray(concentration, dtype=float), size=(n_neurons, n_neurons))
    u = rng.random((n_states, n_neurons, n_neurons, 1))
    # inverse-CDF categorical draw; clip guards against cumsum rounding just below 1
    category = np.minimum((u > np.cumsum(type_probs, axis=-1)).sum(axis=-1), 2)
    types = (category - 1).astype(np.int8)
    strength = np.log1p(max_strength * rng.random((n_states, n_neurons, n_neurons)))
    return type_probs, types, types * strength


def sample_states(
    rng: np.random.Generator,
    transition: np.ndarray,
    initial: np.ndarray,
    n_trials: int,
    n_time: int,
) -> np.ndarray:
    """(trial, time) int64 Markov-chain paths, all trials stepped together."""
    cumulative = np.cumsum(transition, axis=1)
    states = np.empty((n_trials, n_time), dtype=np.int64)
    last = len(initial) - 1
    states[:, 0] = np.minimum((rng.random((n_trials, 1)) > np.cumsum(initial)).sum(axis=1), last)
    u = rng.random((n_trials, n_time))
    for t in range(1, n_time):
        rows = cumulative[states[:, t - 1]]
        states[:, t] = np.minimum((u[:, t, None] > rows).sum(axis=1), last)
    return states


def _sample_spikes(
    rng: np.random.Generator,
    states: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    basis: np.ndarray,
    observation: str,
) -> np.ndarray:
    """Run the state-switching GLM forward in time, vectorised over trials."""
    n_trials, n_time = states.shape
    n_lags, n_neurons = len(basis), weights.shape[1]
    # padded so that spikes[:, t + n_lags] is bin t and the first n_lags rows are the empty past
    padded = np.zeros((n_trials, n_time + n_lags, n_neurons), dtype=np.int64)
    kernel = basis[::-1].astype(float)  # oldest lag first, to match the window below
    for t in range(n_time):
        history = np.einsum("l,bln->bn", kernel, padded[:, t : t + n_lags])
        drive = bias + np.einsum("bnm,bm->bn", weights[states[:, t]], history)
        padded[:, t + n_lags] = sample_observation(rng, drive, observation)
    return padded[:, n_lags:]


def make_synthetic_spikes(
    seed: int = 0,
    n_states: int = 5,
    n_neurons: int = 20,
    n_trials: int = 50,
    n_time: int = 2000,
    observation: str = "bernoulli",
    stay: float = 0.98,
    n_lags: int = 5,
) -> SyntheticSpikes:
    """Simulate the paper's synthetic experiment (defaults: the paper's sizes, Bernoulli spikes).

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``; everything is drawn from it in a fixed order.
    n_states, n_neurons, n_trials, n_time : int
        5 states, 20 neurons, 50 trials of 2,000 bins in the paper (30 train / 20 test).
    observation : {"bernoulli", "poisson"}
        Bernoulli spikes (issue setting) or Poisson counts with rate sigmoid(drive) (demo).
    stay : float
        Diagonal of the transition matrix (0.98: mean dwell 50 bins).
    n_lags : int
        Length of the exponential history basis (5 in the paper).

    Examples
    --------
    >>> data = make_synthetic_spikes(seed=1, n_trials=2, n_time=100)
    >>> data.spikes.shape, data.weights.shape
    ((2, 100, 20), (5, 20, 20))
    """
    if observation not in OBSERVATIONS:
        raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
    if min(n_states, n_neurons, n_trials, n_time) < 1:
        raise ValueError("n_states, n_neurons, n_trials and n_time must all be >= 1")
    rng = np.random.default_rng(seed)
    basis = history_basis(n_lags)
    type_probs, types, weights = sample_connectivity(rng, n_states, n_neurons)
    bias = 0.1 * (rng.random(n_neurons) - 0.5)
    transition = sticky_transition(n_states, stay)
    initial = np.full(n_states, 1.0 / n_states)
    states = sample_states(rng, transition, initial, n_trials, n_time)
    spikes = _sample_spikes(rng, states, weights, bias, basis, observation)
    return SyntheticSpikes(
        spikes=spikes,
        states=states,
        weights=weights,
        types=types,
        type_probs=type_probs,
        bias=bias,
        transition=transition,
        initial=initial,
        observation=observation,
        seed=seed,
        basis=basis,
    )
