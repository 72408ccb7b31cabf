"""Exact HMM inference against brute-force enumeration of all state paths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from pipelines.glmhmm.inference import filter_predict, forward_backward, viterbi


def _random_hmm(rng, n_seq, n_time, n_states):
    log_pi = np.log(rng.dirichlet(np.ones(n_states), size=n_seq))
    log_a = np.log(rng.dirichlet(np.ones(n_states), size=n_states))
    ll = rng.normal(scale=3.0, size=(n_seq, n_time, n_states))
    return log_pi, log_a, ll


def _brute_force(log_pi, log_a, ll, mask):
    """Joint log-probabilities of every path, and the derived marginals, per sequence."""
    n_seq, n_time, n_states = ll.shape
    paths = np.array(list(itertools.product(range(n_states), repeat=n_time)))
    ll = np.where(mask[..., None], ll, 0.0)
    post = np.zeros((n_seq, n_time, n_states))
    counts = np.zeros((n_states, n_states))
    marg = np.zeros(n_seq)
    best = np.zeros((n_seq, n_time), dtype=int)
    for b in range(n_seq):
        last = np.flatnonzero(mask[b]).max() if mask[b].any() else -1
        joint = np.array(
            [
                log_pi[b, p[0]]
                + sum(log_a[p[t - 1], p[t]] for t in range(1, n_time))
                + sum(ll[b, t, p[t]] for t in range(n_time))
                for p in paths
            ]
        )
        marg[b] = logsumexp(joint)
        weights = np.exp(joint - marg[b])
        best[b] = paths[np.argmax(joint)]
        for w, p in zip(weights, paths, strict=True):
            post[b, np.arange(n_time), p] += w
            for t in range(1, last + 1):
                counts[p[t - 1], p[t]] += w
    return post, counts, marg, best


@settings(max_examples=25, deadline=None)
@given(
    n_time=st.integers(1, 4),
    n_states=st.integers(1, 3),
    n_seq=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
    masked=st.booleans(),
)
def test_matches_brute_force(n_time, n_states, n_seq, seed, masked):
    rng = np.random.default_rng(seed)
    log_pi, log_a, ll = _random_hmm(rng, n_seq, n_time, n_states)
    mask = rng.random((n_seq, n_time)) < 0.6 if masked else np.ones((n_seq, n_time), bool)
    ll_input = np.where(mask[..., None], ll, np.nan)  # masked frames may hold garbage
    post, counts, marg = forward_backward(log_pi, log_a, ll_input, mask)
    bf_post, bf_counts, bf_marg, bf_best = _brute_force(log_pi, log_a, ll, mask)
    np.testing.assert_allclose(marg, bf_marg, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(post, bf_post, atol=1e-9)
    np.testing.assert_allclose(counts, bf_counts, atol=1e-9)
    paths = viterbi(log_pi, log_a, ll_input, mask)
    ll_zero = np.where(mask[..., None], ll, 0.0)
    for b in range(n_seq):  # compare path scores (ties may pick different paths)
        def score(p, b=b):
            return log_pi[b, p[0]] + sum(log_a[p[t - 1], p[t]] for t in range(1, n_time)) + sum(
                ll_zero[b, t, p[t]] for t in range(n_time)
            )
        assert score(paths[b]) == pytest.approx(score(bf_best[b]), abs=1e-9)


def test_filter_predict_is_causal_and_consistent():
    rng = np.random.default_rng(1)
    log_pi, log_a, ll = _random_hmm(rng, 2, 30, 3)
    predicted, filtered, marg = filter_predict(log_pi, log_a, ll)
    _, _, marg_fb = forward_backward(log_pi, log_a, ll)
    np.testing.assert_allclose(marg, marg_fb)
    np.testing.assert_allclose(predicted[:, 0], np.exp(log_pi))
    np.testing.assert_allclose(predicted[:, 1:], filtered[:, :-1] @ np.exp(log_a))
    # changing the future does not change the predictions of the past
    ll2 = ll.copy()
    ll2[:, 20:] = rng.normal(size=ll2[:, 20:].shape)
    predicted2, _, _ = filter_predict(log_pi, log_a, ll2)
    np.testing.assert_allclose(predicted2[:, :21], predicted[:, :21])
    # the marginal likelihood equals the sum of one-step predictive log-likelihoods
    step = logsumexp(np.log(predicted) + ll, axis=-1).sum(axis=1)
    np.testing.assert_allclose(marg, step)


def test_padding_equals_unpadded():
    rng = np.random.default_rng(2)
    log_pi, log_a, ll = _random_hmm(rng, 1, 40, 4)
    post, counts, marg = forward_backward(log_pi[0], log_a, ll[:, :25])
    mask = np.zeros((1, 40), bool)
    mask[0, :25] = True
    post_p, counts_p, marg_p = forward_backward(log_pi[0], log_a, ll, mask)
    np.testing.assert_allclose(marg_p, marg)
    np.testing.assert_allclose(post_p[:, :25], post)
    np.testing.assert_allclose(counts_p, counts)


def test_extreme_loglik_does_not_underflow():
    rng = np.random.default_rng(3)
    log_pi, log_a, ll = _random_hmm(rng, 2, 500, 3)
    ll = ll * 1e4 - 1e6  # per-frame log-likelihoods of order -1e6
    post, counts, marg = forward_backward(log_pi, log_a, ll)
    assert np.isfinite(marg).all()
    np.testing.assert_allclose(post.sum(-1), 1.0)
    assert counts.sum() == pytest.approx(2 * 499)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros(2), np.log(np.full((2, 2), 0.5)), np.zeros((3, 2))), "must be \\(B, T, K\\)"),
        ((np.zeros(2), np.zeros((2, 2)), np.zeros((1, 3, 2))), "sum to 1"),
        ((np.log([0.5, 0.5]), np.log(np.full((2, 2), 0.5)), np.full((1, 3, 2), np.nan)), "NaN"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        forward_backward(*args)
