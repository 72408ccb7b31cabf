"""Predictor stage: leakage-free windows, train-only normalisation, the transformer's
copy-last start and masking, checkpoints, baselines on planted processes, scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipelines.common import NEURONS
from pipelines.connectome.compare import degree_preserving_shuffle, edge_auroc
from pipelines.predictor import pipeline
from pipelines.predictor.baselines import CopyLast, RidgeVAR, SharedAR
from pipelines.predictor.data import (
    fit_normalizer,
    frame_step,
    native_dataset,
    panel_from_dataset,
    time_splits,
    window_origins,
)
from pipelines.predictor.evaluate import forecast_metrics
from pipelines.predictor.model import ModelConfig, NeuronTransformer
from pipelines.predictor.train import (
    TrainConfig,
    fit,
    load_checkpoint,
    rollout,
    save_checkpoint,
)


def planted_worms(n_worms=3, n_time=400, n_neurons=12, seed=0, coupling=0.5):
    """Worms whose changes follow a shared AR(1) with cross-neuron coupling, each recording a
    different subset of neurons."""
    rng = np.random.default_rng(seed)
    n_total = n_neurons + 4
    a = coupling * rng.normal(0, 1 / np.sqrt(n_total), (n_total, n_total))
    worms = []
    for w in range(n_worms):
        change = np.zeros((n_time, n_total))
        for t in range(1, n_time):
            change[t] = 0.6 * change[t - 1] + a @ change[t - 1] * 0.3 + rng.normal(0, 1, n_total)
        x = np.cumsum(change, 0) * 0.1
        x -= x.mean(0)
        keep = np.sort(rng.permutation(n_total)[:n_neurons])
        worms.append({"worm": f"w{w}", "calcium": x[:, keep], "dt": 0.6,
                      "neurons": [NEURONS[10 * i] for i in keep],
                      "velocity": x[:, keep[0]] + rng.normal(0, 0.1, n_time),
                      "reversal": (x[:, keep[1]] > 0).astype(float)})
    return worms


def tiny_config(**kw):
    values = {"context": 6, "horizon": 2, "d_model": 16, "layers": 1, "heads": 2, "dropout": 0.0}
    return ModelConfig(**{**values, **kw})


@settings(max_examples=40, deadline=None)
@given(length=st.integers(120, 900), context=st.integers(2, 20), horizon=st.integers(1, 16),
       test=st.floats(0.15, 0.35), val=st.floats(0.0, 0.2))
def test_windows_never_cross_split_gaps(length, context, horizon, test, val):
    try:
        splits = time_splits(np.array([length, length - 7]), context, horizon, test, val)
    except ValueError:
        assume(False)  # too short for one window per block: refused, nothing to check
    for w in range(2):
        read = {}
        for name in ("train", "val", "test"):
            worms, origins = window_origins(splits.block(name), context, horizon)
            mine = origins[worms == w]
            if len(mine):
                read[name] = (mine.min() - context + 1, mine.max() + horizon)
        assert read["train"][1] < splits.val[w, 0] or "val" not in read
        assert read["train"][1] < splits.test[w, 0] - context
        assert read["test"][0] >= splits.test[w, 0]
        if "val" in read:
            assert read["val"][0] >= read["train"][1] + context
            assert read["val"][1] < splits.test[w, 0] - context + 1


def test_gap_smaller_than_context_is_refused():
    with pytest.raises(ValueError, match="gap"):
        time_splits(np.array([500]), context=16, horizon=4, gap=8)


def test_normalisation_reads_train_frames_only():
    ds = native_dataset(planted_worms(n_worms=2))
    panel = panel_from_dataset(ds)
    splits = time_splits(panel.length, 6, 4)
    mean, sd = fit_normalizer(panel, splits.train)
    tampered = panel.activity.copy()
    for w in range(2):
        tampered[w, splits.train[w, 1]:] = 1e6 * np.random.default_rng(w).normal(size=tampered[w, splits.train[w, 1]:].shape)
    from dataclasses import replace

    mean2, sd2 = fit_normalizer(replace(panel, activity=tampered), splits.train)
    # any leak of the 1e6-scale test values would move these by orders of magnitude
    np.testing.assert_allclose(mean, mean2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sd, sd2, rtol=1e-5, atol=1e-6)


def test_zero_init_head_is_copy_last_exactly():
    torch.manual_seed(0)
    model = NeuronTransformer(tiny_config()).eval()
    history = torch.randn(5, 6, 9)
    present = torch.rand(5, 9) > 0.3
    out = model(history, present, torch.arange(9) * 7, 0.6, torch.randn(5, 6, 3))
    expected = history[:, -1:, :].expand(-1, 2, -1)
    assert torch.equal(out["activity"][present[:, None, :].expand(-1, 2, -1)],
                       expected[present[:, None, :].expand(-1, 2, -1)])


def test_absent_neurons_do_not_change_outputs():
    torch.manual_seed(1)
    model = NeuronTransformer(tiny_config())
    torch.nn.init.normal_(model.head[-1].weight)  # a trained-looking head, not copy-last
    model.eval()
    history = torch.randn(4, 6, 10)
    present = torch.ones(4, 10, dtype=torch.bool)
    present[:, [2, 7]] = False
    ids = torch.arange(10) * 3
    base = model(history, present, ids, 0.6)["activity"]
    changed = history.clone()
    changed[:, :, 2] = 1e3
    changed[:, :, 7] = float("nan")
    again = model(changed, present, ids, 0.6)["activity"]
    keep = present[0]
    assert torch.allclose(base[:, :, keep], again[:, :, keep])
    # and a present neuron's data do matter (the check above can fail)
    changed[:, :, 0] += 5.0
    assert not torch.allclose(base[:, :, keep], model(changed, present, ids, 0.6)["activity"][:, :, keep])


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    torch.manual_seed(2)
    model = NeuronTransformer(tiny_config(level_input=True))
    torch.nn.init.normal_(model.head[-1].weight)
    model.eval()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, {"dt": 0.6, "loss_log": [{"epoch": 0, "train_loss": 1.0}]})
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"state_dict", "config", "metadata"}
    loaded, metadata = load_checkpoint(path, device="cpu")
    assert metadata["dt"] == 0.6 and loaded.config == model.config
    history, present = torch.randn(3, 6, 5), torch.ones(3, 5, dtype=torch.bool)
    ids = torch.arange(5)
    assert torch.equal(model(history, present, ids, 0.6)["activity"],
                       loaded(history, present, ids, 0.6)["activity"])


def test_tiny_model_beats_copy_last_on_planted_ar():
    ds = native_dataset(planted_worms(n_worms=3, n_time=500))
    panel = panel_from_dataset(ds)
    splits = time_splits(panel.length, 6, 2, 0.25, 0.15)
    from pipelines.predictor.data import normalize

    panel, _ = normalize(panel, splits.train)
    torch.set_num_threads(1)
    model, report = fit(panel, splits.train, splits.val, tiny_config(n_behaviours=3),
                        TrainConfig(max_epochs=6, max_minutes=0.5, lr=3e-3, neuron_dropout=0.0,
                                    behaviour_weight=0.0), progress=False)
    assert report["loss_log"][-1]["train_loss"] < report["loss_log"][0]["train_loss"] * 1.05
    worm, origin = window_origins(splits.test, 6, 1)
    predicted = rollout(model, panel, worm, origin, 1)["activity"][:, 0]
    observed = panel.activity[worm, origin + 1]
    last = panel.activity[worm, origin]
    ok = panel.present[worm]
    mse = np.mean((predicted - observed)[ok] ** 2)
    copy = np.mean((last - observed)[ok] ** 2)
    assert 1 - mse / copy > 0.1


def test_ridge_var_recovers_planted_var_on_changes():
    rng = np.random.default_rng(3)
    n, t = 6, 3000
    a = rng.normal(0, 0.25, (n, n))
    change = np.zeros((t, n))
    for i in range(1, t):
        change[i] = change[i - 1] @ a + rng.normal(0, 1, n)
    x = np.cumsum(change, 0).astype(np.float32)
    var = RidgeVAR.fit(x, np.ones(n, bool), (0, 2500), (2500, 3000))
    assert np.corrcoef(var.coef.ravel(), a.ravel())[0, 1] > 0.95
    assert np.abs(var.coef - a).max() < 0.1


def test_shared_ar_recovers_planted_coefficients_across_worms():
    rng = np.random.default_rng(4)
    coef = np.array([0.5, -0.3])
    activity = np.zeros((3, 1500, 5), np.float32)
    for w in range(3):
        change = np.zeros((1500, 5))
        for t in range(2, 1500):
            change[t] = coef[0] * change[t - 1] + coef[1] * change[t - 2] + rng.normal(0, 1, 5)
        activity[w] = np.cumsum(change, 0)
    blocks = np.array([[0, 1200]] * 3)
    val = np.array([[1200, 1500]] * 3)
    ar = SharedAR.fit(activity, np.ones((3, 5), bool), blocks, val, order=3)
    np.testing.assert_allclose(ar.coef, [0.5, -0.3, 0.0], atol=0.05)
    history = activity[:1, 1000:1004]
    step = ar.rollout(history, 1)[0, 0]
    d = np.diff(history[0], axis=0)
    np.testing.assert_allclose(step, history[0, -1] + d[::-1][:3].T @ ar.coef + ar.intercept, rtol=1e-5)


def test_copy_last_rollout_and_skill_definition():
    history = np.random.default_rng(5).normal(size=(7, 4, 3))
    forecast = CopyLast().rollout(history, 5)
    assert forecast.shape == (7, 5, 3) and np.all(forecast == history[:, -1:, :])
    observed = np.random.default_rng(6).normal(size=(50, 3))
    last = np.random.default_rng(7).normal(size=(50, 3))
    copy = forecast_metrics(last, observed, last)
    np.testing.assert_allclose(copy["skill"], 0.0)
    perfect = forecast_metrics(observed, observed, last)
    np.testing.assert_allclose(perfect["r2"], 1.0)
    np.testing.assert_allclose(perfect["skill"], 1.0)


def test_upsampled_store_is_subsampled_or_refused():
    ds = native_dataset(planted_worms(n_worms=1))
    ds.attrs["dt"] = 0.2
    ds["native_dt"][:] = 0.6
    assert frame_step(ds, "subsample") == 3
    assert frame_step(ds, "warn") == 1
    with pytest.raises(ValueError, match="upsampled"):
        frame_step(ds, "error")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), density=st.floats(0.05, 0.4))
def test_degree_preserving_shuffle_keeps_degrees(seed, density):
    edges = np.random.default_rng(seed).random((15, 15)) < density
    np.fill_diagonal(edges, False)
    shuffled = degree_preserving_shuffle(edges, seed)
    np.testing.assert_array_equal(shuffled.sum(0), edges.sum(0))
    np.testing.assert_array_equal(shuffled.sum(1), edges.sum(1))
    assert not shuffled.diagonal().any()


def test_edge_auroc_separates_true_map_from_null():
    rng = np.random.default_rng(8)
    reference = (rng.random((30, 30)) < 0.15).astype(float)
    np.fill_diagonal(reference, np.nan)
    score = np.nan_to_num(reference) + rng.normal(0, 0.3, reference.shape)
    good = edge_auroc(score, reference, n_null=30)
    assert good["auroc"] > 0.9 and good["p_value"] < 0.05
    noise = edge_auroc(rng.normal(size=reference.shape), reference, n_null=30)
    assert abs(noise["auroc"] - 0.5) < 0.1 and noise["p_value"] > 0.01


def test_defaults_match_the_schema(repo):
    import yaml

    schema = yaml.safe_load((repo / "workflow/schemas/predictor.schema.yaml").read_text())
    assert {k: v["default"] for k, v in schema["properties"].items()} == pipeline.DEFAULTS
    assert all("description" in v for v in schema["properties"].values())


def test_stage_end_to_end_on_a_tiny_store(tmp_path):
    ds = native_dataset(planted_worms(n_worms=3, n_time=300))
    store = tmp_path / "store.nc"
    ds.to_netcdf(store, engine="h5netcdf")
    settings = {"context_frames": 6, "horizon_frames": 2, "horizons_s": [0.6, 2.4],
                "d_model": 16, "layers": 1, "heads": 2, "max_epochs": 1, "max_minutes": 0.2,
                "heldout_worms": 1, "heldout_max_minutes": 0.1, "few_shot_steps": 2,
                "connectivity_null": 3, "device": "cpu"}
    pipeline.train_recording(store, tmp_path / "model.pt", settings, threads=1)
    table = pipeline.evaluate_recording(store, tmp_path / "model.pt", tmp_path / "evaluation.csv",
                                        tmp_path / "predictor.nc", settings, threads=1)
    assert {"copy_last", "ridge_var", "shared_ar", "transformer", "transformer_fewshot"} <= set(table["model"])
    with xr.open_dataset(tmp_path / "predictor.nc") as out:
        assert out["evaluation"].dims == ("model", "horizon", "metric")
        assert out.attrs["frame_dt_s"] == pytest.approx(0.6)
        assert out["attention"].dims == ("post", "pre")
        np.testing.assert_allclose(out["evaluation"].sel(model="copy_last", metric="skill"), 0.0)
        forecast = out["forecast"].sel(horizon=0.6)
        test_start = int(np.ceil(300 * 0.75))
        assert np.isnan(forecast.isel(time=slice(0, test_start))).all()
        assert np.isfinite(forecast.isel(time=slice(test_start, None))).any()
    # mapping mode: another recording's worms through this model, all scored as held out
    mapped = pipeline.map_recording(store, tmp_path / "model.pt", tmp_path / "mapped.csv",
                                    tmp_path / "mapped.nc", {**settings, "few_shot_minutes": 0.5},
                                    threads=1)
    assert set(mapped["split"]) == {"mapped"} and "transformer_fewshot" in set(mapped["model"])
    with xr.open_dataset(tmp_path / "mapped.nc") as out:
        assert out.attrs["evaluation_split"] == "mapped"
        assert "correlation_auroc" in out


@pytest.mark.realdata
def test_baselines_reproduce_the_dag2023_anchors(dag2023):
    """Native 0.6 s frames, last 30% test: copy-last and shared AR(8) on changes land on the
    independently measured anchors of reference/predictor.md §7 (0.72 / 0.32 and 0.74 / 0.38)."""
    from pipelines.predictor.baselines import SharedAR
    from pipelines.predictor.data import normalize
    from pipelines.predictor.evaluate import evaluate_worm
    from pipelines.recordings.labels import standardize_labels
    from pipelines.recordings.readers.flavell import read

    worms = []
    for path in sorted((dag2023 / "swf702_with_id").glob("*-data.h5")):
        (recording,) = read(path, dag2023 / "neuropal_labels_flat.csv")
        labels = standardize_labels(recording.labels)
        columns = [i for i, name in enumerate(labels) if name]
        worms.append({"worm": recording.worm, "calcium": recording.traces[:, columns],
                      "neurons": [labels[i] for i in columns],
                      "dt": float(np.median(np.diff(recording.timestamps)))})
    panel = panel_from_dataset(native_dataset(worms))
    assert panel.dt == pytest.approx(0.6, abs=0.03)
    splits = time_splits(panel.length, 16, 16, test_fraction=0.3)
    panel, _ = normalize(panel, splits.train)
    shared = SharedAR.fit(panel.activity, panel.present, splits.train, splits.val, 8)
    rows = []
    for w in range(len(worms)):
        forecasters = {
            "copy_last": lambda ww, o, n: CopyLast().rollout(panel.activity[ww, o][:, None], n),
            "shared_ar": lambda ww, o, n: shared.rollout(
                np.stack([panel.activity[ww, o - k] for k in range(8, -1, -1)], 1), n),
        }
        table, _ = evaluate_worm(panel, w, splits.test[w], forecasters, np.array([1, 4]), 16)
        rows.append(table)
    import pandas as pd

    r2 = pd.concat(rows).query("metric == 'r2'").groupby(["model", "horizon_s"])["value"].median()
    assert r2["copy_last", 0.6] == pytest.approx(0.72, abs=0.03)
    assert r2["copy_last", 2.4] == pytest.approx(0.32, abs=0.04)
    assert r2["shared_ar", 2.4] == pytest.approx(0.38, abs=0.04)
    assert r2["shared_ar", 2.4] > r2["copy_last", 2.4]


def test_stage_runs_on_a_recording_without_behaviour(tmp_path):
    """The Hub corpus carries no behaviour: forecasting is evaluated, decoding is skipped."""
    ds = native_dataset(planted_worms(n_worms=3, n_time=200))
    ds = ds.drop_vars([v for v in ("velocity", "head_angle", "reversal", "angular_velocity",
                                   "pumping") if v in ds])
    store = tmp_path / "store.nc"
    ds.to_netcdf(store, engine="h5netcdf")
    settings = {"context_frames": 6, "horizon_frames": 2, "horizons_s": [0.6], "d_model": 16,
                "layers": 1, "heads": 2, "max_epochs": 1, "max_minutes": 0.1,
                "heldout_worms": 1, "heldout_max_minutes": 0.1, "few_shot_steps": 1,
                "connectivity_null": 2, "device": "cpu"}
    pipeline.train_recording(store, tmp_path / "model.pt", settings, threads=1)
    pipeline.evaluate_recording(store, tmp_path / "model.pt", tmp_path / "evaluation.csv",
                                tmp_path / "predictor.nc", settings, threads=1)
    table = pd.read_csv(tmp_path / "evaluation.csv")
    assert (table["table"] == "forecast").any() and not (table["table"] == "behaviour").any()
    with xr.open_dataset(tmp_path / "predictor.nc") as out:
        assert "behaviour_decoding" not in out and "evaluation" in out
