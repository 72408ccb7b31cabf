"""Communities of dfc components: weighted SBM with DL model selection, modularity baselines,
stability, weighted LFR graphs, and the per-component summary."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import normalized_mutual_info_score as nmi

from pipelines.common import NEURONS
from pipelines.dfc.communities import (
    comembership,
    community_stability,
    component_communities,
    description_length,
    detect_communities,
    fit_sbm,
    leiden_communities,
    lfr,
    louvain_communities,
    motif_community,
    neuron_stability,
    participation,
    participation_motif,
    run_communities,
)
from pipelines.dfc.communities.sbm import (
    _hyper,
    _merge_deltas,
    _state,
    _sweep,
    _total_dl,
    node_statistics,
)


def planted_graph(n=120, blocks=4, inside=3.0, outside=1.0, density=1.0, seed=0):
    """Weighted SBM sample: exponential weights, mean ``inside`` within blocks."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(blocks), int(np.ceil(n / blocks)))[:n]
    truth = rng.permutation(truth)
    mean = np.where(truth[:, None] == truth[None, :], inside, outside)
    weights = np.triu(rng.exponential(mean) * (rng.random((n, n)) < density), 1)
    return weights + weights.T, truth


# --------------------------------------------------------------------------------- SBM


def test_sbm_recovers_planted_blocks_and_their_number():
    weights, truth = planted_graph()
    fit = fit_sbm(weights, seed=0, restarts=4)
    assert nmi(truth, fit.labels) >= 0.9
    assert fit.n_blocks == 4
    # the optimiser finds a partition at least as short as the truth
    assert fit.description_length[0] <= description_length(weights, truth) + 1e-6


def test_lognormal_weight_model_and_its_choice_by_description_length():
    """Blocks that differ in the spread of their weights, not in the mean: an exponential
    model cannot see them, the log-normal one can, and ``auto`` picks it by DL; on exponential
    weights ``auto`` keeps the exponential model (the two DLs are code lengths of the same w)."""
    rng = np.random.default_rng(2)
    n, blocks = 90, 3
    truth = rng.permutation(np.repeat(np.arange(blocks), n // blocks))
    inside = truth[:, None] == truth[None, :]
    log_w = np.where(inside, rng.normal(0.0, 0.15, (n, n)), rng.normal(0.0, 1.0, (n, n)))
    log_w -= np.where(inside, 0.0, 0.5)  # equal mean weight inside and outside: E[w] = 1
    weights = np.triu(np.exp(log_w), 1)
    weights = weights + weights.T
    lognormal = fit_sbm(weights, seed=0, restarts=3, weight_model="lognormal", nested=False)
    exponential = fit_sbm(weights, seed=0, restarts=3, weight_model="exponential", nested=False)
    auto = fit_sbm(weights, seed=0, restarts=3, weight_model="auto", nested=False)
    assert nmi(truth, lognormal.labels) >= 0.95
    assert nmi(truth, exponential.labels) < 0.5
    assert auto.weight_model == "lognormal" and nmi(truth, auto.labels) >= 0.95
    assert description_length(weights, truth, weight_model="lognormal") < description_length(
        weights, truth, weight_model="exponential")
    plain, truth = planted_graph(n=60, blocks=3, seed=4)
    assert fit_sbm(plain, seed=0, restarts=3, weight_model="auto").weight_model == "exponential"
    with pytest.raises(ValueError, match="weight_model"):
        fit_sbm(plain, weight_model="gamma")


def test_sbm_sparse_planted_blocks():
    weights, truth = planted_graph(n=100, blocks=3, inside=4.0, outside=1.0, density=0.5, seed=3)
    fit = fit_sbm(weights, seed=1, restarts=4, degree_corrected=False)
    assert nmi(truth, fit.labels) >= 0.9
    assert fit.n_blocks == 3


def test_sbm_gives_one_block_without_structure():
    rng = np.random.default_rng(5)
    weights = np.triu(rng.exponential(1.0, (100, 100)), 1)
    fit = fit_sbm(weights + weights.T, seed=0, restarts=3)
    assert fit.n_blocks == 1
    assert len(fit.levels) == 1


def test_sbm_deterministic_under_seed():
    weights, _ = planted_graph(n=60, blocks=3, inside=2.0, seed=2)
    a = fit_sbm(weights, seed=7, restarts=3)
    b = fit_sbm(weights, seed=7, restarts=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.description_length == b.description_length
    assert [lv.tolist() for lv in a.levels] == [lv.tolist() for lv in b.levels]


def test_sbm_hierarchy_is_nested_and_coarsening():
    weights, _ = planted_graph(n=90, blocks=3, inside=3.0, seed=4)
    fit = fit_sbm(weights, seed=0, restarts=3)
    sizes = [int(level.max()) + 1 for level in fit.levels]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    assert sizes[-1] == 1
    for lower, upper in zip(fit.levels, fit.levels[1:], strict=False):
        # every lower block maps into exactly one upper block
        for block in np.unique(lower):
            assert np.unique(upper[lower == block]).size == 1
    assert np.argmin(fit.description_length) == 0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), blocks=st.integers(1, 6),
       model=st.sampled_from(["exponential", "lognormal"]))
def test_sweep_and_merge_deltas_match_recomputed_description_length(seed, blocks, model):
    rng = np.random.default_rng(seed)
    n = 25
    weights = np.triu(rng.exponential(1.0, (n, n)) * (rng.random((n, n)) < 0.6), 1)
    weights[0, 1] = 1.0  # at least one edge
    A = node_statistics(weights + weights.T, model)
    c = np.ones(n)
    labels, X, size = _state(A, c, rng.integers(0, blocks, n))
    hyper = _hyper(A, model)
    before = _total_dl(X, size, hyper)
    moves, change = _sweep(A, c, labels, X, size, hyper, rng.permutation(n))
    labels, X2, size2 = _state(A, c, labels)
    after = _total_dl(X2, size2, hyper)
    assert np.isclose(after, before + change, atol=1e-6)
    assert change <= 0
    if size2.size > 1:  # the predicted DL change of merging blocks 0 and 1
        candidates = np.full((size2.size, 1), -1, dtype=np.int64)
        candidates[0, 0] = 1
        _, delta = _merge_deltas(X2, size2, hyper, candidates)
        _, X3, size3 = _state(A, c, np.where(labels == 1, 0, labels))
        assert np.isclose(_total_dl(X3, size3, hyper), after + delta[0], atol=1e-6)


def test_sbm_rejects_bad_input():
    with pytest.raises(ValueError, match="symmetric"):
        fit_sbm(np.triu(np.ones((5, 5)), 1))
    with pytest.raises(ValueError, match="NaN"):
        fit_sbm(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="non-negative"):
        fit_sbm(-np.ones((4, 4)))
    with pytest.raises(ValueError, match="no edges"):
        fit_sbm(np.zeros((4, 4)))


# ------------------------------------------------------------------------- baselines


@pytest.mark.parametrize("method", ["leiden", "louvain"])
def test_modularity_baselines_find_planted_modules(method):
    weights, truth = planted_graph(n=90, blocks=3, inside=5.0, outside=0.2, density=0.5)
    labels = detect_communities(weights, method=method, seed=0)
    assert labels.shape == truth.shape
    assert nmi(truth, labels) >= 0.9


def test_baselines_are_deterministic():
    weights, _ = planted_graph(n=60, blocks=3, inside=2.0)
    np.testing.assert_array_equal(leiden_communities(weights, seed=3),
                                  leiden_communities(weights, seed=3))
    np.testing.assert_array_equal(louvain_communities(weights, seed=3),
                                  louvain_communities(weights, seed=3))


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown community method"):
        detect_communities(np.ones((3, 3)) - np.eye(3), method="infomap")


# ------------------------------------------------------------------------- stability


def test_stability_by_hand():
    reference = np.array([0, 0, 1, 1])
    same = np.array([[5, 5, 7, 7]])
    np.testing.assert_allclose(neuron_stability(reference, same), 1.0)
    merged = np.array([[0, 0, 0, 0]])  # Jaccard |{a,b}| / |{a,b,c,d}| = 1/2
    np.testing.assert_allclose(neuron_stability(reference, merged), 0.5)
    both = np.vstack([same, merged])
    np.testing.assert_allclose(neuron_stability(reference, both), 0.75)
    np.testing.assert_allclose(community_stability(reference, [1.0, 0.5, 0.2, 0.4]), [0.75, 0.3])
    co = comembership(both)
    np.testing.assert_allclose(np.diag(co), 1.0)
    assert co[0, 2] == 0.5 and co[0, 1] == 1.0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), min_size=6, max_size=6), min_size=2, max_size=5))
def test_stability_bounded(partitions):
    partitions = np.array(partitions)
    score = neuron_stability(partitions[0], partitions[1:])
    assert np.all((score >= 0) & (score <= 1))
    co = comembership(partitions)
    assert np.all((co >= 0) & (co <= 1)) and np.allclose(co, co.T)


# ------------------------------------------------------------------------- LFR


def test_fitted_strengths_meet_feasible_targets():
    rng = np.random.default_rng(0)
    adjacency = np.triu(rng.random((40, 40)) < 0.3, 1).astype(float)
    adjacency += adjacency.T
    target = adjacency.sum(1) ** 1.5
    weights = lfr.fit_strengths(adjacency, target)
    np.testing.assert_allclose(weights, weights.T)
    assert (weights[adjacency == 0] == 0).all() and (weights[adjacency > 0] > 0).all()
    np.testing.assert_allclose(weights.sum(1), target, rtol=0.02)


def test_lfr_graphs_have_requested_weight_mixing():
    graphs, _ = lfr.weighted_lfr(lfr.SETTINGS[3], n_graphs=1)
    graph = graphs[0]
    assert graph["weights"].shape == (lfr.N_NODES, lfr.N_NODES)
    assert not lfr.is_degenerate(graph["weights"], graph["labels"])
    assert abs(graph["mu_w"] - 0.5) < 0.1
    adjacency = (graph["weights"] > 0).astype(float)
    achieved = [lfr.mixing(lfr.lfr_weights(adjacency, graph["labels"], mu_w, 2.0),
                           graph["labels"])[1] for mu_w in (0.25, 0.5, 0.75)]
    assert achieved == sorted(achieved)
    assert abs(achieved[2] - 0.75) < 0.1
    # strength follows k^beta
    strength, degree = graph["weights"].sum(1), adjacency.sum(1)
    assert np.corrcoef(np.log(strength), np.log(degree))[0, 1] > 0.95


def test_lfr_rejects_degenerate_graphs(monkeypatch):
    labels = np.repeat([0, 1], 5)
    split = np.kron(np.eye(2), np.ones((5, 5))) - np.eye(10)  # no link between communities
    joined = split.copy()
    joined[0, 9] = joined[9, 0] = 1.0
    assert lfr.is_degenerate(split, labels) and not lfr.is_degenerate(joined, labels)
    assert lfr.is_degenerate(joined, np.zeros(10, int))
    answers = {13: (split, labels), 14: None, 15: (joined, labels)}
    monkeypatch.setattr(lfr, "_topology", lambda setting, seed, limit: answers[seed])
    graphs, skipped = lfr.weighted_lfr(lfr.LFRSetting(0.5, 0.5, 1.0, 25), n_graphs=1)
    assert [g["seed"] for g in graphs] == [15]
    assert skipped == {"failed": 1, "degenerate": 1}


# ------------------------------------------------------------------- motif community


def tiered_graph(cross, seed=0, n=80, within_b=2.0):
    """A component graph of exponential weights with block means: 8 neurons carry it
    strongly (A, mean 8 among them), 8 less (B, mean ``within_b``), A-B mean ``cross``; 20 neurons where
    it is absent (silent, mean 0.01 to everyone) and a background (mean 0.25; 0.5 to A, 0.4 to
    B). ``cross`` above √(8·2) = 4 makes A and B one community of graded strength (6: a
    degree-corrected SBM would put them in one block), a smaller one (1) a strong core next to
    a weaker group. Returns weights and groups (0 A, 1 B, 2 silent, 3 background)."""
    rng = np.random.default_rng(seed)
    group = np.repeat([0, 1, 2, 3], [8, 8, 20, n - 36])
    means = np.array([[8.0, cross, 0.01, 0.5],
                      [cross, within_b, 0.01, 0.4],
                      [0.01, 0.01, 0.01, 0.01],
                      [0.5, 0.4, 0.01, 0.25]])
    weights = np.triu(rng.exponential(means[np.ix_(group, group)]), 1)
    return weights + weights.T, group


def test_motif_joins_blocks_that_differ_only_in_strength():
    """Level 0 splits A from B and the silent block off; level 1 joins A and B. With a strong
    A-B link they are one community (the motif is A and B, level 1); with a weak one A is the
    motif and B stays out. The silent block splits off well but is never the motif."""
    one, group = tiered_graph(cross=6.0)
    two, _ = tiered_graph(cross=1.0)
    levels = [group, np.where(group <= 1, 0, group - 1), (group <= 1).astype(int)]
    joined = motif_community(one, levels)
    np.testing.assert_array_equal(joined.members, group <= 1)
    assert joined.level == 2 and joined.gain > 0  # still one block at the top level
    core = motif_community(two, levels)
    np.testing.assert_array_equal(core.members, group == 0)
    assert core.level == 0 and core.gain > 0


def test_motif_leaves_out_a_weakly_taking_part_surround():
    """B co-fluctuates with A in proportion (no community boundary after degree correction,
    x² = 6.25 ≥ 8 · 0.5) but takes part a quarter as strongly (√(0.5 / 8)): A's surround."""
    weights, group = tiered_graph(cross=2.5, within_b=0.5)
    levels = [group, np.where(group <= 1, 0, group - 1)]
    np.testing.assert_array_equal(motif_community(weights, levels).members, group == 0)


@pytest.mark.parametrize(("cross", "expected"), [(6.0, (0, 1)), (1.0, (0,))])
def test_motif_of_a_fitted_hierarchy(cross, expected):
    weights, group = tiered_graph(cross, seed=1)
    fit = fit_sbm(weights, seed=0, restarts=3)
    np.testing.assert_array_equal(motif_community(weights, fit.levels).members,
                                  np.isin(group, expected))


def test_no_motif_without_an_assortative_block():
    weights, group = tiered_graph(cross=6.0)
    none = motif_community(weights, [np.zeros(len(group), int)])
    assert not none.members.any() and np.isnan(none.gain) and none.level == -1
    silent = motif_community(weights, [(group == 2).astype(int)])  # silent vs the rest
    assert silent.members.sum() == len(group) - 20  # the rest, not the silent block
    with pytest.raises(ValueError, match="every level"):
        motif_community(weights, [group[:-1]])


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(1e-3, 1e3), st.sampled_from([1.0, 6.0]))
def test_motif_does_not_depend_on_the_weight_unit(seed, scale, cross):
    weights, group = tiered_graph(cross, seed=seed, n=50)
    levels = [group, np.where(group <= 1, 0, group - 1)]
    motif = motif_community(weights, levels)
    scaled = motif_community(weights * scale, levels)
    np.testing.assert_array_equal(motif.members, scaled.members)
    assert scaled.gain == pytest.approx(motif.gain, rel=1e-6)


# ------------------------------------------------------------------- participation


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 40), st.floats(0.0, 0.6), st.floats(1e-3, 1e3))
def test_participation_recovers_a_rank_one_graph_with_unobserved_pairs(seed, n, missing, scale):
    rng = np.random.default_rng(seed)
    loading = rng.uniform(0.05, 1.0, n)
    weights = scale * np.outer(loading, loading)
    hidden = np.triu(rng.random((n, n)) < missing, 1)
    # every node keeps its pairs with nodes 0 and 1: a triangle 0-1-i fixes each loading (a
    # star alone would not: u_0 u_i = w_0i leaves the scale between the centre and the rest)
    hidden[:2] = False
    weights[hidden | hidden.T] = np.nan
    np.fill_diagonal(weights, 123.0)  # the diagonal is ignored
    np.testing.assert_allclose(participation(weights), loading / loading.max(), atol=1e-6)


def test_participation_ranks_a_planted_group_above_the_rest():
    """Members sharing one drive at graded strengths over a noisy floor: every member ranks
    above every other neuron, and the graded order among the members is kept."""
    rng = np.random.default_rng(1)
    loading = np.full(60, 0.1)
    loading[:8] = np.linspace(1.0, 0.5, 8)
    noise = rng.exponential(0.02, (60, 60))
    weights = np.outer(loading, loading) + (noise + noise.T) / 2
    share = participation(weights)
    assert share[:8].min() > share[8:].max()
    assert np.corrcoef(share[:8], loading[:8])[0, 1] > 0.95


def test_participation_of_a_graph_without_weight_and_bad_input():
    np.testing.assert_array_equal(participation(np.zeros((4, 4))), np.zeros(4))
    lonely = np.ones((4, 4))
    lonely[3, :] = lonely[:, 3] = 0.0
    assert participation(lonely)[3] == 0.0 and participation(lonely)[0] == 1.0
    with pytest.raises(ValueError, match="square"):
        participation(np.ones((3, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        participation(-np.ones((3, 3)))


def test_participation_motif_takes_neurons_at_least_half_as_strong():
    share = np.array([1.0, 0.8, 0.5, 0.49, 0.1, np.nan])
    np.testing.assert_array_equal(participation_motif(share), [1, 1, 1, 0, 0, 0])
    assert not participation_motif(np.zeros(4)).any()
    assert not participation_motif(np.full(3, np.nan)).any()


def test_communities_defaults_match_the_schema(repo):
    import yaml

    from pipelines.dfc.communities.components import DEFAULTS

    schema = yaml.safe_load((repo / "workflow/schemas/dfc.schema.yaml").read_text())
    section = schema["properties"]["communities"]["properties"]
    assert {k: v["default"] for k, v in section.items()} == DEFAULTS
    assert all("description" in v for v in section.values())


# ------------------------------------------------------------------- component summary


def ntf_summary(seed=0):
    """Two components over 50 tensor neurons; neurons 45-49 absent from component 1."""
    names = list(NEURONS[:50])
    first, truth_first = planted_graph(n=50, blocks=2, inside=4.0, seed=seed)
    second, truth_second = planted_graph(n=50, blocks=3, inside=4.0, seed=seed + 1)
    second[45:, :] = np.nan
    second[:, 45:] = np.nan
    ds = xr.Dataset(
        {"pair_weight": (("component", "pre", "post"), np.stack([first, second]))},
        coords={"component": [0, 1], "pre": names, "post": names})
    return ds, truth_first, truth_second


def test_component_communities_layout_and_recovery():
    ntf, truth_first, truth_second = ntf_summary()
    # block-shaped components: the hierarchy rule's case (the participation rule, the
    # default, assumes one group over a floor; test_motif_rule_participation_and_bad_rule)
    out = component_communities(ntf, {"restarts": 3, "motif_rule": "hierarchy"}, seed=0)
    assert out["community"].dims == ("component", "neuron")
    assert out.sizes["neuron"] == len(NEURONS)
    community = out["community"].values
    assert (community[:, 50:] == -1).all() and (community[1, 45:] == -1).all()
    assert nmi(truth_first, community[0, :50]) >= 0.9
    assert nmi(truth_second[:45], community[1, :45]) >= 0.9
    np.testing.assert_array_equal(out["n_communities"].values, [2, 3])
    stability = out["stability"].values
    present = community >= 0
    assert np.all((stability[present] >= 0) & (stability[present] <= 1))
    assert np.isnan(stability[~present]).all()
    assert np.nanmin(out["community_stability"].values) >= 0.9
    assert (out["nmi_sbm_leiden"] >= 0).all()
    assert (out["leiden_community"].values[~present] == -1).all()
    levels = out["community_level"].values
    np.testing.assert_array_equal(levels[:, 0], community)
    # each component's motif is one of its planted blocks (equal blocks, none joined)
    motif = out["motif"].values
    assert not motif[community < 0].any() and (out["motif_gain"].values > 0).all()
    for k, truth in ((0, truth_first), (1, truth_second[:45])):
        chosen = motif[k, : truth.size]
        assert any(np.array_equal(chosen, truth == block) for block in np.unique(truth))
    share = out["participation"].values
    assert np.isnan(share[~present]).all()
    assert np.all((share[present] >= 0) & (share[present] <= 1))
    np.testing.assert_allclose(np.nanmax(share, axis=1), 1.0)


def test_motif_rule_participation_and_bad_rule():
    """One group at graded strengths over a noisy floor (an NTF component's shape): the
    participation rule returns the group; an unknown rule is an error."""
    rng = np.random.default_rng(3)
    loading = np.full(50, 0.15)
    loading[:8] = np.linspace(1.0, 0.6, 8)
    noise = rng.exponential(0.02, (50, 50))
    weights = np.outer(loading, loading) + (noise + noise.T) / 2
    names = list(NEURONS[:50])
    ntf = xr.Dataset({"pair_weight": (("component", "pre", "post"), weights[None])},
                     coords={"component": [0], "pre": names, "post": names})
    out = component_communities(ntf, {"restarts": 2, "motif_rule": "participation"}, seed=0)
    assert out.attrs["motif_rule"] == "participation"
    np.testing.assert_array_equal(out["motif"].values[0, :50], np.arange(50) < 8)
    assert out["motif_level"].values[0] == -1 and out["motif_gain"].values[0] > 0
    with pytest.raises(ValueError, match="motif_rule"):
        component_communities(ntf, {"motif_rule": "oracle"})


def test_participation_source_loading_keeps_a_member_the_sparse_graph_drops():
    """Participation from the unpenalised pair loadings (``participation_source:
    loading``): a member whose sparse pair weights were all thresholded to 0 (few worms
    record it) is absent from the SBM graph, yet takes part, and the motif keeps it; from the
    pair weights (the default) it is lost. Without ``pair_loading`` the weights are used; a
    bad source is an error."""
    rng = np.random.default_rng(4)
    loading = np.full(50, 0.15)
    loading[:8] = np.linspace(1.0, 0.6, 8)
    noise = rng.exponential(0.02, (50, 50))
    dense = np.outer(loading, loading) + (noise + noise.T) / 2
    sparse = np.where(dense > 0.1, dense - 0.1, 0.0)
    sparse[7, :] = sparse[:, 7] = 0.0  # member 7: every edge thresholded away
    names = list(NEURONS[:50])
    ntf = xr.Dataset({"pair_weight": (("component", "pre", "post"), sparse[None]),
                      "pair_loading": (("component", "pre", "post"), dense[None])},
                     coords={"component": [0], "pre": names, "post": names})
    out = component_communities(ntf, {"restarts": 2, "participation_source": "loading"}, seed=0)
    assert out.attrs["participation_source"] == "loading"
    assert out["community"].values[0, 7] == -1  # not in the SBM graph ...
    np.testing.assert_array_equal(out["motif"].values[0, :50], np.arange(50) < 8)  # ... a member
    share = out["participation"].values[0]
    assert share[7] > 0.5 and np.isnan(share[50:]).all()
    weight = component_communities(ntf, {"restarts": 2})
    assert weight.attrs["participation_source"] == "weight"
    assert not weight["motif"].values[0, 7] and np.isnan(weight["participation"].values[0, 7])
    fallback = component_communities(ntf.drop_vars("pair_loading"),
                                      {"restarts": 2, "participation_source": "loading"})
    assert fallback.attrs["participation_source"] == "weight"
    with pytest.raises(ValueError, match="participation_source"):
        component_communities(ntf, {"participation_source": "truth"})


def test_component_communities_uses_bootstrap_when_asked():
    ntf, *_ = ntf_summary()
    with pytest.raises(ValueError, match="pair_weight_bootstrap"):
        component_communities(ntf, {"stability": "bootstrap"})
    assert component_communities(ntf, {"restarts": 2}).attrs["stability_source"] == "restarts"
    noisy = ntf["pair_weight"].expand_dims(bootstrap=2).transpose("component", "bootstrap", ...)
    ntf["pair_weight_bootstrap"] = noisy
    out = component_communities(ntf, {"stability": "bootstrap", "restarts": 2}, seed=1)
    assert out.attrs["stability_source"] == "bootstrap"
    assert np.nanmin(out["stability"].values) >= 0.9
    auto = component_communities(ntf, {"restarts": 2}, seed=1)
    assert auto.attrs["stability_source"] == "bootstrap"
    # a bootstrap that destroys the structure lowers stability
    rng = np.random.default_rng(0)
    shuffled = ntf["pair_weight_bootstrap"].copy()
    for k in range(shuffled.sizes["component"]):
        for b in range(shuffled.sizes["bootstrap"]):
            order = rng.permutation(50)
            shuffled[k, b] = shuffled[k, b].values[np.ix_(order, order)]
    ntf["pair_weight_bootstrap"] = shuffled
    low = component_communities(ntf, {"restarts": 2}, seed=1)
    assert np.nanmean(low["stability"].values) < np.nanmean(out["stability"].values) - 0.2


def test_run_communities_writes_with_provenance(tmp_path):
    ntf, *_ = ntf_summary()
    ntf_path = tmp_path / "ntf.nc"
    ntf.to_netcdf(ntf_path, engine="h5netcdf")
    out_path = tmp_path / "communities.nc"
    run_communities(ntf_path, out_path, {"method": "leiden", "restarts": 2}, seed=0)
    with xr.open_dataset(out_path, engine="h5netcdf") as ds:
        assert "provenance" in ds.attrs and ds.attrs["method"] == "leiden"
        assert ds["community"].dtype == np.int32
    with pytest.raises(ValueError, match="method"):
        run_communities(ntf_path, out_path, {"method": "magic"}, seed=0)


def test_unobserved_pairs_are_not_zero_weights():
    """NaN pairs carry no information: a structureless graph whose missing pairs cluster on a
    subset of nodes is still one block (as zeros they would make that subset a block)."""
    rng = np.random.default_rng(11)
    weights = np.triu(rng.exponential(1.0, (80, 80)), 1)
    weights = weights + weights.T
    holes = np.triu(rng.random((80, 80)) < 0.7, 1)
    holes[:, 40:] = False
    holes = holes | holes.T
    weights[holes] = np.nan
    assert fit_sbm(weights, seed=0, restarts=2).n_blocks == 1
    assert fit_sbm(np.nan_to_num(weights), seed=0, restarts=2).n_blocks > 1


@pytest.mark.realdata
def test_dag2023_affinity_graph_communities(dag2023, tmp_path):
    """On a real worm's mean differential affinity, the SBM finds structure, and left/right
    homologues share a community more often than random pairs of neurons do."""
    from pipelines.dfc.affinity import AffinitySettings, batch_affinity
    from pipelines.dfc.pipeline import pair_matrix
    from pipelines.recordings.homogenize import Settings, homogenize_folder

    store = homogenize_folder("flavell-h5", dag2023 / "swf702_with_id", tmp_path / "dag.nc",
                              "dag", Settings(), labels=str(dag2023 / "neuropal_labels_flat.csv"))
    calcium = store["calcium"].isel(worm=[0])
    calcium = calcium.isel(neuron=np.flatnonzero(calcium.notnull().any(("worm", "time")).values))
    ds = batch_affinity(calcium, float(store.attrs["dt"]), AffinitySettings(), time_bin=1.0)
    mean = ds["affinity"].isel(worm=0).mean("time").values.reshape(1, -1)
    graph = pair_matrix(mean, ds["neuron_1"].values, ds["neuron_2"].values).isel(component=0)
    weights = graph.values.astype(float)
    fit = fit_sbm(weights, seed=0, restarts=3)
    names = [str(n) for n in graph["pre"].values]
    assert fit.labels.shape == (len(names),) and fit.n_blocks >= 2
    index = {n: k for k, n in enumerate(names)}
    homologues = [(index[n], index[n[:-1] + "R"]) for n in names
                  if n.endswith("L") and n[:-1] + "R" in index]
    assert len(homologues) >= 10
    together = np.mean([fit.labels[i] == fit.labels[j] for i, j in homologues])
    chance = np.mean(fit.labels[:, None] == fit.labels[None, :])
    assert together > 1.5 * chance
