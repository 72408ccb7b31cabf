"""Exact HMM inference for batches of sequences: forward–backward, filtering, Viterbi.

All functions take the same inputs:

- ``log_initial``: (K,) or (B, K) log initial-state probabilities,
- ``log_transition``: (K, K) log transition matrix, ``log_transition[i, j] = log p(z_t=j | z_{t-1}=i)``,
- ``log_likelihood``: (B, T, K) emission log-likelihoods ``log p(y_t | z_t=k)`` in nats,
- ``mask``: optional (B, T) bool, True where the frame is observed.

Masked frames are missing observations: their emission log-likelihood counts as 0 (whatever the
array holds there, NaN included) while the Markov chain keeps running through them. Frames
after a sequence's last observed frame are padding: they add nothing to ``transition_counts``
(so variable-length worms can be stacked into one padded batch) and their posterior is the
chain's prediction.

The recursions run in the scaled form used by dynamax (``hmm_filter``): each step's
log-likelihoods are shifted by their maximum before exponentiation and the forward messages are
renormalised, with the log normalisers accumulated into the marginal log-likelihood. This is
exact, cannot underflow, and needs K (not K²) exponentials per step. The kernels are numba-compiled
loops over (sequence, time), one sequence at a time (no threads: the machine is shared).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["forward_backward", "filter_predict", "viterbi"]


def _validate(log_initial, log_transition, log_likelihood, mask):
    """Check shapes and values; return float64/bool arrays with initial as (B, K)."""
    ll = np.asarray(log_likelihood, dtype=np.float64)
    if ll.ndim != 3:
        raise ValueError(f"log_likelihood must be (B, T, K), got shape {ll.shape}")
    n_seq, n_time, n_states = ll.shape
    if n_time == 0 or n_states == 0:
        raise ValueError(f"log_likelihood must have T >= 1 and K >= 1, got shape {ll.shape}")
    log_a = np.asarray(log_transition, dtype=np.float64)
    if log_a.shape != (n_states, n_states):
        raise ValueError(f"log_transition must be ({n_states}, {n_states}), got {log_a.shape}")
    row_sums = np.exp(log_a).sum(axis=1)
    if not np.allclose(row_sums, 1.0, atol=1e-6):
        raise ValueError(f"rows of exp(log_transition) must sum to 1, got {row_sums}")
    log_pi = np.asarray(log_initial, dtype=np.float64)
    if log_pi.shape == (n_states,):
        log_pi = np.broadcast_to(log_pi, (n_seq, n_states))
    if log_pi.shape != (n_seq, n_states):
        raise ValueError(f"log_initial must be ({n_states},) or ({n_seq}, {n_states}), got {log_pi.shape}")
    if not np.allclose(np.exp(log_pi).sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("exp(log_initial) must sum to 1 over states")
    if mask is None:
        mask = np.ones((n_seq, n_time), dtype=np.bool_)
    mask = np.asarray(mask, dtype=np.bool_)
    if mask.shape != (n_seq, n_time):
        raise ValueError(f"mask must be ({n_seq}, {n_time}), got {mask.shape}")
    observed = ll[mask]
    if np.isnan(observed).any() or np.isposinf(observed).any():
        raise ValueError("log_likelihood has NaN or +inf at observed (unmasked) frames")
    return np.ascontiguousarray(log_pi), np.ascontiguousarray(log_a), np.ascontiguousarray(ll), mask


@numba.njit(cache=True, fastmath=False)
def _emission_weights(ll_t, observed, out):
    """exp(ll_t - max ll_t) into ``out``; returns the shift (0 and all ones when masked)."""
    n_states = ll_t.shape[0]
    if not observed:
        for k in range(n_states):
            out[k] = 1.0
        return 0.0
    shift = -np.inf
    for k in range(n_states):
        if ll_t[k] > shift:
            shift = ll_t[k]
    if shift == -np.inf:  # impossible frame: every state has zero likelihood
        for k in range(n_states):
            out[k] = 0.0
        return -np.inf
    for k in range(n_states):
        out[k] = np.exp(ll_t[k] - shift)
    return shift


@numba.njit(cache=True)
def _forward(pi, trans, ll, mask, filtered, predicted, weights, loglik):
    """Scaled forward pass. Fills filtered/predicted/weights (B, T, K) and loglik (B,).

    ``weights`` keeps each step's shifted emission likelihoods for the backward pass.
    """
    n_seq, n_time, n_states = ll.shape
    for b in range(n_seq):
        total = 0.0
        impossible = False
        for k in range(n_states):
            predicted[b, 0, k] = pi[b, k]
        for t in range(n_time):
            if t > 0:
                for j in range(n_states):
                    acc = 0.0
                    for i in range(n_states):
                        acc += filtered[b, t - 1, i] * trans[i, j]
                    predicted[b, t, j] = acc
            shift = _emission_weights(ll[b, t], mask[b, t], weights[b, t])
            norm = 0.0
            for k in range(n_states):
                value = predicted[b, t, k] * weights[b, t, k]
                filtered[b, t, k] = value
                norm += value
            if norm <= 0.0 or shift == -np.inf:
                impossible = True
                for k in range(n_states):
                    filtered[b, t, k] = predicted[b, t, k]
                continue
            inv = 1.0 / norm
            for k in range(n_states):
                filtered[b, t, k] *= inv
            total += np.log(norm) + shift
        loglik[b] = -np.inf if impossible else total


@numba.njit(cache=True)
def _backward(trans, mask, filtered, predicted, weights, posterior, counts):
    """Scaled backward pass from the forward messages; fills posterior and counts.

    The pairwise marginal of step t is xi_ij ∝ filtered_{t-1,i} A_ij e_t(j) beta_t(j); its
    normaliser is Σ_j predicted_{t,j} e_t(j) beta_t(j), so no K×K temporary is needed.
    """
    n_seq, n_time, n_states = filtered.shape
    beta = np.empty(n_states)
    msg = np.empty(n_states)
    for b in range(n_seq):
        last = -1
        for t in range(n_time):
            if mask[b, t]:
                last = t
        for k in range(n_states):
            beta[k] = 1.0
        for t in range(n_time - 1, -1, -1):
            norm = 0.0
            for k in range(n_states):
                value = filtered[b, t, k] * beta[k]
                posterior[b, t, k] = value
                norm += value
            inv = 1.0 / norm if norm > 0 else 0.0
            for k in range(n_states):
                posterior[b, t, k] *= inv
            if t == 0:
                break
            xi_norm = 0.0
            for j in range(n_states):
                msg[j] = weights[b, t, j] * beta[j]
                xi_norm += predicted[b, t, j] * msg[j]
            if t <= last and xi_norm > 0.0:
                inv = 1.0 / xi_norm
                for j in range(n_states):
                    msg[j] *= inv
                for i in range(n_states):
                    f = filtered[b, t - 1, i]
                    for j in range(n_states):
                        counts[i, j] += f * trans[i, j] * msg[j]
            # message to t-1: beta_{t-1}(i) ∝ sum_j A_ij e_t(j) beta_t(j) (any positive scale)
            new_norm = 0.0
            for i in range(n_states):
                acc = 0.0
                for j in range(n_states):
                    acc += trans[i, j] * msg[j]
                beta[i] = acc
                new_norm += acc
            if new_norm > 0.0:
                inv = 1.0 / new_norm
                for i in range(n_states):
                    beta[i] *= inv


@numba.njit(cache=True)
def _viterbi(log_pi, log_a, ll, mask, paths):
    n_seq, n_time, n_states = ll.shape
    score = np.empty(n_states)
    new = np.empty(n_states)
    back = np.empty((n_time, n_states), dtype=np.int64)
    for b in range(n_seq):
        for k in range(n_states):
            score[k] = log_pi[b, k] + (ll[b, 0, k] if mask[b, 0] else 0.0)
        for t in range(1, n_time):
            for j in range(n_states):
                best = -np.inf
                arg = 0
                for i in range(n_states):
                    value = score[i] + log_a[i, j]
                    if value > best:
                        best = value
                        arg = i
                back[t, j] = arg
                new[j] = best + (ll[b, t, j] if mask[b, t] else 0.0)
            for j in range(n_states):
                score[j] = new[j]
        arg = 0
        for k in range(1, n_states):
            if score[k] > score[arg]:
                arg = k
        paths[b, n_time - 1] = arg
        for t in range(n_time - 1, 0, -1):
            arg = back[t, arg]
            paths[b, t - 1] = arg


def _run_forward(log_pi, log_a, ll, mask):
    n_seq, n_time, n_states = ll.shape
    filtered = np.empty((n_seq, n_time, n_states))
    predicted = np.empty((n_seq, n_time, n_states))
    weights = np.empty((n_seq, n_time, n_states))
    loglik = np.zeros(n_seq)
    _forward(np.exp(log_pi), np.exp(log_a), ll, mask, filtered, predicted, weights, loglik)
    return filtered, predicted, weights, loglik


def forward_backward(log_initial, log_transition, log_likelihood, mask=None):
    """Posterior state probabilities, expected transition counts and marginal log-likelihood.

    Parameters
    ----------
    log_initial : (K,) or (B, K) array
        Log initial-state probabilities (shared or per sequence).
    log_transition : (K, K) array
        Log transition matrix (rows sum to 1 in probability space).
    log_likelihood : (B, T, K) array
        Emission log-likelihood of each frame under each state (nats).
    mask : (B, T) bool array, optional
        True where a frame is observed; masked frames add 0 to the log-likelihood.

    Returns
    -------
    posterior : (B, T, K) array
        p(z_t = k | y_{1:T}) of each sequence.
    transition_counts : (K, K) array
        Expected transition counts sum_b sum_t p(z_{t-1}=i, z_t=j | y), over every step up to each
        sequence's last observed frame.
    marginal_loglik : (B,) array
        log p(y_{1:T}) of each sequence (nats); -inf if the data are impossible under the model.
    """
    log_pi, log_a, ll, mask = _validate(log_initial, log_transition, log_likelihood, mask)
    filtered, predicted, weights, loglik = _run_forward(log_pi, log_a, ll, mask)
    posterior = np.empty_like(filtered)
    counts = np.zeros((ll.shape[2], ll.shape[2]))
    _backward(np.exp(log_a), mask, filtered, predicted, weights, posterior, counts)
    return posterior, counts, loglik


def filter_predict(log_initial, log_transition, log_likelihood, mask=None):
    """Causal state estimates: one-step predicted and filtered state probabilities.

    Inputs as in :func:`forward_backward`.

    Returns
    -------
    predicted : (B, T, K) array
        p(z_t = k | y_{1:t-1}) (``predicted[:, 0]`` is the initial distribution); use it to
        predict frame t from frames before t.
    filtered : (B, T, K) array
        p(z_t = k | y_{1:t}).
    marginal_loglik : (B,) array
        log p(y_{1:T}) of each sequence (nats).
    """
    log_pi, log_a, ll, mask = _validate(log_initial, log_transition, log_likelihood, mask)
    filtered, predicted, _, loglik = _run_forward(log_pi, log_a, ll, mask)
    return predicted, filtered, loglik


def viterbi(log_initial, log_transition, log_likelihood, mask=None):
    """Most probable state path of each sequence (max-product in log space).

    Inputs as in :func:`forward_backward`.

    Returns
    -------
    paths : (B, T) int64 array
        argmax_z p(z_{1:T} | y_{1:T}) per sequence; ties go to the lowest state index.
    """
    log_pi, log_a, ll, mask = _validate(log_initial, log_transition, log_likelihood, mask)
    paths = np.empty(ll.shape[:2], dtype=np.int64)
    _viterbi(log_pi, log_a, ll, mask, paths)
    return paths
