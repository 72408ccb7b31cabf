"""Activation of neurons by dfc components: the binned moments of the standardized calcium,
the deviation's correlation with each component's time factor, the motif cut of it, and how
the moments travel with the affinities through joining, alignment and the tensor."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.common import NEURONS
from pipelines.dfc.activation import MIN_BINS, activation
from pipelines.dfc.affinity import AffinitySettings, batch_affinity
from pipelines.dfc.communities import activation_motif, component_communities
from pipelines.dfc.moments import binned_moments
from pipelines.dfc.pipeline import assemble_tensor
from pipelines.dfc.synthetic import planted_communities


def pearson_by_hand(activity, course):
    """The definition, one worm and one neuron at a time with numpy's corrcoef."""
    out = np.full((course.shape[0], activity.shape[2]), np.nan)
    for c, curve in enumerate(course):
        for i in range(activity.shape[2]):
            per_worm = []
            for level in activity[:, :, i]:
                seen = np.isfinite(level)
                if seen.sum() >= MIN_BINS and np.ptp(level[seen]) > 0 and np.ptp(curve[seen]) > 0:
                    per_worm.append(np.corrcoef(level[seen], curve[seen])[0, 1])
            if per_worm:
                out[c, i] = np.mean(per_worm)
    return out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), worms=st.integers(1, 4), missing=st.floats(0, 0.5))
def test_activation_is_the_mean_over_worms_of_pearson_correlations(seed, worms, missing):
    rng = np.random.default_rng(seed)
    activity = rng.normal(size=(worms, 20, 6))
    activity[rng.random(activity.shape) < missing] = np.nan  # gaps within a worm
    activity[0, :, 0] = np.nan  # neuron 0 not recorded in worm 0
    course = rng.random((3, 20))
    # for even seeds component 2 is flat (no correlation: NaN for it, not for the others);
    # for odd seeds it is flat on the even bins only
    course[2, ::2] = 0.5
    course[2, 1::2] = 0.5 + (seed % 2) * rng.random(10)
    np.testing.assert_allclose(activation(activity, course), pearson_by_hand(activity, course),
                               atol=1e-9)


def test_activation_of_a_neuron_that_follows_the_course_and_of_one_never_recorded():
    course = np.r_[np.zeros(10), np.ones(10)][None]  # the component is on in the second half
    rng = np.random.default_rng(0)
    activity = rng.normal(0, 0.1, (3, 20, 3))
    activity[:, 10:, 0] += 1.0  # follows the component
    activity[:, :, 2] = np.nan  # never recorded
    a = activation(activity, course)[0]
    assert a[0] > 0.9 and abs(a[1]) < 0.5 and np.isnan(a[2])
    with pytest.raises(ValueError, match="time axis"):
        activation(activity, course[:, :10])


def test_binned_moments_see_a_level_step_and_a_burst_of_fluctuation():
    """Deviation = RMS of the standardized trace per bin: a trace that steps up and a trace
    whose zero-mean fluctuation grows both deviate more in the second half, the step's level
    moves from -1 to +1 SD; a constant trace has no SD (NaN, like an unrecorded one); the
    co-moment of a trace with itself-like partners is the bin mean of z_i z_j."""
    time = np.arange(40) * 0.5
    rng = np.random.default_rng(1)
    step = np.r_[np.zeros(20), np.ones(20)]
    burst = np.r_[0.1 * rng.standard_normal(20), 2.0 * rng.standard_normal(20)]
    traces = np.stack([step, burst, np.full(40, 3.0), np.full(40, np.nan), 5 - 2 * step])
    calcium = xr.DataArray(traces[None], dims=("worm", "neuron", "time"),
                           coords={"time": time, "neuron": list(NEURONS[:5])})
    moments = binned_moments(calcium, time_bin=5.0)
    assert moments["deviation"].dims == ("worm", "time", "neuron")
    assert moments["comoment"].dims == ("worm", "time", "pair")
    assert moments.sizes["time"] == 4 and moments.sizes["pair"] == 10
    deviation, level = moments["deviation"].values[0], moments["level"].values[0]
    np.testing.assert_allclose(deviation[:, 0], 1.0, atol=1e-6)  # |z| = 1 throughout
    np.testing.assert_allclose(level[:, 0], [-1, -1, 1, 1], atol=1e-6)
    assert deviation[2:, 1].min() > 5 * deviation[:2, 1].max()
    assert np.isnan(deviation[:, 2:4]).all()
    # pairs in neuron_pairs order: (0, 4) is pair 3; z_4 = -z_0, so z_0 z_4 = -1
    np.testing.assert_allclose(moments["comoment"].values[0, :, 3], -1.0, atol=1e-6)
    assert np.isnan(moments["comoment"].values[0, :, 1]).all()  # (0, 2): constant partner
    per_sample = binned_moments(calcium)
    np.testing.assert_allclose(per_sample["deviation"].values[0, :, 0], 1.0, atol=1e-6)


def test_activation_motif_cuts_half_way_between_the_median_floor_and_the_top():
    values = np.r_[np.full(20, 0.1), 0.6, 0.5, 0.3, np.nan]
    expected = np.zeros(24, bool)
    expected[[20, 21]] = True  # threshold 0.1 + (0.6 - 0.1) / 2 = 0.35
    np.testing.assert_array_equal(activation_motif(values), expected)
    np.testing.assert_array_equal(activation_motif(values + 0.4), expected)  # floor-free
    assert not activation_motif(np.full(10, 0.2)).any()  # nothing rises above the floor
    assert not activation_motif(np.array([np.nan, 0.3])).any()  # one finite value


def test_moments_are_joined_and_re_timed_with_the_affinity():
    """Worms with different neurons are joined on the union (NaN where not recorded), and an
    offset alignment shifts every moment exactly as it shifts the affinity; the tensor keeps
    the co-moments of its own neurons' pairs, in their upper-triangle order."""
    store = planted_communities(n_neurons=12, n_worms=3, duration=60, n_communities=1,
                                community_size=4, window=20, missing=0.0, seed=2)
    calcium = store["calcium"].copy()
    calcium[0, 0] = np.nan  # neuron 0 not recorded in worm 0
    batches = [batch_affinity(calcium.isel(worm=[w]), store.attrs["dt"], AffinitySettings(),
                              time_bin=2.0) for w in range(3)]
    assert batches[0]["deviation"].dims == ("worm", "time", "neuron")
    shift = {"worm01": 4.0}
    plain = assemble_tensor(batches, {"min_coverage": 0.1})
    aligned = assemble_tensor(batches, {"min_coverage": 0.1,
                                        "align": {"mode": "offset", "offsets": shift}})
    for tensor in (plain, aligned):
        for name in ("level", "deviation"):
            assert tensor[name].dims == ("worm", "time", "neuron")
            assert np.isnan(tensor[name].sel(worm="worm00").values[:, 0]).all()
        n = tensor.sizes["neuron"]
        assert tensor["comoment"].dims == ("worm", "time", "neuron_pair")
        assert tensor["comoment"].sizes["neuron_pair"] == n * (n - 1) // 2
        assert tensor["comoment"].sizes["time"] == tensor.sizes["time"]
        assert np.isnan(tensor["comoment"].sel(worm="worm00").values[:, : n - 1]).all()
    # the tensor's co-moment of (neuron 1, neuron 2) is the batch's
    batch = batches[1]["comoment"].isel(worm=0).values[:, 11]  # pair (1, 2) of 12 neurons
    np.testing.assert_allclose(plain["comoment"].sel(worm="worm01").values[:, 11], batch)
    # same shift for all: worm01's first affinity bin and first moment bins land together
    for name, values in (("affinity", lambda t: t["affinity"].sel(worm="worm01").values[:, 0]),
                         ("deviation", lambda t: t["deviation"].sel(worm="worm01").values[:, 1]),
                         ("level", lambda t: t["level"].sel(worm="worm01").values[:, 1]),
                         ("comoment", lambda t: t["comoment"].sel(worm="worm01").values[:, 11])):
        before, after = values(plain), values(aligned)
        first = np.flatnonzero(np.isfinite(before))[0]
        moved = np.flatnonzero(np.isfinite(after))[0]
        assert aligned["time"].values[moved] == pytest.approx(
            plain["time"].values[first] - shift["worm01"]), name
        np.testing.assert_allclose(after[np.isfinite(after)], before[np.isfinite(before)])


def test_motif_rule_activation_keeps_a_member_without_edges_and_falls_back_without_it():
    """``motif_rule: activation`` cuts ``ntf['activation']`` over every neuron of the tensor:
    a neuron with no edge left in the sparse graph but whose activity follows the component is
    in the motif; without ``activation`` in the summary the participation rule is used (and
    recorded)."""
    rng = np.random.default_rng(4)
    loading = np.full(50, 0.15)
    loading[:8] = np.linspace(1.0, 0.6, 8)
    noise = rng.exponential(0.02, (50, 50))
    sparse = np.clip(np.outer(loading, loading) + (noise + noise.T) / 2 - 0.1, 0, None)
    sparse[7, :] = sparse[:, 7] = 0.0  # member 7: every edge thresholded away
    names = list(NEURONS[:50])
    rise = np.full((1, len(NEURONS)), np.nan)
    rise[0, :50] = rng.normal(0.0, 0.05, 50)
    rise[0, :8] = np.linspace(0.8, 0.5, 8)
    ntf = xr.Dataset({"pair_weight": (("component", "pre", "post"), sparse[None]),
                      "activation": (("component", "neuron"), rise)},
                     coords={"component": [0], "pre": names, "post": names,
                             "neuron": list(NEURONS)})
    out = component_communities(ntf, {"restarts": 2, "motif_rule": "activation"}, seed=0)
    assert out.attrs["motif_rule"] == "activation"
    assert out["community"].values[0, 7] == -1  # not in the SBM graph ...
    np.testing.assert_array_equal(out["motif"].values[0, :50], np.arange(50) < 8)  # ... a member
    assert out["motif_level"].values[0] == -1 and out["motif_gain"].values[0] > 0
    assert "time course" in out["motif"].attrs["description"]
    fallback = component_communities(ntf.drop_vars("activation"),
                                     {"restarts": 2, "motif_rule": "activation"}, seed=0)
    assert fallback.attrs["motif_rule"] == "participation"
    assert not fallback["motif"].values[0, 7]
