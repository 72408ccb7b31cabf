"""Coherence of neurons with a component's core: exact against the frame-rate definition, what
it adds to activation (a neuron driven by the members rises with them but does not move with
them), and the motif rule that cuts it."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.common import NEURONS
from pipelines.dfc.activation import MIN_BINS, activation
from pipelines.dfc.coherence import coherence
from pipelines.dfc.communities import activation_motif, coherence_motif, component_communities
from pipelines.dfc.moments import binned_moments

FRAMES_PER_BIN = 4


def by_frames(calcium, course, core):
    """The definition at the frame rate, one worm and neuron at a time with corrcoef: each
    worm's trace standardized over its recording, the frames of the bins where the course is
    above its median, the neuron against the sum of the core's other recorded neurons."""
    n_worms, n_neurons, _ = calcium.shape
    out = np.full((course.shape[0], n_neurons), np.nan)
    for c, curve in enumerate(course):
        on = np.repeat(curve > np.median(curve), FRAMES_PER_BIN)
        for i in range(n_neurons):
            values = []
            for w in range(n_worms):
                z = calcium[w] - calcium[w].mean(axis=1, keepdims=True)
                z /= z.std(axis=1, keepdims=True)
                others = core[c] & np.isfinite(z).all(axis=1)
                others[i] = False
                if (not np.isfinite(z[i]).all() or not others.any()
                        or on.sum() < MIN_BINS * FRAMES_PER_BIN):
                    continue
                values.append(np.corrcoef(z[i, on], z[others][:, on].sum(axis=0))[0, 1])
            if values:
                out[c, i] = np.mean(values)
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), worms=st.integers(1, 3), core_size=st.integers(2, 5))
def test_coherence_from_binned_moments_is_the_frame_rate_correlation(seed, worms, core_size):
    rng = np.random.default_rng(seed)
    n_neurons, n_bins = 7, 12
    shared = rng.standard_normal((worms, 1, n_bins * FRAMES_PER_BIN))
    calcium = rng.standard_normal((worms, n_neurons, n_bins * FRAMES_PER_BIN))
    calcium[:, :4] += rng.random(4)[None, :, None] * shared  # some neurons move together
    calcium[0, 1] = np.nan  # neuron 1 not recorded in worm 0
    course = rng.random((2, n_bins))
    core = np.zeros((2, n_neurons), bool)
    core[0, :core_size] = True
    core[1, rng.permutation(n_neurons)[:core_size]] = True
    array = xr.DataArray(calcium, dims=("worm", "neuron", "time"),
                         coords={"time": np.arange(calcium.shape[2]) * 0.25,
                                 "neuron": list(NEURONS[:n_neurons])})
    moments = binned_moments(array, time_bin=FRAMES_PER_BIN * 0.25)
    assert moments.sizes["time"] == n_bins
    got = coherence(moments["level"].values, moments["deviation"].values,
                    moments["comoment"].values, course, core)
    np.testing.assert_allclose(got, by_frames(calcium, course, core), atol=2e-5)


def driven_circuit(seed: int = 0):
    """Six members share a fast drive while a stimulus is on; neuron 6 is driven by them
    through a slow synapse (their mean, low-passed with a 4 s time constant), so it rises and
    falls with them but does not follow their fast fluctuation; 24 neurons are unrelated.
    Returns calcium (worm, neuron, time) at 2 Hz and the stimulus per 5 s bin."""
    rng = np.random.default_rng(seed)
    n_worms, n_frames, dt = 4, 960, 0.5
    on = (np.arange(n_frames) // 80) % 3 == 1  # 40 s on in every 120 s
    calcium = rng.standard_normal((n_worms, 31, n_frames))
    for w in range(n_worms):
        drive = on * (1.5 + 1.5 * rng.standard_normal(n_frames))
        calcium[w, :6] += drive
        slow = np.zeros(n_frames)
        for t in range(1, n_frames):
            slow[t] = slow[t - 1] + dt / 4.0 * (calcium[w, :6, t - 1].mean() - slow[t - 1])
        calcium[w, 6] = 3 * slow + 0.5 * rng.standard_normal(n_frames)
    stimulus = on.reshape(-1, 10).mean(axis=1)
    return calcium, stimulus


def test_a_neuron_the_members_drive_is_activated_but_not_coherent():
    calcium, stimulus = driven_circuit()
    array = xr.DataArray(calcium, dims=("worm", "neuron", "time"),
                         coords={"time": np.arange(calcium.shape[2]) * 0.5,
                                 "neuron": list(NEURONS[:31])})
    moments = binned_moments(array, time_bin=5.0)
    course = stimulus[None]
    rise = activation(moments["deviation"].values, course)
    core = np.array([activation_motif(rise[0])])
    assert core[0, 6] and core[0, :6].all()  # the driven neuron rises with the members ...
    together = coherence(moments["level"].values, moments["deviation"].values,
                         moments["comoment"].values, course, core)
    motif = coherence_motif(together[0])
    np.testing.assert_array_equal(motif, np.arange(31) < 6)  # ... but does not move with them
    assert together[0, :6].min() > 0.7 and together[0, 6] < 0.5


def test_coherence_rejects_misaligned_inputs_and_needs_a_core():
    level = np.zeros((1, 6, 4))
    comoment = np.zeros((1, 6, 6))
    with pytest.raises(ValueError, match="do not share"):
        coherence(level, level, comoment[..., :5], np.ones((1, 6)), np.ones((1, 4), bool))
    lonely = np.zeros((1, 4), bool)
    lonely[0, 0] = True  # a core of one neuron: nothing to move with
    rng = np.random.default_rng(0)
    values = coherence(rng.random((1, 6, 4)), 1 + rng.random((1, 6, 4)), rng.random((1, 6, 6)),
                       rng.random((1, 6)), lonely)
    assert np.isnan(values).all()


def test_motif_rule_coherence_and_its_fallbacks():
    """``motif_rule: coherence`` cuts ``ntf['coherence']`` (squared) over the tensor's neurons;
    without it the activation rule is used, without both the participation rule, and the
    attribute says which."""
    rng = np.random.default_rng(5)
    loading = np.full(40, 0.15)
    loading[:6] = 1.0
    noise = rng.exponential(0.02, (40, 40))
    weights = np.clip(np.outer(loading, loading) + (noise + noise.T) / 2 - 0.1, 0, None)
    names = list(NEURONS[:40])

    def score(values):
        out = np.full((1, len(NEURONS)), np.nan)
        out[0, :40] = values
        return (("component", "neuron"), out)

    rise = rng.normal(0, 0.05, 40)
    rise[:8] = 0.8  # members 0-5 and the driven neurons 6, 7
    together = rng.normal(0.3, 0.05, 40)
    together[:6] = 0.9
    # the driven neurons clear the half-way cut of r (0.3 + 0.6 / 2 = 0.6) but not of the
    # share of variance r^2 (0.62^2 = 0.38 < 0.09 + 0.72 / 2 = 0.45)
    together[6:8] = 0.62
    ntf = xr.Dataset({"pair_weight": (("component", "pre", "post"), weights[None]),
                      "activation": score(rise), "coherence": score(together)},
                     coords={"component": [0], "pre": names, "post": names,
                             "neuron": list(NEURONS)})
    settings = {"restarts": 2, "motif_rule": "coherence"}
    out = component_communities(ntf, {"restarts": 2}, seed=0)  # the default rule
    assert out.attrs["motif_rule"] == "coherence" and "core" in out["motif"].attrs["description"]
    np.testing.assert_array_equal(out["motif"].values[0, :40], np.arange(40) < 6)
    older = component_communities(ntf.drop_vars("coherence"), settings, seed=0)
    assert older.attrs["motif_rule"] == "activation"
    np.testing.assert_array_equal(older["motif"].values[0, :40], np.arange(40) < 8)
    oldest = component_communities(ntf.drop_vars(["coherence", "activation"]), settings, seed=0)
    assert oldest.attrs["motif_rule"] == "participation"
