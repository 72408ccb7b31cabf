"""glmhmm options: state-shared noise, detrending, cross-validated K choice, behaviour null,
and the connectivity AUROC shared with the connectome stage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import confusion_matrix, roc_auc_score

from pipelines.glmhmm import emissions, mstep
from pipelines.glmhmm.emissions import detrend, prepare_sequences, sufficient_stats
from pipelines.glmhmm.evaluate import behaviour_null, connectivity_auroc
from pipelines.glmhmm.model import SwitchingGLM
from pipelines.glmhmm.planted import random_params, sample
from pipelines.glmhmm.select import block_folds, heldout_curve


@pytest.fixture(scope="module")
def planted():
    """3 states with equal noise (so shared noise is the true model), 3 worms × 500 frames."""
    rng = np.random.default_rng(11)
    params = random_params(3, 6, rng, density=0.3, strength=0.3)
    states, y = sample(params, 3, 500, rng)
    return params, states, list(y)


def test_shared_noise_em_is_monotone_and_recovers_states(planted):
    params, states, worms = planted
    model = SwitchingGLM(3, prior="gaussian", prior_options={"scale": 0.3, "shared_scale": 1.0},
                         noise="shared", n_restarts=2, max_iter=60, seed=0).fit(worms)
    assert model.monotone_violations_ == 0
    noise = model.params_.noise
    np.testing.assert_array_equal(noise, np.broadcast_to(noise[0], noise.shape))  # one variance per neuron
    np.testing.assert_allclose(noise[0], params.noise[0], rtol=0.25)
    labels = np.concatenate([p.argmax(1) for p in model.predict_proba(worms)])
    c = confusion_matrix(states.ravel(), labels)
    rows, cols = linear_sum_assignment(-c)
    assert c[rows, cols].sum() / c.sum() > 0.9


def test_shared_noise_update_is_the_pooled_maximiser(planted):
    """The shared M-step is the exact maximiser: perturbing it lowers the expected objective."""
    _, states, worms = planted
    seq = prepare_sequences(worms)
    gamma = np.eye(3)[states][:, : seq.frames.shape[1]]
    stats = sufficient_stats(seq, gamma)
    coef = np.random.default_rng(0).normal(scale=0.1, size=(3, 6, 7))
    shape, rate = 1.0, 0.01
    noise = mstep.update_noise(stats, coef, shape, rate, shared=True)
    rss = mstep.residual_sum_of_squares(stats, coef)

    def objective(s):  # Σ_k expected Gaussian log-lik of neuron variances s (N,) + one prior term
        return float(np.sum(-0.5 * stats.count * np.log(s) - rss / (2 * s))
                     + mstep.log_inverse_gamma(s, shape, rate))

    best = objective(noise[0])
    for factor in (0.9, 1.1):
        assert objective(noise[0] * factor) < best
    with pytest.raises(ValueError, match="noise must be"):
        SwitchingGLM(2, noise="worm").fit(worms)


@settings(max_examples=25, deadline=None)
@given(degree=st.integers(0, 3), length=st.integers(20, 200), seed=st.integers(0, 2**16))
def test_detrend_removes_polynomial_trends(degree, length, seed):
    rng = np.random.default_rng(seed)
    t = np.linspace(-1, 1, length)
    signal = rng.normal(size=(length, 3))
    trend = np.stack([np.polyval(rng.normal(size=degree + 1) * 5, t) for _ in range(3)], axis=1)
    y = signal + trend
    y[rng.random(length) < 0.1, 1] = np.nan  # NaN frames are skipped in the fit and kept
    y[:, 2] = np.nan  # an unrecorded neuron stays NaN
    (out,) = detrend([y], degree)
    assert np.array_equal(np.isnan(out), np.isnan(y))
    # what is left is the signal minus its own least-squares trend: no trend of this degree
    basis = np.vander(t, degree + 1)
    ok = np.isfinite(out[:, 1])
    for i, mask in ((0, np.ones(length, bool)), (1, ok)):
        residual_fit, *_ = np.linalg.lstsq(basis[mask], out[mask, i], rcond=None)
        np.testing.assert_allclose(residual_fit, 0.0, atol=1e-8)
        signal_fit, *_ = np.linalg.lstsq(basis[mask], signal[mask, i], rcond=None)
        np.testing.assert_allclose(out[mask, i], signal[mask, i] - basis[mask] @ signal_fit, atol=1e-8)
    with pytest.raises(ValueError, match="degree"):
        detrend([y], -1)


@settings(max_examples=30, deadline=None)
@given(length=st.integers(10, 1000), block=st.integers(5, 120), folds=st.integers(2, 6), seed=st.integers(0, 99))
def test_block_folds_hold_every_block_out_once(length, block, folds, seed):
    fold = block_folds(length, block, folds, np.random.default_rng(seed))
    assert fold.shape == (length,) and fold.min() >= 0 and fold.max() < folds
    runs = np.flatnonzero(np.diff(fold)) + 1  # folds change only at block edges
    size = -(-length // max(-(-length // block), folds))
    assert np.all(runs % size == 0)
    counts = np.bincount(fold, minlength=folds)
    if length >= folds * size:
        assert counts.min() > 0  # every fold holds something out


def test_cross_validated_curve_prefers_the_planted_k(planted):
    _, _, worms = planted
    recorded = np.ones((3, 6), bool)
    curve = heldout_curve(worms, recorded, [1, 3], lambda k: SwitchingGLM(
        k, prior="gaussian", prior_options={"scale": 0.3, "shared_scale": 1.0}, noise="shared",
        n_restarts=1, max_iter=30), block=50, heldout_worms=False, folds=3)
    assert curve["heldout_fold_loglik"].shape == (2, 3)
    # every fold prefers 3 states, and the pooled curve is the count-weighted fold mean
    assert np.all(curve["heldout_fold_loglik"].sel(n_states=3) > curve["heldout_fold_loglik"].sel(n_states=1))
    pooled = curve["heldout_loglik"].values
    folds = curve["heldout_fold_loglik"].values
    assert np.all((pooled >= folds.min(1) - 1e-12) & (pooled <= folds.max(1) + 1e-12))
    with pytest.raises(ValueError, match="folds"):
        heldout_curve(worms, recorded, [1], lambda k: SwitchingGLM(k), folds=0)


def test_behaviour_null_detects_aligned_states_only():
    rng = np.random.default_rng(3)
    reversal, velocity, aligned, unrelated = [], [], [], []
    for _ in range(4):
        z = np.repeat(rng.integers(0, 3, size=30), 20)  # dwell of 20 frames
        reversal.append((z == 2).astype(float))
        velocity.append(np.where(z == 2, -1.0, 1.0) + rng.normal(scale=0.5, size=z.size))
        aligned.append(z)
        unrelated.append(np.repeat(rng.integers(0, 3, size=30), 20))
    reversal[0][:5] = np.nan  # missing behaviour frames are skipped
    hit = behaviour_null(aligned, reversal, velocity, n_shifts=50, seed=0)
    miss = behaviour_null(unrelated, reversal, velocity, n_shifts=50, seed=0)
    for name in ("reversal_nmi", "velocity_eta2"):
        assert hit[name]["p_value"] == pytest.approx(1 / 51)
        assert hit[name]["observed"] > hit[name]["null_q95"]
        assert miss[name]["p_value"] > 0.05


@settings(max_examples=20, deadline=None)
@given(n=st.integers(3, 12), seed=st.integers(0, 999))
def test_connectivity_auroc_is_the_shared_auroc(n, seed):
    rng = np.random.default_rng(seed)
    score = rng.normal(size=(n, n)).round(1)  # ties count one half in both
    adjacency = rng.random((n, n)) < 0.4
    keep = ~np.eye(n, dtype=bool)
    truth = adjacency[keep]
    value = connectivity_auroc(score, adjacency)
    if truth.all() or not truth.any():
        assert np.isnan(value)
    else:
        assert value == pytest.approx(roc_auc_score(truth, score[keep]))


# ---------------------------------------------------------------------------------------------
# own-history (self_lags) regressors


@pytest.fixture(scope="module")
def planted_momentum():
    """2 states, 6 neurons whose own activity is an AR(2) with momentum (1.3, -0.45)."""
    rng = np.random.default_rng(5)
    params = random_params(2, 6, rng, density=0.3, strength=0.1, self_term=1.3, own_lags=(-0.45,))
    states, y = sample(params, 3, 600, rng)
    return params, states, list(y)


@settings(max_examples=20, deadline=None)
@given(self_lags=st.integers(1, 4), lags=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_own_lag_regressors_are_the_neurons_own_past(self_lags, lags, seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(40, 4))
    y[17, 1] = np.nan  # a NaN frame invalidates the frames that would use it as history
    seq = prepare_sequences([y], self_lags=self_lags, lags=lags)
    depth = max(lags, self_lags)
    assert seq.n_own == self_lags - 1 and seq.n_coef == 4 + 1 + self_lags - 1
    assert not seq.frames[0, :depth].any()
    assert not seq.frames[0, 17:18 + depth].any() and seq.frames[0, 18 + depth:].all()
    for t in np.flatnonzero(seq.frames[0]):
        for s in range(self_lags - 1):
            np.testing.assert_array_equal(seq.own[0, t, :, s], y[t - 2 - s])


def test_residual_sum_of_squares_with_own_lags_is_the_weighted_residual(planted_momentum):
    _, states, worms = planted_momentum
    worms = [w.copy() for w in worms]
    worms[1][:, 2] = np.nan  # neuron 2 unrecorded in worm 1: a second recording pattern
    seq = prepare_sequences(worms, self_lags=3)
    rng = np.random.default_rng(0)
    gamma = rng.dirichlet(np.ones(2), size=seq.frames.shape)
    coef = rng.normal(scale=0.2, size=(2, 6, seq.n_coef))
    for weights in (None, rng.uniform(0.5, 1.5, size=seq.frames.shape + (2, 6))):
        stats = sufficient_stats(seq, gamma, weights)
        means = emissions.state_means(coef, seq.x, seq.own)  # (B, T, K, N)
        w = np.where(seq.frames[..., None], gamma, 0.0)[..., None] * seq.observed[:, :, None]
        if weights is not None:
            w = w * weights
        direct = np.einsum("btkn,btkn->kn", w, (seq.y[:, :, None] - means) ** 2)
        np.testing.assert_allclose(mstep.residual_sum_of_squares(stats, coef), direct, rtol=1e-8)


@pytest.mark.parametrize("observation", ["gaussian", "studentt"])
def test_own_lags_em_is_monotone_and_recovers_the_kinetics(planted_momentum, observation):
    params, states, worms = planted_momentum
    options = {"scale": 0.1, "shared_scale": 1.0}
    model = SwitchingGLM(2, prior="gaussian", prior_options=options, self_lags=2, n_restarts=2,
                         observation=observation, seed=0).fit(worms)
    assert model.monotone_violations_ == 0
    labels = np.concatenate([p.argmax(1) for p in model.predict_proba(worms)])
    c = confusion_matrix(states[:, 2:].ravel(), labels[np.concatenate(
        [np.arange(len(w)) >= 2 for w in worms])])
    rows, cols = linear_sum_assignment(-c)
    assert c[rows, cols].sum() / c.sum() > 0.9
    history = model.params_.self_history  # (K, N, 2): lag 1 and lag 2
    np.testing.assert_allclose(history[..., 0], 1.3, atol=0.12)
    np.testing.assert_allclose(history[..., 1], -0.45, atol=0.12)
    if observation == "gaussian":  # an AR(1) self term cannot express the momentum
        short = SwitchingGLM(2, prior="gaussian", prior_options=options, self_lags=1,
                             n_restarts=2, seed=0).fit(worms)
        clipped = [w[1:] for w in worms]  # score both on the same frames
        assert model.score(worms) > short.score(clipped) + 0.05


# ---------------------------------------------------------------------------------------------
# one-step skill against copy-last


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n_seq=st.integers(2, 6))
def test_one_step_skill_is_zero_for_persistence_and_one_for_the_truth(seed, n_seq):
    from pipelines.glmhmm.evaluate import copy_last, one_step_skill, skill_interval

    rng = np.random.default_rng(seed)
    ys = [np.cumsum(rng.normal(size=(int(rng.integers(5, 40)), 3)), axis=0) for _ in range(n_seq)]
    ys[0][2, 1] = np.nan
    persistence = [copy_last(y) for y in ys]
    truth = [np.where(np.isfinite(p), y, np.nan) for y, p in zip(ys, persistence, strict=True)]
    np.testing.assert_allclose(one_step_skill(ys, persistence), 0.0, atol=1e-12)
    np.testing.assert_allclose(one_step_skill(ys, truth), 1.0)
    shrunk = [0.5 * p + 0.5 * t for p, t in zip(persistence, truth, strict=True)]  # halfway
    np.testing.assert_allclose(one_step_skill(ys, shrunk), 0.75)
    out = skill_interval(ys, truth, baseline=persistence, n_boot=200)
    assert out["skill"] == pytest.approx(1.0) and out["gain"] == pytest.approx(1.0)
    assert out["gain_low"] <= out["gain"] <= out["gain_high"] and out["gain_p"] == 0.0
    shifted = [np.vstack([np.full((1, 3), np.nan), p[1:]]) for p in persistence]
    shifted[0][1] = np.nan  # other frames than the model: refused
    with pytest.raises(ValueError, match="same frames"):
        skill_interval(ys, truth, baseline=shifted, n_boot=10)
