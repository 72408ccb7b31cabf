"""The glmhmm stage's data products on a small planted homogenized recording."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from pipelines.common import NEURONS, write_netcdf
from pipelines.glmhmm.pipeline import fit_recording, load_model, map_recording, save_model
from pipelines.glmhmm.planted import random_params, sample
from pipelines.glmhmm.select import block_split, choose_k, segments


def _store(rng, n_worms=3, n_time=400, n_neurons=6, missing=((1, 2),)):
    params = random_params(2, n_neurons, rng, density=0.3)
    states, y = sample(params, n_worms, n_time, rng)
    calcium = np.full((n_worms, len(NEURONS), n_time), np.nan, np.float32)
    slots = np.arange(n_neurons) * 7
    calcium[:, slots] = y.transpose(0, 2, 1)
    labeled = np.zeros((n_worms, len(NEURONS)), bool)
    labeled[:, slots] = True
    for w, i in missing:
        calcium[w, slots[i]] = np.nan
        labeled[w, slots[i]] = False
    calcium[2, :, 350:] = np.nan  # worm 2 ends early
    ds = xr.Dataset(
        {"calcium": (("worm", "neuron", "time"), calcium), "labeled": (("worm", "neuron"), labeled)},
        coords={"worm": [f"w{i}" for i in range(n_worms)], "neuron": list(NEURONS), "time": np.arange(n_time) * 0.6},
    )
    return ds, states, [NEURONS[s] for s in slots]


SETTINGS = {"n_states": [1, 2, 3], "restarts": 1, "max_iter": 30, "min_worm_fraction": 0.6, "prior": "onehot",
            "onehot_strength": 0.3, "onehot_strength_scale": 0.1, "onehot_none_scale": 0.02}  # planted scale


def test_fit_map_roundtrip(tmp_path):
    ds, states, names = _store(np.random.default_rng(0))
    write_netcdf(ds, tmp_path / "rec.nc")
    summary, model = fit_recording(tmp_path / "rec.nc", SETTINGS)
    assert summary.attrs["chosen_n_states"] == 2
    assert list(summary["post"].values) == names
    assert summary["state_posterior"].dims == ("worm", "time", "state")
    assert np.isnan(summary["state_posterior"].values[2, 360:]).all()
    np.testing.assert_allclose(summary["state_posterior"].values[0].sum(-1), 1.0, rtol=1e-5)
    assert summary["type_probability"].sizes["type"] == 3
    # the stage default: 3 own past frames per neuron, lag 1 being the self term
    assert summary["self_history"].sizes["self_lag"] == 3 and summary.attrs["self_lags"] == 3
    xr.testing.assert_equal(summary["self_history"].sel(self_lag=1, drop=True), summary["self_term"])
    assert summary["k_curve"].sizes["n_states"] == 3
    assert np.all(np.diff(summary["objective"].values) >= -1e-6 * np.abs(summary["objective"].values[1:]))
    assert summary["k_curve"].sel(n_states=2) > summary["k_curve"].sel(n_states=1)
    write_netcdf(summary, tmp_path / "glmhmm.nc")
    save_model(model, names, tmp_path / "model.npz")
    reloaded, neurons = load_model(tmp_path / "model.npz")
    assert list(neurons) == names
    mapped = map_recording(tmp_path / "rec.nc", tmp_path / "model.npz", tmp_path / "glmhmm.nc")
    np.testing.assert_allclose(mapped["state_posterior"].values, summary["state_posterior"].values, atol=1e-5)
    xr.testing.assert_equal(mapped["interaction"], summary["interaction"])


def test_block_split_and_segments():
    rng = np.random.default_rng(1)
    train = block_split(1000, 100, 0.2, rng)
    assert train.size == 1000 and (~train).sum() == 200
    y = np.arange(1000.0)[:, None]
    test_segments = segments(y, ~train)
    assert sum(len(s) for s in test_segments) == 200
    assert all(np.all(np.diff(s[:, 0]) == 1) for s in test_segments)


def test_choose_k_skips_unused_states():
    curve = xr.Dataset(
        {"heldout_loglik": ("n_states", [-1.0, -0.5, -0.45, -0.4]), "n_unused": ("n_states", [0, 0, 0, 1])},
        coords={"n_states": [1, 2, 3, 4]},
    )
    assert choose_k(curve, tolerance=0.0) == 3
    assert choose_k(curve, tolerance=0.06) == 2
    curve["n_unused"][:] = 1
    with pytest.raises(ValueError, match="no K"):
        choose_k(curve)


@pytest.mark.realdata
def test_dag2023_worms(dag2023):
    """Two real worms at native frames: a 2-state fit is monotone, uses both states and
    predicts held-out frames far better than the mean."""
    from pipelines.glmhmm.emissions import standardize
    from pipelines.glmhmm.evaluate import one_step_r2
    from pipelines.glmhmm.model import SwitchingGLM
    from pipelines.recordings.labels import standardize_labels
    from pipelines.recordings.readers.flavell import read

    worms = []
    for path in sorted((dag2023 / "swf702_with_id").glob("*-data.h5"))[:2]:
        (rec,) = read(path, dag2023 / "neuropal_labels_flat.csv")
        labels = standardize_labels(rec.labels)
        worms.append({n: rec.traces[:, i] for i, n in enumerate(labels) if n})
    common = sorted(set(worms[0]) & set(worms[1]))[:30]
    arrays = [np.column_stack([w[n] for n in common]) for w in worms]
    train = [a[:600] for a in arrays]
    z, mean, sd = standardize(train)
    test = [(a[600:] - m) / s for a, m, s in zip(arrays, mean, sd, strict=True)]
    model = SwitchingGLM(2, prior="onehot", n_restarts=1, max_iter=30).fit(z)
    assert model.monotone_violations_ == 0
    assert model.unused_states_.size == 0
    r2 = one_step_r2(test, model.predict(test))
    assert np.nanmedian(r2) > 0.5
    assert np.isfinite(model.score(test))


@pytest.mark.parametrize("prior", [
    {"prior": "onehot"},
    {"prior": "gaussian", "prior_scale": 0.3, "shared_scale": 1.0},  # the workflow config's family, planted scale
])
def test_fit_with_shared_noise_detrend_and_folds(tmp_path, prior):
    """The simulator setting of the workflow config: a bleaching-like linear trend is removed,
    noise is shared by the states, K comes from 3-fold cross-validation; mapping the same
    recording detrends it the same way and gives the same posteriors (with either prior)."""
    ds, states, names = _store(np.random.default_rng(0))
    trend = np.linspace(0.0, -3.0, ds.sizes["time"], dtype=np.float32)  # larger than the states' levels
    ds["calcium"] = ds["calcium"] + trend
    write_netcdf(ds, tmp_path / "rec.nc")
    settings = {**SETTINGS, **prior, "noise": "shared", "detrend": 1, "heldout_folds": 3, "k_tolerance": 0.0}
    summary, model = fit_recording(tmp_path / "rec.nc", settings)
    assert summary.attrs["prior"] == prior["prior"]
    assert summary.attrs["chosen_n_states"] == 2
    assert summary.attrs["detrend"] == 1
    assert summary["k_curve_folds"].shape == (3, 3)
    assert model.monotone_violations_ == 0
    noise = summary["noise_variance"].values
    np.testing.assert_allclose(noise, np.broadcast_to(noise[0], noise.shape))
    post = summary["state_posterior"].values
    ok = np.isfinite(post).all(-1)
    labels = post.argmax(-1)[ok]
    truth = states[:, : post.shape[1]][ok]
    accuracy = max(np.mean(labels == truth), np.mean(labels == 1 - truth))
    assert accuracy > 0.9
    write_netcdf(summary, tmp_path / "glmhmm.nc")
    save_model(model, names, tmp_path / "model.npz")
    mapped = map_recording(tmp_path / "rec.nc", tmp_path / "model.npz", tmp_path / "glmhmm.nc")
    np.testing.assert_allclose(mapped["state_posterior"].values, post, atol=1e-5)
