"""Tests of the masked non-negative CP decomposition, rank selection, anatomy overlap and the
dfc pipeline end to end on planted communities."""

from __future__ import annotations

import numpy as np
import pytest
import tensorly as tl
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from tensorly.decomposition import non_negative_parafac_hals

from pipelines.connectome.compare import auroc, degree_preserving_shuffle
from pipelines.dfc.communities import activation_motif, coherence_motif
from pipelines.dfc.ntf import CPFit, NonNegativeCP, fit_ncp
from pipelines.dfc.rank import (
    RankSettings,
    baseline_components,
    effective_worms,
    factor_similarity,
    rank_sweep,
    select_rank,
    time_shift_null,
)
from pipelines.dfc.structure import anatomy_overlap
from pipelines.dfc.synthetic import planted_communities, planted_cp_tensor

FAST = dict(tol=1e-5, max_iter=300)


def truth_fit(factors) -> CPFit:
    return CPFit([np.asarray(f, np.float32) for f in factors], np.ones(factors[0].shape[1]),
                 np.zeros(1), True)


def test_planted_recovery_with_missing_entries():
    tensor, factors = planted_cp_tensor((60, 10, 150), 3, noise=0.1, seed=1)
    rng = np.random.default_rng(0)
    mask = rng.random(tensor.shape) > 0.3  # 30% missing entries
    mask &= (rng.random((1, 10, 150)) > 0.1)  # and whole (worm, pair) fibres: missing neurons
    data = np.where(mask, tensor, np.nan)
    fits = fit_ncp(data, [3] * 3, seed=0, **FAST)
    best = min(fits, key=lambda f: f.final_error)
    score, _ = factor_similarity(best, truth_fit(factors))
    assert score >= 0.95
    # the error is measured on observed entries only
    estimate = best.reconstruct()
    direct = np.sqrt(((tensor - estimate)[mask] ** 2).sum() / (tensor[mask] ** 2).sum())
    assert best.final_error == pytest.approx(direct, rel=1e-3)


def test_same_or_lower_error_than_tensorly_hals():
    tensor, _ = planted_cp_tensor((40, 8, 60), 3, noise=0.3, seed=2)
    ours = min(fit_ncp(tensor, [3] * 3, seed=0, tol=1e-7, max_iter=500),
               key=lambda f: f.final_error)
    errors = []
    for seed in range(3):
        _, errs = non_negative_parafac_hals(tl.tensor(tensor.astype(np.float64)), 3,
                                            init="random", random_state=seed, n_iter_max=500,
                                            tol=1e-9, return_errors=True)
        errors.append(errs[-1])
    assert ours.final_error <= min(errors) * (1 + 1e-4)
    # and the error trace is the true relative error of the returned factors
    direct = np.linalg.norm(tensor - ours.reconstruct()) / np.linalg.norm(tensor)
    assert ours.final_error == pytest.approx(direct, rel=1e-3)


def test_batched_starts_equal_separate_fits():
    tensor, _ = planted_cp_tensor((30, 6, 40), 2, noise=0.2, seed=3)
    together = fit_ncp(tensor, [2, 3], seed=5, **FAST)
    alone = fit_ncp(tensor, [3], seed=5, init=[_init(tensor, 3, 5, 1)], **FAST)[0]
    np.testing.assert_allclose(together[1].error, alone.error, rtol=1e-4)
    assert together[1].rank == 3 and together[0].rank == 2


def _init(tensor, rank, seed, start):
    from pipelines.dfc.ntf import random_factors

    norm = float(np.linalg.norm(tensor.astype(np.float64)))
    return random_factors(tensor.shape, rank, np.random.default_rng([seed, start]), norm)


def test_cptensor_output_is_tensorly_compatible():
    tensor, _ = planted_cp_tensor((20, 5, 30), 2, noise=0.1, seed=4)
    fit = fit_ncp(tensor, [2], **FAST)[0]
    np.testing.assert_allclose(tl.cp_to_tensor(fit.to_cptensor()), fit.reconstruct(), atol=1e-5)


def test_estimator_transform_maps_new_worms():
    tensor, factors = planted_cp_tensor((50, 14, 120), 3, noise=0.05, seed=6)
    model = NonNegativeCP(rank=3, n_starts=2, **FAST).fit(tensor[:, :10])
    assert model.worm_factor_.shape == (10, 3)
    loadings = model.transform(tensor[:, 10:])
    # mapping the training worms gives back their loadings
    np.testing.assert_allclose(model.transform(tensor[:, :3]), model.worm_factor_[:3],
                               rtol=0.05, atol=0.05 * model.worm_factor_.max())
    # new worms: loadings proportional to the planted ones, component by component
    _, match = factor_similarity(truth_fit([f[:, :] for f in
                                            [model.time_factor_, model.worm_factor_,
                                             model.pair_factor_]]),
                                 truth_fit([factors[0], factors[1][:10], factors[2]]))
    for ours, planted in match:
        r = np.corrcoef(loadings[:, ours], factors[1][10:, planted])[0, 1]
        assert r > 0.95
    with pytest.raises(ValueError, match="transform needs"):
        model.transform(tensor[:-1, 10:])


def test_bad_input_gives_clear_errors():
    tensor, _ = planted_cp_tensor((20, 5, 30), 2, seed=7)
    with pytest.raises(ValueError, match="at least 2 worms"):
        fit_ncp(tensor[:, :1], [2])
    with pytest.raises(ValueError, match="exceeds min"):
        fit_ncp(tensor[:, :, :4], [5])
    with pytest.raises(ValueError, match="parameters"):
        fit_ncp(tensor[:5, :2, :8], [3])
    nan_pair = tensor.copy()
    nan_pair[:, :, 3] = np.nan
    with pytest.raises(ValueError, match="pair.*no observed entry"):
        fit_ncp(nan_pair, [2])
    with pytest.raises(ValueError, match="non-negative"):
        fit_ncp(tensor - 1, [2])
    with pytest.raises(ValueError, match="3-way"):
        fit_ncp(tensor[0], [2])
    with pytest.raises(ValueError, match="n_starts"):
        NonNegativeCP(rank=2, n_starts=0).fit(tensor)


def test_factor_similarity_is_permutation_invariant():
    rng = np.random.default_rng(0)
    factors = [rng.random((n, 3)) for n in (10, 4, 12)]
    fit = truth_fit(factors)
    permuted = truth_fit([f[:, [2, 0, 1]] for f in factors])
    score, match = factor_similarity(fit, permuted)
    assert score == pytest.approx(1.0)
    assert sorted(map(tuple, match)) == [(0, 1), (1, 2), (2, 0)]
    other = truth_fit([rng.random((n, 3)) for n in (10, 4, 12)])
    assert factor_similarity(fit, other)[0] < 0.9


def test_rank_selection_recovers_rank_and_flags_baseline():
    # the spec's failure mode: clipping the noise at 0 adds a flat floor that one extra
    # component absorbs; the rule must pick it and flag it, not present it as a motif
    tensor, factors = planted_cp_tensor((80, 12, 150), 3, noise=0.5, seed=8)
    # plain NTF (sparsity 0): an L1 penalty on the pair factor shrinks a dense floor
    plain = dict(FAST, sparsity=0.0, pooling=0.0)
    evidence, best = rank_sweep(tensor, RankSettings(ranks=(2, 3, 4, 5), n_starts=3, **plain))
    rank = evidence.attrs["selected_rank"]
    flags = baseline_components(best[rank])
    assert rank - flags.sum() == 3
    assert flags.sum() == 1
    motifs = best[rank]
    kept = truth_fit([f[:, ~flags] for f in motifs.factors])
    assert factor_similarity(kept, truth_fit(factors))[0] > 0.9
    assert set(evidence.data_vars) >= {"error", "best_error", "similarity", "heldout_error"}
    assert np.isfinite(evidence["heldout_error"]).all()
    # without the floor (small noise), the planted rank itself and no baseline
    clean, _ = planted_cp_tensor((80, 12, 150), 3, noise=0.02, seed=8)
    evidence, best = rank_sweep(clean, RankSettings(ranks=(2, 3, 4), n_starts=2, **plain))
    assert evidence.attrs["selected_rank"] == 3
    assert not baseline_components(best[3]).any()


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (7, 3), elements=st.one_of(st.just(0.0), st.floats(1e-3, 10)))
       .filter(lambda b: (b.sum(0) > 0).all()))
def test_effective_worms_counts_the_worms_that_carry_a_component(worm):
    fit = CPFit([np.ones((4, 3), np.float32), worm.astype(np.float32),
                 np.ones((5, 3), np.float32)], np.ones(3, np.float32), np.zeros(1), True)
    count = effective_worms(fit)
    assert np.all(count >= 1 - 1e-6) and np.all(count <= 7 + 1e-6)
    assert np.all(count <= (worm > 0).sum(0) + 1e-6)  # never more than the worms loading it
    one_hot = CPFit([fit.factors[0], np.eye(7, 3, dtype=np.float32) * 5, fit.factors[2]],
                    fit.weights, fit.error, True)
    assert np.allclose(effective_worms(one_hot), 1.0)
    even = CPFit([fit.factors[0], np.full((7, 3), 0.3, np.float32), fit.factors[2]],
                 fit.weights, fit.error, True)
    assert np.allclose(effective_worms(even), 7.0)


def _shared_and_single_worm_tensor(seed=0):
    """Two components shared by all 12 worms and one strong event of worm 4 on its own pairs."""
    rng = np.random.default_rng(seed)
    n_time, n_worms, n_pairs = 40, 12, 60
    t = np.arange(n_time)[:, None]
    time_f = np.exp(-0.5 * ((t - np.array([10, 28, 20])) / 3.0) ** 2)
    worm_f = np.column_stack([rng.uniform(0.8, 1.2, n_worms), rng.uniform(0.8, 1.2, n_worms),
                              np.eye(n_worms)[:, 4] * 4])
    pair_f = np.zeros((n_pairs, 3))
    pair_f[:20, 0] = pair_f[20:40, 1] = pair_f[40:, 2] = 1
    noise = np.abs(rng.normal(0, 0.05, (n_time, n_worms, n_pairs)))
    return (np.einsum("tr,wr,pr->twp", time_f, worm_f, pair_f) + noise).astype(np.float32)


def test_pooling_prefers_shared_components_to_one_worms_event():
    tensor = _shared_and_single_worm_tensor()
    plain = min(fit_ncp(tensor, [2] * 3, seed=0, tol=1e-6), key=lambda f: f.final_objective)
    pooled = min(fit_ncp(tensor, [2] * 3, seed=0, tol=1e-6, pooling=1.0),
                 key=lambda f: f.final_objective)
    # the plain NTF spends one of its two components on worm 4's event ...
    assert effective_worms(plain).min() < 1.5
    # ... the pooled one keeps both shared components
    assert effective_worms(pooled).min() > 10
    shared = np.zeros((60, 2))
    shared[:20, 0] = shared[20:40, 1] = 1
    cosine = (pooled.factors[2].T @ shared) / np.linalg.norm(shared, axis=0)
    assert np.sort(cosine.max(axis=0)).min() > 0.95
    # every update minimises the penalised objective (exact coordinate steps, float32 jitter)
    assert np.diff(pooled.objective).max() < 1e-5
    assert pooled.objective[-1] >= pooled.error[-1]
    # the refit of the worm loadings without pooling keeps the components and unshrinks them
    from pipelines.dfc.ntf import refit_worm_loadings

    refit = refit_worm_loadings(tensor, pooled, tol=1e-6)
    assert refit.final_error <= pooled.final_error + 1e-6
    np.testing.assert_array_equal(refit.factors[2], pooled.factors[2])
    with pytest.raises(ValueError, match="pooling must be >= 0"):
        fit_ncp(tensor, [2], pooling=-1.0)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.1, 10), st.floats(0.1, 10), st.integers(0, 2**16))
def test_pooling_penalty_is_scale_free(alpha, beta, seed):
    from pipelines.dfc.ntf import _objective

    rng = np.random.default_rng(seed)
    factors = [rng.random((6, 2)), rng.random((5, 2)), rng.random((7, 2))]
    scaled = [factors[0] * alpha, factors[1] * beta, factors[2] / (alpha * beta)]
    no_l1 = np.zeros(7, np.float32)
    assert _objective(0.0, factors, no_l1, 0.7, 1.0) == pytest.approx(
        _objective(0.0, scaled, no_l1, 0.7, 1.0), rel=1e-9)
    assert _objective(0.0, factors, no_l1, 0.0, 1.0) == 0.0


def test_select_rank_rule():
    ev = xr.Dataset({"best_error": ("rank", [0.6, 0.4, 0.33, 0.329, 0.328]),
                     "similarity": ("rank", [1.0, 1.0, 0.5, 0.95, 0.9]),
                     "heldout_error": ("rank", [0.7, 0.5, 0.40, 0.401, 0.41])},
                    coords={"rank": [2, 3, 4, 5, 6]})
    heldout = RankSettings(selection="heldout")
    rank, reason = select_rank(ev, heldout)
    assert rank == 5 and reason.startswith("smallest rank meeting all")
    ev["similarity"][:] = 0.2
    rank, reason = select_rank(ev, heldout)
    assert rank == 4 and "no rank had stable factors" in reason


def test_select_rank_null_and_both_rules():
    ev = xr.Dataset({"best_error": ("rank", [0.9, 0.85, 0.82, 0.80, 0.79]),
                     "similarity": ("rank", [1.0, 1.0, 1.0, 1.0, 1.0]),
                     "heldout_error": ("rank", [0.7, 0.6, 0.61, 0.62, 0.63]),
                     "excess": ("rank", [0.01, 0.03, 0.025, 0.04, 0.02])},
                    coords={"rank": [2, 3, 4, 5, 6]})
    # one unlucky rank (4) does not end the sweep: the cumulative excess peaks at 5
    assert select_rank(ev, RankSettings(selection="null"))[0] == 5
    assert select_rank(ev, RankSettings(selection="heldout"))[0] == 3
    rank, reason = select_rank(ev, RankSettings(selection="both"))
    assert rank == 5 and "null rank 5" in reason and "held-out rank 3" in reason
    ev["excess"][:] = [-0.01, -0.02, 0.0, -0.01, -0.03]
    rank, reason = select_rank(ev, RankSettings(selection="null"))
    assert rank == 2 and "nothing is time-locked" in reason
    # several null draws: an excess within 2 SDs of the draws is chance
    ev["excess"][:] = [0.01, 0.03, 0.025, 0.04, 0.02]
    ev["excess_sd"] = ("rank", [0.01, 0.01, 0.01, 0.03, 0.01])  # rank 5: best but noisy
    assert select_rank(ev, RankSettings(selection="null"))[0] == 3
    ev["excess_sd"][:] = 0.05
    rank, reason = select_rank(ev, RankSettings(selection="null"))
    assert rank == 2 and "2 SDs" in reason
    ev["excess_sd"][:] = 0.005
    assert select_rank(ev, RankSettings(selection="null"))[0] == 5
    with pytest.raises(ValueError, match="rank selection"):
        RankSettings(selection="oracle")
    with pytest.raises(ValueError, match="null_draws"):
        RankSettings(null_draws=0)


def test_time_shift_null_keeps_each_worm_and_breaks_alignment():
    rng = np.random.default_rng(0)
    time = np.arange(100)
    shared = ((time % 25) < 5).astype(np.float32)  # a pulse train locked across worms
    data = np.repeat(shared[:, None, None], 6, axis=1) * rng.random((1, 6, 20)).astype(np.float32)
    observed = np.ones(data.shape, bool)
    observed[:, 2, :5] = False  # whole (worm, pair) fibres missing
    null, mask = time_shift_null(data, observed, np.random.default_rng(1))
    for w in range(6):  # the same values per worm and pair, only moved in time
        assert np.allclose(np.sort(null[:, w], axis=0), np.sort(data[:, w], axis=0))
    assert np.array_equal(mask.any(axis=0), observed.any(axis=0))
    lags = [int(np.argmax(np.correlate(np.tile(null[:, w, 0], 2), data[:, w, 0], "valid")))
            for w in range(6)]
    assert len(set(lags)) > 1  # worms are no longer aligned
    assert null.dtype == data.dtype


def test_sparsity_zeroes_noise_pairs_only():
    rng = np.random.default_rng(3)
    time = np.zeros(60, np.float32)
    time[10:25] = 1.0
    signal = np.zeros(220, np.float32)
    signal[:10] = 1.0
    worms = rng.uniform(0.5, 1.0, 8).astype(np.float32)
    data = np.einsum("t,w,p->twp", time, worms, signal) + np.abs(
        0.3 * rng.standard_normal((60, 8, 220))).astype(np.float32)
    plain = min(fit_ncp(data, [2] * 2, seed=0), key=lambda f: f.final_objective)
    sparse = min(fit_ncp(data, [2] * 2, seed=0, sparsity=3.0), key=lambda f: f.final_objective)
    for fit in (plain, sparse):  # the component of the planted window
        motif = int(np.argmax(fit.factors[0][10:25].sum(axis=0)))
        pairs = fit.factors[2][:, motif]
        assert (pairs[:10] > 0).all()
    plain_pairs = plain.factors[2][:, int(np.argmax(plain.factors[0][10:25].sum(axis=0)))]
    sparse_pairs = sparse.factors[2][:, int(np.argmax(sparse.factors[0][10:25].sum(axis=0)))]
    assert (sparse_pairs[10:] == 0).mean() > 0.9
    assert (plain_pairs[10:] == 0).mean() < 0.5
    # the penalised objective is what the starts are compared on; it is >= the error
    assert sparse.final_objective > sparse.final_error
    assert plain.final_objective == plain.final_error
    with pytest.raises(ValueError, match="sparsity"):
        fit_ncp(data, [2], sparsity=-1.0)


def test_refit_pair_loadings_is_the_per_pair_nnls_without_shrinkage():
    """The refit of the pair mode (time and worm fixed, no L1) is each pair's non-negative
    least squares on the fixed patterns over its observed entries (checked against SciPy's
    NNLS, also for a pair recorded in 3 worms), and keeps the planted proportions that the
    soft threshold distorts."""
    from scipy.optimize import nnls

    from pipelines.dfc.ntf import refit_pair_loadings

    rng = np.random.default_rng(5)
    time = np.zeros((50, 2), np.float32)
    time[5:20, 0] = time[25:45, 1] = 1.0
    worms = rng.uniform(0.5, 1.0, (10, 2)).astype(np.float32)
    loadings = np.zeros((120, 2), np.float32)
    loadings[:12, 0] = rng.uniform(0.5, 1.0, 12)
    loadings[12:24, 1] = rng.uniform(0.5, 1.0, 12)
    data = np.einsum("tr,wr,pr->twp", time, worms, loadings) + np.abs(
        0.2 * rng.standard_normal((50, 10, 120))).astype(np.float32)
    observed = np.ones(data.shape, bool)
    observed[:, rng.random((10, 120)) < 0.2] = False  # 20% missing (worm, pair) fibres
    observed[:, :, 0] = np.arange(10) < 3  # pair 0 recorded in worms 0-2 only
    sparse = min(fit_ncp(data, [2] * 2, observed, seed=0, sparsity=2.0, tol=1e-6),
                 key=lambda f: f.final_objective)
    loading = refit_pair_loadings(data, sparse, observed, tol=1e-7, max_iter=2000)
    assert loading.shape == (120, 2) and loading.dtype == np.float32 and (loading >= 0).all()
    # each pair's loading is its NNLS on the fixed (time x worm) patterns, in the units of
    # the fit's unit-norm pair factor (the fit's weights carry the amplitude)
    patterns = np.einsum("tr,wr->twr", sparse.factors[0], sparse.factors[1] * sparse.weights)
    for p in (0, 5, 15, 60):
        rows = observed[:, :, p]
        expected, _ = nnls(patterns[rows].astype(float), data[:, :, p][rows].astype(float))
        np.testing.assert_allclose(loading[p], expected, rtol=2e-3, atol=2e-3)
    # the soft threshold subtracts from every planted pair's loading, which a common scale
    # cannot undo; the refit is proportional to the planted loadings up to noise
    motif = int(np.argmax(sparse.factors[0][5:20].sum(axis=0)))
    planted = loadings[:12, 0]

    def misfit(estimate):  # relative residual of the best proportional fit to the truth
        scale = estimate @ planted / (estimate @ estimate)
        return np.linalg.norm(scale * estimate - planted) / np.linalg.norm(planted)

    assert misfit(loading[:12, motif]) < misfit(sparse.factors[2][:12, motif])


def test_anatomy_overlap_against_shuffles():
    from pipelines.common import NEURONS

    rng = np.random.default_rng(0)
    names = list(NEURONS[:30])
    first, second = np.triu_indices(30, 1)
    adjacency = rng.random((30, 30)) < 0.15
    adjacency = np.triu(adjacency, 1) | np.triu(adjacency, 1).T
    weight = xr.DataArray(np.stack([adjacency, np.zeros_like(adjacency)]).astype(np.float32),
                          dims=("layer", "pre", "post"),
                          coords={"layer": ["chemical", "gap"], "pre": names, "post": names})
    edge = adjacency[first, second]
    informative = edge + 0.1 * rng.random(edge.size)
    noise = rng.random(edge.size)
    out = anatomy_overlap(np.stack([informative, noise]), np.array(names)[first],
                          np.array(names)[second], weight, n_shuffles=50)
    assert out["anatomy_auroc"].values[0] == pytest.approx(1.0)
    assert out["anatomy_p"].values[0] < 0.05
    assert 0.3 < out["anatomy_auroc"].values[1] < 0.7
    assert out["anatomy_null_mean"].values[0] == pytest.approx(0.5, abs=0.1)
    assert out.attrs["anatomy_pairs"] == first.size
    # the undirected shuffles keep every neuron's degree, the symmetry and the edge count
    for seed in range(5):
        shuffled = degree_preserving_shuffle(adjacency, seed, undirected=True)
        assert np.array_equal(shuffled, shuffled.T)
        assert (shuffled.sum(axis=0) == adjacency.sum(axis=0)).all()
        assert not np.diag(shuffled).any()
        assert (shuffled != adjacency).any()
    with pytest.raises(ValueError, match="symmetric"):
        degree_preserving_shuffle(np.triu(adjacency, 1), 0, undirected=True)
    assert auroc(np.arange(4.0), np.array([False, False, True, True])) == 1.0


def test_end_to_end_planted_communities():
    from pipelines.dfc.pipeline import components_from_calcium

    store = planted_communities(n_neurons=30, n_worms=6, duration=300, n_communities=2,
                                community_size=7, seed=3)
    config = {"tensor": {"time_bin": 2.0}, "ntf": {"ranks": [2, 3], "n_starts": 2, **FAST}}
    out = components_from_calcium(store, config)
    assert out["pair_weight"].dims == ("component", "pre", "post")
    pw = out["pair_weight"].values
    np.testing.assert_allclose(np.nan_to_num(pw), np.nan_to_num(pw.transpose(0, 2, 1)))
    time = out["time"].values
    names = [str(n) for n in store["neuron"].values]
    for k in range(2):
        window = (time >= store["window_start"].values[k]) & (time < store["window_end"].values[k])
        best = max(out["component"].values,
                   key=lambda c: auroc(out["time_factor"].values[c], window))
        assert auroc(out["time_factor"].values[best], window) > 0.9
        # the planted members are exactly the neurons the component activates (their zero-mean
        # co-fluctuation raises their RMS deviation while it is on)
        rise = out["activation"].sel(component=best, neuron=names).values
        np.testing.assert_array_equal(activation_motif(rise), store["membership"].values[k])
        # and the neurons that move with that core while the component is on
        together = out["coherence"].sel(component=best, neuron=names).values
        np.testing.assert_array_equal(coherence_motif(together), store["membership"].values[k])
    assert out.attrs["selected_rank"] in (2, 3)
    assert "rank" in out.dims and "heldout_error" in out
    # the plain NTF (no sparsity) has no shrinkage to undo: no pair_loading
    plain = components_from_calcium(store, {**config, "ntf": {**config["ntf"], "sparsity": 0}})
    assert "pair_loading" not in plain and "pair_loading" in out


def test_missing_fibre_fast_path_matches_em_imputation():
    from pipelines.dfc.ntf import _fit_masked, prepare_tensor

    tensor, factors = planted_cp_tensor((60, 10, 120), 3, noise=0.2, seed=9)
    fibres = np.random.default_rng(1).random((10, 120)) > 0.25  # missing neurons
    mask = np.broadcast_to(fibres, tensor.shape)
    fast = fit_ncp(tensor, [3], mask, seed=0, tol=1e-7)[0]
    data, observed = prepare_tensor(tensor, mask)
    no_penalty = np.zeros(data.shape[2], np.float32)  # fit_ncp's default sparsity 0
    em = _fit_masked(data, observed, 3, _init(data, 3, 0, 0), 0, 500, 1e-7, 5, 3, (), no_penalty)
    assert fast.final_error == pytest.approx(em.final_error, rel=1e-3)
    estimate = fast.reconstruct()
    direct = np.sqrt(((tensor - estimate)[mask] ** 2).sum() / (tensor[mask] ** 2).sum())
    assert fast.final_error == pytest.approx(direct, rel=1e-3)
    assert factor_similarity(fast, truth_fit(factors))[0] > 0.95


def test_rule_functions_write_ntf_and_map_new_worms(tmp_path):
    from pipelines.common import write_netcdf
    from pipelines.dfc.pipeline import run_affinity, run_map, run_ntf

    store = planted_communities(n_neurons=24, n_worms=8, duration=240, n_communities=2,
                                community_size=6, seed=5)
    paths = []
    for k, worms in enumerate(([0, 1, 2], [3, 4, 5], [6, 7])):
        batch = store[["calcium"]].isel(worm=worms)
        write_netcdf(batch, tmp_path / f"b{k}.nc")
        paths.append(tmp_path / f"a{k}.nc")
        run_affinity(tmp_path / f"b{k}.nc", paths[-1], {}, 2.0, seed=0)
    ntf = {"ranks": [2, 3], "n_starts": 2, "bootstrap": 2, **FAST}
    run_ntf(paths[:2], tmp_path / "ntf.nc", {}, ntf, seed=0, anatomy_source=None)
    out = xr.open_dataset(tmp_path / "ntf.nc", engine="h5netcdf")
    assert out.sizes["worm"] == 6 and out.attrs["selected_rank"] in (2, 3)
    boot = out["pair_weight_bootstrap"]
    assert boot.dims == ("component", "bootstrap", "pre", "post") and boot.sizes["bootstrap"] == 2
    assert (out["bootstrap_similarity"].values > 0.5).all()  # the planted motifs come back
    assert {"time_factor", "worm_factor", "pair_weight", "pair_loading", "is_baseline",
            "best_error", "similarity", "heldout_error", "effective_worms",
            "activation", "coherence"} <= set(out.data_vars)
    # activation and coherence over the canonical neurons: finite for the tensor's, NaN for
    # the rest
    in_tensor = set(map(str, out["neuron_1"].values)) | set(map(str, out["neuron_2"].values))
    for score in ("activation", "coherence"):
        finite = np.isfinite(out[score].values).any(axis=0)
        assert {str(n) for n in out["neuron"].values[finite]} == in_tensor, score
    # the unpenalised loadings cover the same pairs as the sparse weights, and every pair the
    # L1 penalty kept still loads (the refit only adds back what the threshold took)
    weight, loading = out["pair_weight"].values, out["pair_loading"].values
    np.testing.assert_array_equal(np.isnan(weight), np.isnan(loading))
    assert (loading[np.nan_to_num(weight) > 0] > 0).mean() > 0.95
    assert ((out["effective_worms"] >= 1 - 1e-6) & (out["effective_worms"] <= 6 + 1e-6)).all()
    assert "provenance" in out.attrs
    run_map(paths[2:], tmp_path / "ntf.nc", tmp_path / "mapped.nc", {}, ntf, seed=0,
            reference_name="ref")
    mapped = xr.open_dataset(tmp_path / "mapped.nc", engine="h5netcdf")
    assert list(mapped["worm"].values) == ["worm06", "worm07"]
    assert mapped.attrs["mapped_onto"] == "ref"
    np.testing.assert_array_equal(mapped["time_factor"].values, out["time_factor"].values)
    assert np.isfinite(mapped["worm_factor"].values).all()
    assert (mapped["worm_factor"].values >= 0).all()


def test_pair_penalty_is_a_z_threshold_whatever_the_coverage():
    """The L1 weight of a pair scales with the square root of its observed fraction, so a
    pair seen in a third of the worms is thresholded at the same z-score of its projection."""
    from pipelines.dfc.ntf import pair_penalty

    shape = (50, 9, 4)
    observed = np.ones(shape, bool)
    observed[:, 3:, 1] = False  # pair 1: 3 of 9 worms
    observed[:, :, 2] = False
    observed[:, 0, 2] = True  # pair 2: 1 of 9 worms
    norm = 10.0
    weights = pair_penalty(shape, observed, 2.0, norm)
    rms = norm / np.sqrt(observed.sum())
    np.testing.assert_allclose(weights, 2.0 * rms * np.sqrt([1, 1 / 3, 1 / 9, 1]), rtol=1e-6)
    np.testing.assert_allclose(pair_penalty(shape, None, 2.0, norm),
                               2.0 * norm / np.sqrt(np.prod(shape)), rtol=1e-6)
    assert not pair_penalty(shape, observed, 0.0, norm).any()
    # the noise SD of a unit-norm projection on the observed entries, relative to a full
    # pair's, is what the weights follow
    rng = np.random.default_rng(0)
    pattern = rng.random(shape[:2])
    pattern /= np.linalg.norm(pattern)
    noise = rng.normal(size=(4000,) + shape[:2])
    sd = [np.std((noise * pattern * observed[:, :, p]).sum(axis=(1, 2))) for p in range(3)]
    np.testing.assert_allclose(np.array(sd) / sd[0], weights[:3] / weights[0], rtol=0.2)
