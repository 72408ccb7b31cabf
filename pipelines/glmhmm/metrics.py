"""Recovery metrics for the synthetic spike benchmark (spec ``switching-glm.md`` §4).

State matching uses :func:`pipelines.glmhmm.evaluate.state_agreement` (Hungarian algorithm on
the confusion matrix); everything here is computed after that permutation.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from .evaluate import state_agreement
from .spikes import threshold_types

__all__ = [
    "choose_threshold",
    "heldout_gain",
    "homogeneous_log_likelihood",
    "matched_order",
    "type_scores",
    "weight_recovery",
]


def matched_order(true_states: np.ndarray, decoded: np.ndarray, n_states: int) -> tuple[np.ndarray, float]:
    """Fitted state matched to each true state, and the matched state accuracy.

    Parameters
    ----------
    true_states, decoded : int arrays of the same shape (e.g. (trial, time))
    n_states : int
        Number of true (= fitted) states.

    Returns
    -------
    order : (n_states,) int
        ``order[s]`` is the fitted state matched to true state ``s``; fitted states never
        decoded are paired with the leftover true states, so ``order`` is a permutation.
    accuracy : float
        Fraction of bins whose decoded state maps to the true one.
    """
    agreement = state_agreement(true_states, decoded)
    order = np.full(n_states, -1)
    for fitted, true in agreement["permutation"].items():
        if true >= 0:
            order[true] = fitted
    unused = [k for k in range(n_states) if k not in set(order.tolist())]
    order[order < 0] = unused[: int((order < 0).sum())]
    return order, agreement["accuracy"]


def weight_recovery(true_weights: np.ndarray, fitted_weights: np.ndarray) -> dict:
    """Relative Frobenius error and Pearson r over all (state, post, pre) entries.

    ``fitted_weights`` must already be in the true states' order.
    """
    true, fitted = np.ravel(true_weights), np.ravel(fitted_weights)
    if true.shape != fitted.shape:
        raise ValueError(f"weight shapes differ: {np.shape(true_weights)} vs {np.shape(fitted_weights)}")
    return {
        "weight_rel_error": float(np.linalg.norm(fitted - true) / np.linalg.norm(true)),
        "weight_corr": float(np.corrcoef(true, fitted)[0, 1]),
    }


def type_scores(true_types: np.ndarray, predicted_types: np.ndarray) -> dict:
    """3-class (-1 inh, 0 none, +1 exc) accuracy, balanced accuracy and macro-F1."""
    true, predicted = np.ravel(true_types), np.ravel(predicted_types)
    labels = [-1, 0, 1]
    return {
        "type_accuracy": float(accuracy_score(true, predicted)),
        "type_balanced_accuracy": float(balanced_accuracy_score(true, predicted)),
        "type_macro_f1": float(f1_score(true, predicted, labels=labels, average="macro", zero_division=0)),
    }


def choose_threshold(true_types: np.ndarray, weights: np.ndarray, candidates: np.ndarray | None = None) -> float:
    """The ``|w|`` threshold maximising macro-F1 of ``sign(w) * (|w| > t)`` (validation data).

    Candidates default to 0, 0.01, ..., 1.0 (the true strengths lie in (0, 1.39)).
    """
    candidates = np.round(np.arange(0.0, 1.0001, 0.01), 2) if candidates is None else np.asarray(candidates)
    scores = [type_scores(true_types, threshold_types(weights, t))["type_macro_f1"] for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def homogeneous_log_likelihood(train_spikes: np.ndarray, test_spikes: np.ndarray, observation: str) -> float:
    """Total test log-likelihood (nats) of a constant per-neuron rate fitted on the training trials.

    Bernoulli: rate = training spike probability; Poisson: rate = training mean count.
    """
    rate = np.clip(np.asarray(train_spikes, float).mean(axis=(0, 1)), 1e-12, 1 - 1e-12)
    x = np.asarray(test_spikes, float)
    if observation == "bernoulli":
        return float(np.sum(x * np.log(rate) + (1 - x) * np.log1p(-rate)))
    if observation == "poisson":
        return float(np.sum(x * np.log(rate) - rate - gammaln(x + 1)))
    raise ValueError(f"observation must be 'bernoulli' or 'poisson', got {observation!r}")


def heldout_gain(marginal_loglik: np.ndarray, train_spikes: np.ndarray, test_spikes: np.ndarray, observation: str) -> dict:
    """Held-out log-likelihood per bin per neuron (nats), raw and minus the homogeneous baseline.

    ``marginal_loglik`` (trial,) is log p(test trial) from the forward algorithm (states
    marginalised).
    """
    n_values = np.asarray(test_spikes).size
    model = float(np.sum(marginal_loglik)) / n_values
    baseline = homogeneous_log_likelihood(train_spikes, test_spikes, observation) / n_values
    return {"test_loglik": model, "test_loglik_baseline": baseline, "test_loglik_gain": model - baseline}
