"""Tests of the dfc affinities and the tensor assembly (pipelines.dfc.affinity, .tensor)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
import xarray as xr
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.dfc.affinity import (
    AffinitySettings,
    batch_affinity,
    chance_affinity,
    differential_affinity,
    windowed_correlation,
)
from pipelines.dfc.tensor import align_offsets, align_schedule, bin_time, build_tensor, join_batches

DT = 0.5


def bumps(n_time: int, seed: int, n_bumps: int = 6) -> np.ndarray:
    """A trace with clear rises and falls (calcium-like transients)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_time)
    centres = rng.uniform(0, n_time, n_bumps)
    return np.exp(-0.5 * ((t[:, None] - centres) / 6.0) ** 2).sum(axis=1)


# --- properties of the differential affinity ---------------------------------------------------

traces = st.integers(min_value=0, max_value=10_000).map(
    lambda seed: np.random.default_rng(seed).standard_normal((3, 120)).cumsum(axis=1))
modes = st.builds(AffinitySettings, sign_mode=st.sampled_from(["abs", "same", "split"]),
                  kernel=st.sampled_from(["ratio", "log"]), segment_average=st.booleans(),
                  noise_k=st.floats(0, 3), sigma=st.floats(0.5, 3))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=traces, s=modes)
def test_affinity_bounded_and_symmetric(x, s):
    a = differential_affinity(x, DT, s)
    assert a.shape == (s.n_channels, 120, 3)
    assert np.isfinite(a).all()
    assert (a >= 0).all() and (a <= 1 + 1e-6).all()
    # pair (0, 1) must not depend on which neuron comes first
    swapped = differential_affinity(x[[1, 0, 2]], DT, s)
    np.testing.assert_allclose(a[:, :, 0], swapped[:, :, 0], atol=1e-6)
    # pairs (0, 2) and (1, 2) swap places
    np.testing.assert_allclose(a[:, :, 1], swapped[:, :, 2], atol=1e-6)


def test_silent_pairs_score_zero():
    rng = np.random.default_rng(0)
    active = bumps(400, 1)
    silent = 0.5 + 1e-4 * rng.standard_normal(400)  # flat up to tiny noise
    flat = np.full(400, 2.0)
    a = differential_affinity(np.stack([active, silent, flat, silent[::-1]]), DT)
    first, second = np.triu_indices(4, 1)
    pairs = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(first, second, strict=True))}
    # the exactly flat neuron never scores; two noise-only neurons almost never co-move
    for partner in (0, 1, 3):
        key = tuple(sorted((2, partner)))
        assert a[0, :, pairs[key]].max() == 0
    assert a[0, :, pairs[(1, 3)]].mean() < 0.02
    # an active neuron with itself-like partner is high; a copy scores exactly 1 when moving
    same = differential_affinity(np.stack([active, 3 * active]), DT)
    assert same[0, :, 0].max() == pytest.approx(1.0)
    assert same[0, :, 0].mean() > 0.2


def test_masked_neuron_is_nan_not_zero():
    x = np.stack([bumps(200, s) for s in range(4)])
    x[2] = np.nan
    x[3, 150:] = np.nan  # recording of that neuron ended early
    a = differential_affinity(x, DT)
    first, second = np.triu_indices(4, 1)
    with_2 = (first == 2) | (second == 2)
    assert np.isnan(a[0][:, with_2]).all()
    assert np.isfinite(a[0][:, ~with_2 & (second != 3)]).all()
    pair_13 = np.flatnonzero((first == 1) & (second == 3))[0]
    assert np.isnan(a[0, 150:, pair_13]).all() and np.isfinite(a[0, :140, pair_13]).all()


def test_sign_modes_on_anticorrelated_pair():
    x = bumps(400, 3)
    pair = np.stack([x, -x])
    abs_ = differential_affinity(pair, DT, AffinitySettings(sign_mode="abs"))
    same = differential_affinity(pair, DT, AffinitySettings(sign_mode="same"))
    split = differential_affinity(pair, DT, AffinitySettings(sign_mode="split"))
    assert abs_.mean() > 0.2
    assert same.max() == 0
    assert split[0].max() == 0  # same-sign channel
    np.testing.assert_allclose(split[1], abs_[0])  # opposite-sign channel carries it all


def test_segment_average_is_constant_within_segments():
    rng = np.random.default_rng(4)
    x = np.stack([bumps(300, 5), bumps(300, 5) + 0.3 * bumps(300, 6)])
    x += 0.001 * rng.standard_normal(x.shape)
    a = differential_affinity(x, DT, AffinitySettings(segment_average=True))[0, :, 0]
    point = differential_affinity(x, DT, AffinitySettings(segment_average=False))[0, :, 0]
    # same total score, but piecewise constant
    assert a.sum() == pytest.approx(point.sum(), rel=1e-4)
    assert np.unique(np.round(a, 6)).size < np.unique(np.round(point, 6)).size


def test_windowed_correlation_baseline():
    rng = np.random.default_rng(1)
    base = bumps(400, 2)
    x = np.stack([base, base + 0.01 * rng.standard_normal(400), -base])
    scores, centres = windowed_correlation(x, DT, AffinitySettings(sign_mode="split",
                                                                  window=20, stride=2))
    assert scores.shape == (2, centres.size, 3)
    active = scores[0, :, 0] > 0  # windows with some movement
    assert np.median(scores[0, active, 0]) > 0.95  # (0, 1) positively correlated
    assert np.median(scores[1, active, 1]) > 0.95  # (0, 2) anticorrelated
    assert scores[0, :, 1].max() == 0


def test_chance_level_and_subtraction():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 600)).cumsum(axis=1)
    s = AffinitySettings(null_shifts=3)
    chance = chance_affinity(x, DT, s, np.random.default_rng(0))
    observed = differential_affinity(x, DT, s)
    # independent traces: the chance level is the affinity level itself
    assert chance.shape == (1, 15)
    assert abs(chance.mean() - observed.mean()) < 0.5 * observed.mean() + 1e-3
    ds = batch_affinity(_calcium(x[None]), DT, AffinitySettings(null_shifts=3,
                                                                subtract_null=True))
    assert float(ds["affinity"].mean()) < observed.mean()
    assert float(ds["affinity"].min()) >= 0


def _calcium(x: np.ndarray, names=None) -> xr.DataArray:
    from pipelines.common import NEURONS

    names = names or list(NEURONS[: x.shape[1]])
    return xr.DataArray(x, dims=("worm", "neuron", "time"),
                        coords={"worm": [f"w{k}" for k in range(x.shape[0])], "neuron": names,
                                "time": np.arange(x.shape[2]) * DT})


def test_batch_affinity_masks_missing_neurons_and_bins():
    x = np.stack([np.stack([bumps(240, 10 * w + n) for n in range(5)]) for w in range(2)])
    x[1, 3] = np.nan  # not recorded in worm 1
    x[:, 4] = np.nan  # recorded in no worm: not part of the pair set at all
    calcium = _calcium(x)
    ds = batch_affinity(calcium, DT, AffinitySettings(), time_bin=2.0)
    assert ds.sizes["pair"] == 6 and ds.sizes["time"] == 60
    names = list(zip(ds["neuron_1"].values, ds["neuron_2"].values, strict=True))
    assert all(str(calcium["neuron"].values[4]) not in pair for pair in names)
    involved = [str(calcium["neuron"].values[3]) in pair for pair in names]
    assert sum(involved) == 3
    assert np.isnan(ds["affinity"].isel(worm=1).values[..., involved]).all()
    assert np.isfinite(ds["affinity"].isel(worm=1).values[..., ~np.array(involved)]).all()
    assert np.isfinite(ds["affinity"].isel(worm=0).values).all()


def test_schema_defaults_match_settings(repo):
    schema = yaml.safe_load((repo / "workflow/schemas/dfc.schema.yaml").read_text())
    props = schema["properties"]["affinity"]["properties"]
    for f in fields(AffinitySettings):
        assert props[f.name]["default"] == f.default, f.name


# --- tensor ----------------------------------------------------------------------------------

def _batch(worms, names, n_time=10, value=None, seed=0):
    rng = np.random.default_rng(seed)
    first, second = np.triu_indices(len(names), 1)
    data = rng.random((len(worms), 1, n_time, first.size)) if value is None else \
        np.full((len(worms), 1, n_time, first.size), value)
    return xr.Dataset(
        {"affinity": (("worm", "channel", "time", "pair"), data.astype(np.float32))},
        coords={"worm": worms, "channel": ["abs"], "time": np.arange(n_time) * 1.0,
                "pair": np.arange(first.size), "neuron_1": ("pair", np.array(names)[first]),
                "neuron_2": ("pair", np.array(names)[second])})


def test_join_batches_masks_pairs_absent_from_a_batch():
    a = _batch(["w0"], ["ADAL", "ADAR", "AVAL"], value=0.5)
    b = _batch(["w1", "w2"], ["ADAR", "AVAL", "AVAR"], n_time=8, value=0.25)
    joined = join_batches([a, b])
    assert list(joined["worm"].values) == ["w0", "w1", "w2"]
    assert joined.sizes["pair"] == 6 and joined.sizes["time"] == 10
    pair = {(str(i), str(j)): k for k, (i, j) in
            enumerate(zip(joined["neuron_1"].values, joined["neuron_2"].values, strict=True))}
    aff = joined["affinity"].values[:, 0]  # worm, time, pair
    assert np.isnan(aff[0, :, pair[("ADAL", "AVAR")]]).all()
    assert np.isnan(aff[1:, :, pair[("ADAL", "ADAR")]]).all()
    assert (aff[0, :, pair[("ADAR", "AVAL")]] == 0.5).all()
    assert (aff[1, :8, pair[("ADAR", "AVAL")]] == 0.25).all()
    assert np.isnan(aff[1, 8:]).all()  # worm 1 recording is shorter
    tensor = build_tensor(joined, min_coverage=0.5)
    # (ADAL, AVAR) is never observed, (ADAL, *) only in 1 of 3 worms
    kept = set(zip(tensor["neuron_1"].values, tensor["neuron_2"].values, strict=True))
    assert kept == {("ADAR", "AVAL"), ("ADAR", "AVAR"), ("AVAL", "AVAR")}
    assert tensor["affinity"].dims == ("time", "worm", "pair")
    assert (tensor["mask"].values == np.isfinite(tensor["affinity"].values)).all()


def test_build_tensor_rejects_single_worm_and_empty():
    with pytest.raises(ValueError, match="at least 2 worms"):
        build_tensor(_batch(["w0"], ["ADAL", "ADAR"]))
    empty = _batch(["w0", "w1"], ["ADAL", "ADAR"])
    empty["affinity"][:] = np.nan
    with pytest.raises(ValueError, match="no neuron pair"):
        build_tensor(empty)


def test_bin_time_averages_ignoring_nan():
    da = xr.DataArray(np.array([1.0, 3.0, np.nan, 5.0, 7.0]), dims="time",
                      coords={"time": np.arange(5) * 0.5})
    binned = bin_time(da, 1.0)
    np.testing.assert_allclose(binned.values, [2.0, 5.0])
    np.testing.assert_allclose(binned["time"].values, [0.25, 1.25])


def test_align_offsets_and_schedule():
    ds = _batch(["w0", "w1"], ["ADAL", "ADAR"], n_time=10)
    da = ds["affinity"]
    shifted = align_offsets(da, {"w1": 3.0})
    assert shifted.sizes["time"] == 13
    np.testing.assert_array_equal(shifted.sel(worm="w1", time=0.0).values,
                                  da.sel(worm="w1", time=3.0).values)
    np.testing.assert_array_equal(shifted.sel(worm="w0", time=0.0).values,
                                  da.sel(worm="w0", time=0.0).values)
    schedule = {"w0": {"salt": [1, 3], "odor": [5, 7]}, "w1": {"odor": [1, 3], "salt": [6, 8]}}
    canon = align_schedule(da, schedule, ["salt", "odor"])
    assert list(canon["epoch"].values) == ["salt", "salt", "odor", "odor"]
    np.testing.assert_array_equal(canon.isel(worm=1, time=0).values,
                                  da.sel(worm="w1", time=6.0).values)
    np.testing.assert_array_equal(canon.isel(worm=1, time=2).values,
                                  da.sel(worm="w1", time=1.0).values)
    with pytest.raises(ValueError, match="schedule lacks"):
        align_schedule(da, {"w0": schedule["w0"]}, ["salt", "odor"])


@pytest.mark.realdata
def test_dag2023_affinity_masks_and_tensor(dag2023, tmp_path):
    from pipelines.recordings.homogenize import Settings, homogenize_folder

    store = homogenize_folder("flavell-h5", dag2023 / "swf702_with_id", tmp_path / "dag.nc",
                              "dag", Settings(), labels=str(dag2023 / "neuropal_labels_flat.csv"))
    calcium = store["calcium"].isel(worm=[0, 1], time=slice(0, 600))
    ds = batch_affinity(calcium, float(store.attrs["dt"]), AffinitySettings(), time_bin=1.0)
    recorded = calcium.notnull().any("time")
    names = [str(n) for n in calcium["neuron"].values]
    for w in range(2):
        missing = {names[k] for k in np.flatnonzero(~recorded.values[w])}
        involved = np.array([a in missing or b in missing for a, b in
                             zip(ds["neuron_1"].values, ds["neuron_2"].values, strict=True)])
        values = ds["affinity"].isel(worm=w).values
        assert involved.any() and np.isnan(values[..., involved]).all()
        finite = values[..., ~involved]
        assert np.isfinite(finite).all() and finite.min() >= 0 and finite.max() <= 1
        assert 0.001 < finite.mean() < 0.5  # real neurons do co-move, not all the time
    tensor = build_tensor(ds, min_coverage=1.0)  # pairs recorded in both worms
    assert tensor["mask"].values.all() and tensor.sizes["pair"] > 100
    # the moments (for the components' activation and coherence): NaN exactly where a neuron
    # (or a pair's neuron) is not recorded, an RMS and a correlation-scale co-moment where it
    # is, on the tensor's time points
    deviation = ds["deviation"]
    for w in range(2):
        seen = recorded.sel(neuron=deviation["neuron"]).values[w]
        values = deviation.isel(worm=w).values
        assert np.isnan(values[:, ~seen]).all() and np.isfinite(values[:, seen]).all()
        assert values[:, seen].min() >= 0 and values[:, seen].max() > 0
        product = ds["comoment"].isel(worm=w).values
        missing = {names[k] for k in np.flatnonzero(~recorded.values[w])}
        involved = np.array([a in missing or b in missing for a, b in
                             zip(ds["neuron_1"].values, ds["neuron_2"].values, strict=True)])
        assert np.isnan(product[:, involved]).all() and np.isfinite(product[:, ~involved]).all()
        # |mean z_i z_j| <= RMS z_i x RMS z_j in every bin (Cauchy-Schwarz)
        slot = {str(n): k for k, n in enumerate(deviation["neuron"].values)}
        rms_1 = values[:, [slot[str(n)] for n in ds["neuron_1"].values]]
        rms_2 = values[:, [slot[str(n)] for n in ds["neuron_2"].values]]
        bound = rms_1 * rms_2
        assert (np.abs(product[:, ~involved]) <= bound[:, ~involved] + 1e-4).all()
    for name in ("level", "deviation", "comoment"):
        assert tensor[name].sizes["time"] == tensor.sizes["time"], name


def test_chance_level_of_the_correlation_baseline():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 800)).cumsum(axis=1)
    s = AffinitySettings(method="correlation", null_shifts=2)
    chance = chance_affinity(x, DT, s, np.random.default_rng(0))
    scores, _ = windowed_correlation(x, DT, s)
    # independent random walks: |r| in short windows is far from 0, and the null says so
    assert chance.shape == (1, 10)
    assert 0.5 * scores.mean() < chance.mean() < 1.5 * scores.mean()
    shared = np.stack([x[0], x[0] + 0.1 * rng.standard_normal(800)])
    assert chance_affinity(shared, DT, s, rng).mean() < windowed_correlation(shared, DT, s)[0].mean()


def test_segment_overlap_weights_coincidental_overlaps_down():
    slow = bumps(400, 7, n_bumps=3)
    t = np.arange(400)
    fast = np.exp(-0.5 * ((t[:, None] - np.arange(5, 400, 25)) / 2.0) ** 2).sum(axis=1)
    x = np.stack([slow, 2 * slow, fast])
    plain = differential_affinity(x, DT, AffinitySettings())[0]
    weighted = differential_affinity(x, DT, AffinitySettings(segment_overlap=True))[0]
    assert (weighted <= plain + 1e-6).all()
    # (0, 1) change together: unchanged; (0, 2) overlap by chance: weighted down
    np.testing.assert_allclose(weighted[:, 0], plain[:, 0], atol=1e-6)
    assert weighted[:, 1].sum() < 0.6 * plain[:, 1].sum()
