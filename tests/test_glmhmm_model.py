"""Switching AR-GLM: EM monotonicity, planted recovery, priors, masks and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.special import softmax
from sklearn.metrics import confusion_matrix

from pipelines.glmhmm import emissions
from pipelines.glmhmm.model import SwitchingGLM
from pipelines.glmhmm.planted import random_params, sample
from pipelines.glmhmm.priors import concrete_log_density


def _hungarian_accuracy(truth, labels):
    c = confusion_matrix(truth, labels)
    rows, cols = linear_sum_assignment(-c)
    return c[rows, cols].sum() / c.sum(), dict(zip(cols, rows, strict=False))


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(7)
    params = random_params(3, 8, rng, density=0.3, strength=0.3)
    states, y = sample(params, 3, 600, rng)
    return params, states, list(y)


@pytest.mark.parametrize(
    "prior, observation",
    [("none", "gaussian"), ("gaussian", "gaussian"), ("onehot", "gaussian"), ("gaussian", "studentt")],
)
def test_em_objective_is_monotone(planted, prior, observation):
    _, _, worms = planted
    model = SwitchingGLM(3, prior=prior, observation=observation, n_restarts=1, max_iter=25, tol=0, seed=1)
    model.fit([w[:300] for w in worms])
    trace = model.objective_
    assert len(trace) == 25
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:])), np.diff(trace).min()
    assert model.monotone_violations_ == 0


def test_planted_recovery(planted):
    params, states, worms = planted
    options = {"scale": 0.3, "shared_scale": 1.0}  # the planted couplings are O(0.3)
    model = SwitchingGLM(3, prior="gaussian", prior_options=options, n_restarts=2, seed=0).fit(worms)
    labels = np.concatenate([p.argmax(1) for p in model.predict_proba(worms)])
    accuracy, match = _hungarian_accuracy(states.ravel(), labels)
    assert accuracy > 0.95
    order = [match[k] for k in range(3)]  # fitted state k ↔ planted state match[k]
    fitted = model.params_.interaction
    truth = params.interaction[order]
    assert np.corrcoef(fitted.ravel(), truth.ravel())[0, 1] > 0.9
    np.testing.assert_allclose(model.params_.self_term, params.self_term[order], atol=0.1)
    # the fitted model scores about as well as the truth on its training data
    oracle = SwitchingGLM(3)
    oracle.params_, oracle.n_neurons_ = params, 8
    assert model.score(worms) > oracle.score(worms) - 0.02
    assert model.unused_states_.size == 0


def test_onehot_prior_recovers_connection_types():
    rng = np.random.default_rng(3)
    n = 8
    params = random_params(2, n, rng, density=0.4, strength=0.4)
    shared = params.interaction[0]  # same wiring in both states, different biases
    coef = params.coef.copy()
    coef[1, :, :n] = coef[0, :, :n]
    params = type(params)(params.log_initial, params.log_transition, coef, params.noise)
    _, y = sample(params, 4, 800, rng)
    options = {"learn_strength": True, "none_scale": 0.02, "strength": 0.2, "strength_scale": 0.2}
    model = SwitchingGLM(2, prior="onehot", prior_options=options, n_restarts=1, seed=0).fit(list(y))
    types = np.nanargmax(np.nan_to_num(model.prior_.type_probability(None), nan=-1), axis=-1) - 1
    off = ~np.eye(n, dtype=bool)
    assert (types[off] == np.sign(shared[off])).mean() > 0.9


def test_missing_neuron_adds_nothing(planted):
    params, _, worms = planted
    recorded = np.ones((3, 8), bool)
    recorded[1, 2] = False
    garbage = [w.copy() for w in worms]
    garbage[1][:, 2] = np.nan
    seq_a = emissions.prepare_sequences(worms, recorded)
    seq_b = emissions.prepare_sequences(garbage, recorded)
    ll_a = emissions.log_likelihood(params.coef, params.noise, seq_a)
    ll_b = emissions.log_likelihood(params.coef, params.noise, seq_b)
    np.testing.assert_allclose(ll_a, ll_b)
    # equals the log-likelihood with neuron 2 observed as a target (regressor still at the
    # mean 0) minus neuron 2's own Gaussian term
    y = seq_a.y.copy()
    y[1, :, 2] = np.where(seq_a.frames[1], np.nan_to_num(worms[1][:, 2]), 0.0)
    observed = seq_a.observed.copy()
    observed[1, :, 2] = seq_a.frames[1]
    full = emissions.Sequences(y, seq_a.x, observed, seq_a.frames, seq_a.recorded)
    mu = emissions.state_means(params.coef, full.x)[1]
    own = -0.5 * ((y[1, :, None, 2] - mu[..., 2]) ** 2 / params.noise[:, 2] + np.log(2 * np.pi * params.noise[:, 2]))
    own[~full.frames[1]] = 0.0
    ll_full = emissions.log_likelihood(params.coef, params.noise, full)
    np.testing.assert_allclose(ll_a[1], ll_full[1] - own, atol=1e-9)


def _simplex_grid(m):
    u = (np.arange(m) + 0.5) / m
    x1, x2 = np.meshgrid(u, u, indexing="ij")
    keep = x1 + x2 < 1
    pts = np.stack([x1[keep], x2[keep], 1 - x1[keep] - x2[keep]], axis=-1)
    return pts, 1.0 / m**2


@pytest.mark.parametrize("tau", [0.8, 1.5])
def test_concrete_density_normalised_and_centred_on_probabilities(tau):
    p = np.array([0.1, 0.7, 0.2])
    pts, area = _simplex_grid(1500)
    dens = np.exp(concrete_log_density(pts, np.log(p), tau))
    assert dens.sum() * area == pytest.approx(1.0, abs=1e-2)
    # Gumbel-max property: P(argmax x = c) = p_c for every temperature
    mass = np.array([dens[pts.argmax(1) == c].sum() * area for c in range(3)])
    np.testing.assert_allclose(mass, p, atol=1e-2)
    # the paper-version call (probabilities given as log-probabilities) is centred on softmax(p)
    bug = np.exp(concrete_log_density(pts, p, tau))
    mass_bug = np.array([bug[pts.argmax(1) == c].sum() * area for c in range(3)])
    np.testing.assert_allclose(mass_bug, softmax(p), atol=1e-2)
    assert np.abs(mass_bug - p).max() > 0.2


def test_concrete_density_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 3))
    x = rng.dirichlet(np.ones(3), size=5)
    dist = torch.distributions.RelaxedOneHotCategorical(torch.tensor(0.2, dtype=torch.float64), logits=torch.tensor(logits))
    expected = dist.log_prob(torch.tensor(x)).numpy()
    np.testing.assert_allclose(concrete_log_density(x, logits, 0.2), expected, rtol=1e-10)


def test_bad_input_messages(planted):
    _, _, worms = planted
    constant = [w.copy() for w in worms]
    constant[0][:, 3] = 1.0
    with pytest.raises(ValueError, match="constant"):
        SwitchingGLM(2).fit(constant)
    recorded = np.ones((3, 8), bool)
    all_nan = [w.copy() for w in worms]
    all_nan[2][:, 5] = np.nan
    with pytest.raises(ValueError, match="all-NaN"):
        SwitchingGLM(2).fit(all_nan, recorded)
    never = [w.copy() for w in worms]
    for w in never:
        w[:, 4] = np.nan
    with pytest.raises(ValueError, match="every worm"):
        SwitchingGLM(2).fit(never)
    with pytest.raises(ValueError, match="too few frames"):
        SwitchingGLM(2).fit([w[:5] for w in worms])
    with pytest.raises(ValueError, match="too few frames"):
        SwitchingGLM(300).fit(worms)
    with pytest.raises(ValueError, match="prior must be"):
        SwitchingGLM(2, prior="laplace").fit(worms)


def test_one_step_prediction_uses_only_the_past(planted):
    _, _, worms = planted
    model = SwitchingGLM(2, n_restarts=1, max_iter=10).fit(worms)
    pred = model.predict(worms)
    changed = [w.copy() for w in worms]
    changed[0][400:] += 5.0
    pred2 = model.predict(changed)
    np.testing.assert_allclose(pred[0][:401], pred2[0][:401])
    assert np.isnan(pred[0][0]).all()


def test_scoring_a_worm_missing_neurons(planted):
    _, _, worms = planted
    model = SwitchingGLM(2, n_restarts=1, max_iter=5).fit(worms)
    partial = worms[0].copy()
    partial[:, 3] = np.nan
    marginal, n_obs = model.loglik([partial])
    assert np.isfinite(marginal).all() and n_obs[0] == (len(partial) - 1) * 7
