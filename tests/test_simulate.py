"""Simulated worms: settings, model pieces, determinism, file layout and ground truth.

The recording-level tests run one small simulated recording on the real Cook 2019 wiring
(4 worms x 320 s) and check that the ground truth is visible in the written files.
"""

from __future__ import annotations

import dataclasses
import filecmp
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.common import NEURONS, ConfigError
from pipelines.simulate import SimulationSettings, build_model, simulate_recording, simulate_worm
from pipelines.simulate.calcium import calcium, interpolate_frames
from pipelines.simulate.dynamics import integrate, sample_states
from pipelines.simulate.model import (
    community_coupling,
    head_candidates,
    select_neurons,
    spectral_radius,
    state_drive,
)
from pipelines.simulate.sampling import (
    LABEL_COLUMNS,
    frame_times,
    label_fields,
    recorded_and_labelled,
    written_labels,
)

REPO = Path(__file__).resolve().parents[1]
SMALL = {"worms": 4, "duration_s": 320.0}


# --------------------------------------------------------------------------------------------
# fixtures


def hand_wiring(names, seed=0):
    """A small random wiring on ``names`` (both layers), zero elsewhere."""
    rng = np.random.default_rng(seed)
    n = len(NEURONS)
    index = [NEURONS.index(x) for x in names]
    chemical = np.zeros((n, n))
    gap = np.zeros((n, n))
    sub = rng.poisson(0.8, (len(names), len(names))) * (rng.random((len(names),) * 2) < 0.3)
    chemical[np.ix_(index, index)] = sub
    g = rng.poisson(0.5, (len(names), len(names))) * (rng.random((len(names),) * 2) < 0.15)
    gap[np.ix_(index, index)] = g + g.T
    return xr.DataArray(np.stack([chemical, gap]), dims=("layer", "pre", "post"),
                        coords={"layer": ["chemical", "gap"], "pre": list(NEURONS),
                                "post": list(NEURONS)})


def hand_table(names):
    transmitters = ["GABA" if i % 7 == 0 else "ACh" if i % 2 else "Glu"
                    for i in range(len(NEURONS))]
    return pd.DataFrame({"class": list(NEURONS), "neurotransmitter": transmitters},
                        index=pd.Index(NEURONS, name="label"))


HAND_NAMES = sorted(set(head_candidates()[:60]) | {"AVAL", "AVAR", "AVBL", "AVBR", "VB2", "DD1",
                                                   "RIS", "RIML", "RIMR", "AIBL", "AIBR"})


@pytest.fixture(scope="module")
def hand():
    return hand_wiring(HAND_NAMES), hand_table(HAND_NAMES)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A small simulated recording on the real Cook 2019 wiring: (folder, ground truth)."""
    folder = tmp_path_factory.mktemp("sim")
    path = simulate_recording(SimulationSettings.from_config(SMALL, seed=3), folder)
    return folder, xr.load_dataset(path)


def worm_files(folder, worm):
    with h5py.File(folder / f"{worm}-data.h5", "r") as h5:
        data = {key: h5[key][()] for key in ("gcamp/traces_array_F_F20",
                                             "timing/timestamp_confocal", "behavior/velocity",
                                             "behavior/head_angle", "behavior/reversal_vec")}
    return data, pd.read_csv(folder / f"{worm}-labels.csv")


# --------------------------------------------------------------------------------------------
# settings


def test_schema_defaults_match_settings():
    schema = yaml.safe_load((REPO / "workflow/schemas/simulate.schema.yaml").read_text())
    fields = {f.name: f for f in dataclasses.fields(SimulationSettings) if f.name != "seed"}
    assert set(schema["properties"]) == set(fields)
    defaults = SimulationSettings()
    for name, spec in schema["properties"].items():
        assert spec["description"]
        assert spec["default"] == getattr(defaults, name), name
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("section, key", [
    ({"bogus": 1}, "simulate.bogus"),
    ({"spectral_radius": 1.2}, "simulate.spectral_radius"),
    ({"jitter_s": 0.2}, "simulate.jitter_s"),
    ({"states": ["forward", "sleepwalk"]}, "simulate.states"),
    ({"states": ["forward"]}, "simulate.states"),
    ({"recorded_fraction": [0.8, 0.6]}, "simulate.recorded_fraction"),
    ({"n_neurons": 20}, "simulate.n_communities"),
])
def test_bad_settings_name_the_key(section, key):
    with pytest.raises(ConfigError) as error:
        SimulationSettings.from_config(section)
    assert error.value.key == key


def test_settings_json_roundtrip():
    s = SimulationSettings.from_config({"worms": 2, "dff": [0.5, 1.0]}, seed=7)
    assert SimulationSettings.from_json(s.to_json()) == s


# --------------------------------------------------------------------------------------------
# model pieces


def test_model_on_hand_wiring(hand):
    s = SimulationSettings.from_config({"n_neurons": 50, "n_communities": 2,
                                        "community_size": [4, 6]})
    model = build_model(s, *hand)
    neurons = list(model["neuron"].values)
    assert len(neurons) == 50 and neurons == sorted(neurons)  # canonical order
    assert {"AVAL", "AVAR", "AVBL", "AVBR", "RIS"} <= set(neurons)  # driven neurons first
    w = model["interaction"].values
    anatomy = model["anatomy"].values.sum(axis=0)
    assert np.all(w[:, anatomy == 0] == 0)  # supported on real connections only
    assert np.all(np.diagonal(w, axis1=1, axis2=2) == 0)
    coupling = model["coupling"].values
    for k in range(w.shape[0]):  # stable with any community on, and as strong as allowed
        radii = [spectral_radius(w[k] + a) for a in [0 * w[k], *coupling]]
        assert max(radii) <= s.spectral_radius + 1e-9
        assert max(radii) == pytest.approx(s.spectral_radius, abs=0.01)
    assert not np.allclose(w[0], w[1])  # states use different circuits
    # chemical signs: GABA presynaptic neurons are inhibitory
    gaba = [i for i, n in enumerate(neurons) if NEURONS.index(n) % 7 == 0]
    chem = model["anatomy"].sel(layer="chemical").values
    assert np.all(model["sign"].values[:, gaba][chem[:, gaba] > 0] == -1)
    member = model["membership"].values
    assert member.sum(axis=0).max() == 1  # disjoint
    assert np.all((member.sum(axis=1) >= 4) & (member.sum(axis=1) <= 6))
    drive = model["drive"].values
    patterns, counts = np.unique(drive.T, axis=0, return_counts=True)
    command = np.any(drive.T != patterns[np.argmax(counts)], axis=1)  # beyond the global term
    assert 6 <= command.sum() < 30
    assert not np.any(member[:, command])
    assert np.allclose(model["transition"].sum("state_to"), 1)


@pytest.mark.parametrize("section", [
    {"n_communities": 0},
    {"states": ["forward", "reversal"], "dwell_shape": 1.0},
    {"native_dt": 0.25, "jitter_s": 0.01, "integration_dt": 0.05, "extra_rois": 0},
])
def test_other_configurations_run(hand, section):
    base = {"worms": 1, "duration_s": 90.0, "n_neurons": 40, "n_communities": 2,
            "community_size": [4, 6], "stimulus_start_s": 10.0, "stimulus_period_s": 30.0,
            "stimulus_duration_s": 15.0}
    s = SimulationSettings.from_config({**base, **section}, seed=1)
    model = build_model(s, *hand)
    worm = simulate_worm(model, 0)
    assert worm.sizes["frame"] == pytest.approx(90.0 / s.native_dt, abs=3)
    assert np.all(np.isfinite(worm["traces"].values))
    assert set(np.unique(worm["hidden_state"].values)) <= set(range(len(s.states)))
    assert worm.sizes["community"] == s.n_communities
    assert model.sizes["block"] == (0 if s.n_communities == 0 else 3)


def test_model_needs_wiring(hand):
    wiring, table = hand
    with pytest.raises(Exception, match="no interaction"):
        build_model(SimulationSettings.from_config({"n_neurons": 50}), wiring * 0, table)


def test_state_drive_matches_biology():
    names = ["AVAL", "AVAR", "AVBL", "RIS", "SMDVL", "SMDDL", "ASEL"]
    drive = state_drive(["forward", "reversal", "turn", "quiescence"], names, 1.0)
    col = {n: i for i, n in enumerate(names)}
    assert drive[1, col["AVAL"]] > 0 > drive[0, col["AVAL"]]
    assert drive[0, col["AVBL"]] > 0 > drive[1, col["AVBL"]]
    assert drive[2, col["SMDVL"]] > 0 > drive[2, col["SMDDL"]]
    assert drive[3, col["RIS"]] > 0 and drive[3, col["ASEL"]] < 0
    assert np.all(drive[:3, col["ASEL"]] == 0)


def test_head_candidates_exclude_tail():
    head = set(head_candidates())
    assert {"AVAL", "RIS", "VB2", "DD1", "MI"} <= head
    assert not {"PVCL", "PLML", "VB5", "DA9", "ALML", "DVA"} & head
    anatomy = np.zeros((2, len(NEURONS), len(NEURONS)))
    chosen = select_neurons(anatomy, 30, ["forward", "reversal"])
    assert {"AVAL", "AVBL", "RIML"} <= set(chosen) and len(chosen) == 30


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.2, 1.0), st.floats(0.0, 0.03))
def test_frame_times_are_ordered_and_jittered(seed, dt, jitter):
    t = frame_times(60.0, dt, jitter, np.random.default_rng(seed))
    steps = np.diff(t)
    assert t[0] == 0 and t[-1] <= 60.0 and t[-1] > 60.0 - dt - 3 * jitter - 1e-9
    assert np.all(steps >= dt - 3 * jitter - 1e-12) and np.all(steps <= dt + 3 * jitter + 1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_written_labels_resolve_to_truth(seed):
    rng = np.random.default_rng(seed)
    names = list(rng.choice(NEURONS, 40, replace=False))
    written = written_labels(names, 0.5, 0.5, rng)
    for name, label in zip(names, written, strict=True):
        if label.endswith("?"):
            assert label[:-1] == name[:-1] and name[-1] in "LR"
        elif label != name:
            assert label.replace("0", "") == name and len(label) == len(name) + 1


def test_label_fields_follow_dag2023_conventions():
    assert label_fields("RMDDL", "RMD") == ("RMD", "L", "D")
    assert label_fields("RMDD?", "RMD") == ("RMD", "missing", "D")
    assert label_fields("AIY?", "AIY") == ("AIY", "missing", "undefined")
    assert label_fields("VB02", "VB") == ("VB02", "undefined", "undefined")
    assert label_fields("RID", "RID") == ("RID", "undefined", "undefined")
    assert label_fields("RMED", "RME") == ("RME", "undefined", "D")


def test_recorded_subset_follows_detectability():
    rng = np.random.default_rng(0)
    detect = np.linspace(0.05, 1.0, 100)
    counts = np.zeros(100)
    for _ in range(200):
        recorded, labelled = recorded_and_labelled(detect, [0.6, 0.8], [0.6, 0.8], rng)
        assert 60 <= recorded.sum() <= 80 and not np.any(labelled & ~recorded)
        counts += recorded
    assert np.corrcoef(detect, counts)[0, 1] > 0.8


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=5, max_size=50), st.floats(0.05, 0.5),
       st.floats(0.5, 3.0))
def test_calcium_is_a_bounded_causal_smoothing(values, rise, decay):
    a = np.repeat(np.asarray(values), 5)[:, None]
    c = calcium(a, 0.1, rise, decay)
    assert c.shape == a.shape
    assert np.all(c >= a.min() - 1e-9) and np.all(c <= a.max() + 1e-9)
    step = calcium(np.r_[np.zeros(20), np.ones(200)][:, None], 0.1, rise, decay)
    assert np.all(step[:20] == 0) and np.all(np.diff(step[:, 0]) >= -1e-12)


def test_interpolate_frames_is_linear():
    grid = np.arange(0, 10, 0.1)
    values = np.stack([grid, 2 * grid + 1], axis=1)
    frames = np.array([0.0, 0.55, 3.33, 9.8])
    assert np.allclose(interpolate_frames(values, grid, frames),
                       np.stack([frames, 2 * frames + 1], axis=1))


def test_states_have_the_configured_dwells():
    dwell = np.array([30.0, 7.0])
    jump = np.array([[0.0, 1.0], [1.0, 0.0]])
    t = np.arange(0, 20000, 0.1)
    states = sample_states(t, dwell, jump, 2.0, np.random.default_rng(1))
    change = np.flatnonzero(np.diff(states)) + 1
    runs = np.diff(change) * 0.1
    first = states[change[:-1]]
    assert np.mean(runs[first == 0]) == pytest.approx(30.0, rel=0.15)
    assert np.mean(runs[first == 1]) == pytest.approx(7.0, rel=0.15)


def test_integration_stays_bounded_even_when_unstable():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 2.0, (1, 20, 20))  # spectral radius >> 1
    inputs = rng.normal(0, 1, (2000, 20))
    x = integrate(np.zeros(20), np.full(20, 1.0), w, np.zeros(2000, int), inputs, 0.3, 0.1, rng)
    bound = np.abs(w[0]).sum(axis=1) + np.abs(inputs).max() + 10 * 0.3
    assert np.all(np.isfinite(x)) and np.all(np.abs(x) <= bound)


def test_community_coupling_blocks():
    member = np.zeros((2, 10), dtype=bool)
    member[0, :4] = member[1, 5:8] = True
    c = community_coupling(member, 0.3)
    assert spectral_radius(c[0]) == pytest.approx(0.3)
    assert np.all(c[0][~np.outer(member[0], member[0])] == 0)


# --------------------------------------------------------------------------------------------
# files: determinism and layout


def test_same_seed_gives_identical_files(tmp_path, hand):
    small = SimulationSettings.from_config({"worms": 2, "duration_s": 60.0, "n_neurons": 50,
                                            "n_communities": 2, "community_size": [4, 6]},
                                           seed=5)
    first = simulate_recording(small, tmp_path / "a", *hand).parent
    second = simulate_recording(small, tmp_path / "b", *hand).parent
    for name in ("worm00-data.h5", "worm01-data.h5", "worm00-labels.csv", "worm01-labels.csv"):
        assert filecmp.cmp(first / name, second / name, shallow=False), name
    for name in ("model.nc", "truth/worm01.nc", "ground_truth.nc"):
        a, b = xr.load_dataset(first / name), xr.load_dataset(second / name)
        a.attrs.pop("provenance", None), b.attrs.pop("provenance", None)
        xr.testing.assert_identical(a, b)
    # a worm does not depend on how many worms the recording has
    more = dataclasses.replace(small, worms=3)
    alone = simulate_recording(more, tmp_path / "c", *hand).parent
    assert filecmp.cmp(first / "worm01-data.h5", alone / "worm01-data.h5", shallow=False)
    # another seed gives other data
    other = simulate_recording(dataclasses.replace(small, seed=6), tmp_path / "d", *hand).parent
    assert not filecmp.cmp(first / "worm00-data.h5", other / "worm00-data.h5", shallow=False)


def test_files_have_the_real_dag2023_layout(recording, dag2023):
    folder, _ = recording
    real = sorted((dag2023 / "swf702_with_id").glob("*-data.h5"))[0]
    keys = ["gcamp/traces_array_F_F20", "timing/timestamp_confocal", "behavior/velocity",
            "behavior/head_angle", "behavior/reversal_vec", "behavior/angular_velocity",
            "behavior/pumping"]
    with h5py.File(real, "r") as ours_real, h5py.File(folder / "worm00-data.h5", "r") as ours:
        for key in keys:
            assert ours[key].dtype == ours_real[key].dtype, key
            assert ours[key].ndim == ours_real[key].ndim, key
            assert ours[key].shape[0] == ours["timing/timestamp_confocal"].shape[0]
        real_dt = np.median(np.diff(ours_real["timing/timestamp_confocal"][()]))
        our_dt = np.median(np.diff(ours["timing/timestamp_confocal"][()]))
        assert our_dt == pytest.approx(real_dt, abs=0.05)
    real_labels = pd.read_csv(dag2023 / "neuropal_labels_flat.csv", nrows=3)
    assert list(pd.read_csv(folder / "worm00-labels.csv").columns) == list(real_labels.columns)
    assert tuple(real_labels.columns) == LABEL_COLUMNS


def test_reader_of_the_recordings_stage_reads_the_worms(recording):
    from pipelines.recordings.readers import flavell

    folder, truth = recording
    worm = flavell.read(folder / "worm02-data.h5")[0].validate()
    assert worm.worm == "worm02"
    assert worm.labels == list(truth["roi_label"].sel(worm="worm02").values[:len(worm.labels)])
    assert set(worm.behaviour) >= {"velocity", "head_angle", "reversal"}


# --------------------------------------------------------------------------------------------
# ground truth is consistent with the recordings


def _columns(truth, worm, names):
    roi = list(truth["roi_neuron"].sel(worm=worm).values)
    return [roi.index(n) for n in names if n in roi]


def test_truth_bookkeeping(recording):
    folder, truth = recording
    recorded = truth["recorded"].values
    assert np.all(truth["labelled"].values <= recorded)
    assert len({tuple(r) for r in recorded}) == truth.sizes["worm"]  # worms differ
    for w, worm in enumerate(truth["worm"].values):
        data, labels = worm_files(folder, worm)
        n_frames = len(data["timing/timestamp_confocal"])
        state = truth["hidden_state"].values[w]
        assert np.all(state[:n_frames] >= 0) and np.all(state[n_frames:] == -1)
        assert np.allclose(truth["state_time"].values[w, :n_frames],
                           data["timing/timestamp_confocal"] - data["timing/timestamp_confocal"][0])
        roi = truth["roi_neuron"].values[w]
        n_roi = data["gcamp/traces_array_F_F20"].shape[1]
        assert (roi[:n_roi] != "").sum() == recorded[w].sum()
        assert np.all(roi[n_roi:] == "")
        # every label row sits on a ROI of that neuron
        for column, label in zip(labels["column_0based"], labels["label"], strict=True):
            name = roi[column]
            assert label in (name, name[:-1] + "?") or label.replace("0", "") == name
        assert len(labels) == truth["labelled"].values[w].sum()
        frac = recorded[w].sum() / truth.sizes["neuron"]
        assert 0.6 - 0.01 <= frac <= 0.8 + 0.01


def test_labels_include_ambiguous_and_zero_padded(recording):
    folder, truth = recording
    labels = pd.concat([worm_files(folder, w)[1] for w in truth["worm"].values])
    assert labels["label"].str.endswith("?").any()
    assert labels["label"].str.match(r"^(AS|DA|DB|DD|VA|VB|VD)0\d$").any()
    assert (labels.loc[labels["label"].str.endswith("?"), "LR"] == "missing").all()


def test_behaviour_is_tied_to_the_state(recording):
    folder, truth = recording
    names = list(truth["state"].values)
    rev, fwd, turn = names.index("reversal"), names.index("forward"), names.index("turn")
    negative, elsewhere, head_turn, head_fwd = [], [], [], []
    for w, worm in enumerate(truth["worm"].values):
        data, _ = worm_files(folder, worm)
        state = truth["hidden_state"].values[w, :len(data["behavior/velocity"])]
        assert np.array_equal(data["behavior/reversal_vec"], (state == rev).astype(np.int64))
        negative.extend(data["behavior/velocity"][state == rev] < 0)
        elsewhere.extend(data["behavior/velocity"][state != rev] < 0)
        head_turn.extend(data["behavior/head_angle"][state == turn])
        head_fwd.extend(data["behavior/head_angle"][state == fwd])
    assert np.mean(negative) > 0.9 and np.mean(elsewhere) < 0.05
    assert np.mean(head_turn) > np.mean(head_fwd) + 0.3


def test_command_neurons_follow_the_state(recording):
    """AVA calcium is higher in reversal than forward, AVB the opposite, in every worm with
    at least 20 reversal frames (one short reversal barely recruits the slow circuit)."""
    folder, truth = recording
    names = list(truth["state"].values)
    rev, fwd = names.index("reversal"), names.index("forward")
    checked = 0
    for w, worm in enumerate(truth["worm"].values):
        data, _ = worm_files(folder, worm)
        traces = data["gcamp/traces_array_F_F20"]
        state = truth["hidden_state"].values[w, :len(traces)]
        if (state == rev).sum() < 20:
            continue
        for neuron, sign in (("AVAL", 1), ("AVAR", 1), ("AVBL", -1), ("AVBR", -1)):
            for column in _columns(truth, worm, [neuron]):
                gap = traces[state == rev, column].mean() - traces[state == fwd, column].mean()
                assert sign * gap > 0, (worm, neuron, gap)
                checked += 1
    assert checked >= 3


def test_planted_communities_coactivate_in_their_windows(recording):
    """Members' frame-to-frame changes correlate more inside their stimulus windows than
    outside, and more than non-member pairs inside the same windows."""
    folder, truth = recording
    inside_minus_outside, inside_minus_others = [], []
    for w, worm in enumerate(truth["worm"].values):
        data, _ = worm_files(folder, worm)
        traces = np.diff(data["gcamp/traces_array_F_F20"], axis=0)
        t = truth["state_time"].values[w, 1:len(traces) + 1]
        for c in truth["community"].values:
            members = list(truth["neuron"].values[truth["membership"].values[c]])
            others = [n for n in truth["neuron"].values if n not in members]
            cols = _columns(truth, worm, members)
            other_cols = _columns(truth, worm, others)[:len(cols)]
            if len(cols) < 3:
                continue
            window = np.zeros(len(t), dtype=bool)
            for start, end in zip(truth["window_start"].values[c], truth["window_end"].values[c],
                                  strict=True):
                window |= (t >= start) & (t < end)
            inside = _mean_correlation(traces[window][:, cols])
            inside_minus_outside.append(inside - _mean_correlation(traces[~window][:, cols]))
            inside_minus_others.append(inside - _mean_correlation(traces[window][:, other_cols]))
    assert len(inside_minus_outside) >= 8
    assert np.mean(inside_minus_outside) > 0.2 and np.mean(np.array(inside_minus_outside) > 0) > 0.8
    assert np.mean(inside_minus_others) > 0.3


def _mean_correlation(x):
    corr = np.corrcoef(x.T)
    return float(np.nanmean(corr[np.triu_indices(len(corr), 1)]))


def test_states_change_the_dynamics(recording):
    """A ridge VAR(1) fitted on one state's frames predicts held-out frames of that state
    better than the VAR(1) of another state (true latent activity; train worms 0-1, test 2-3)."""
    _, truth = recording
    names = list(truth["state"].values)
    pairs = [(names.index("forward"), names.index("reversal")),
             (names.index("forward"), names.index("quiescence"))]

    def transitions(worms, k):
        xs, ys = [], []
        for w in worms:
            act = truth["activity"].values[w].T  # (frame, neuron)
            state = truth["hidden_state"].values[w]
            keep = (state[:-1] == k) & (state[1:] == k) & np.isfinite(act[1:, 0])
            xs.append(act[:-1][keep])
            ys.append(act[1:][keep])
        return np.concatenate(xs), np.concatenate(ys)

    def fit(x, y, ridge=1.0):
        x1 = np.c_[x, np.ones(len(x))]
        return np.linalg.solve(x1.T @ x1 + ridge * np.eye(x1.shape[1]), x1.T @ y)

    def error(beta, x, y):
        return float(np.mean((np.c_[x, np.ones(len(x))] @ beta - y) ** 2))

    for a, b in pairs:
        train = {k: fit(*transitions([0, 1], k)) for k in (a, b)}
        for k, other in ((a, b), (b, a)):
            x, y = transitions([2, 3], k)
            assert error(train[k], x, y) < error(train[other], x, y)


def test_simulate_worm_is_independent_of_other_worms(recording):
    folder, truth = recording
    model = xr.load_dataset(folder / "model.nc")
    worm = simulate_worm(model, 1)
    data, _ = worm_files(folder, "worm01")
    assert np.array_equal(worm["traces"].values, data["gcamp/traces_array_F_F20"])


def test_truth_on_a_homogenized_grid(recording):
    from pipelines.simulate import community_active, state_on_grid

    _, truth = recording
    grid = np.arange(-1.0, 330.0, 0.333)
    state = state_on_grid(truth, grid)
    assert state.dims == ("worm", "time") and np.all(state.values[:, 0] == -1)
    assert np.all(state.values[:, -1] == -1)  # after the 320 s recordings
    for w in range(truth.sizes["worm"]):
        frames = truth["state_time"].values[w]
        n = int(np.isfinite(frames).sum())
        at = np.searchsorted(grid, frames[:n])  # first grid point at or after each frame
        ok = (at < len(grid)) & np.isclose(grid[np.minimum(at, len(grid) - 1)], frames[:n])
        assert np.all(state.values[w, at[ok]] == truth["hidden_state"].values[w, :n][ok])
        inside = (grid >= 0) & (grid <= frames[n - 1])
        assert np.all(state.values[w, inside] >= 0)
    active = community_active(truth, grid)
    for c in truth["community"].values:
        starts = truth["window_start"].values[c]
        for start in starts[np.isfinite(starts)]:
            assert active.values[c, np.searchsorted(grid, start + 1.0)]
    assert active.values.sum(axis=0).max() == 1  # one block at a time by default


def _trace_statistics(traces):
    """Summary statistics of a (frame, roi) F/F20 array, each trace over its mean."""
    x = traces / traces.mean(axis=0)
    d = np.diff(x, axis=0)

    def lag1(a):
        a = a - a.mean(axis=0)
        return float(np.mean((a[1:] * a[:-1]).sum(axis=0) / (a * a).sum(axis=0)))

    corr = np.corrcoef(x.T)
    return {"sd": float(np.median(x.std(axis=0))), "lag1": lag1(x), "diff_lag1": lag1(d),
            "abs_corr": float(np.mean(np.abs(corr[np.triu_indices(len(corr), 1)]))),
            "p99": float(np.percentile(x, 99))}


@pytest.mark.realdata
def test_traces_look_like_dag2023(recording, dag2023):
    """Amplitude, smoothness, frame-level noise, correlation and tails of the simulated F/F20
    traces are in the range of the real Dag 2023 recordings."""
    folder, truth = recording
    real = [_trace_statistics(h5py.File(p, "r")["gcamp/traces_array_F_F20"][()])
            for p in sorted((dag2023 / "swf702_with_id").glob("*-data.h5"))]
    ours = [_trace_statistics(worm_files(folder, w)[0]["gcamp/traces_array_F_F20"])
            for w in truth["worm"].values]
    tolerance = {"sd": 0.08, "lag1": 0.08, "diff_lag1": 0.1, "abs_corr": 0.1, "p99": 0.4}
    for key, tol in tolerance.items():
        low = min(r[key] for r in real) - tol
        high = max(r[key] for r in real) + tol
        mean = np.mean([o[key] for o in ours])
        assert low <= mean <= high, (key, mean, low, high)
