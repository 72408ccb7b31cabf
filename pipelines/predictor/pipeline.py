"""Stage entry points: train on a homogenized store, evaluate against baselines, map a new
recording through a trained model. Workflow scripts call these three functions."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import torch
import xarray as xr

from pipelines.common import NEURONS, get_logger, provenance, write_netcdf
from pipelines.common.atomic import atomic_path
from pipelines.common.provenance import provenance_attrs

from . import connectivity
from .baselines import CopyLast, RidgeVAR, SharedAR, SwitchingGLMOneStep
from .data import (
    BEHAVIOURS,
    BINARY_BEHAVIOURS,
    Panel,
    Splits,
    frame_step,
    gather,
    normalize,
    panel_from_dataset,
    time_splits,
)
from .evaluate import (
    behaviour_scores,
    evaluate_worm,
    fit_lagged_ridge,
    horizon_frames,
    lagged_features,
    sanity_rows,
    summarize,
    test_origins,
)
from .model import ModelConfig
from .train import (
    TrainConfig,
    attention_map,
    few_shot,
    fit,
    load_checkpoint,
    rollout,
    save_checkpoint,
)

log = get_logger(__name__)

DEFAULTS = {
    "context_frames": 16, "horizon_frames": 4, "horizons_s": [0.6, 2.4, 9.6], "d_model": 64,
    "layers": 2, "heads": 4, "ff_mult": 2, "dropout": 0.1, "neuron_dropout": 0.15,
    "behaviour_dropout": 0.5, "behaviour_weight": 0.2, "lr": 1e-3, "weight_decay": 0.05,
    "batch_size": 32, "max_epochs": 8, "max_minutes": 1.5, "patience": 2, "window_stride": 2,
    "test_fraction": 0.25, "val_fraction": 0.15, "split_gap_frames": None, "min_coverage": 0.9,
    "seeds": [0], "heldout_worms": 2, "heldout_max_minutes": 0.5, "few_shot_minutes": 2.0,
    "few_shot_steps": 60, "ar_order": 8, "decoder_lags": 8, "on_upsampled": "subsample",
    "device": "auto", "gpus": 0, "connectivity_null": 50, "glm_states": 0,
}
"""Defaults of every setting; kept equal to workflow/schemas/predictor.schema.yaml (tested)."""


@dataclass(frozen=True)
class Prepared:
    """A store ready for the predictor: raw and normalised panels, splits, statistics."""

    raw: Panel
    panel: Panel
    splits: Splits
    stats: dict
    stride: int


def settings_with_defaults(settings: dict | None) -> dict:
    """``settings`` over :data:`DEFAULTS`; unknown keys are an error."""
    settings = dict(settings or {})
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown predictor settings {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **settings}


def model_config(settings: dict) -> ModelConfig:
    """The architecture the settings describe (behaviour tokens in :data:`BEHAVIOURS` order)."""
    binary = tuple(i for i, name in enumerate(BEHAVIOURS) if name in BINARY_BEHAVIOURS)
    return ModelConfig(context=settings["context_frames"], horizon=settings["horizon_frames"],
                       d_model=settings["d_model"], layers=settings["layers"],
                       heads=settings["heads"], ff_mult=settings["ff_mult"],
                       dropout=settings["dropout"], n_behaviours=len(BEHAVIOURS),
                       binary_behaviours=binary)


def train_config(settings: dict, seed: int, max_minutes: float | None = None) -> TrainConfig:
    """Optimisation settings for one training run (``max_minutes`` overrides the cap)."""
    names = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in settings.items() if k in names}
    values.update(seed=int(seed))
    if max_minutes is not None:
        values["max_minutes"] = max_minutes
    return TrainConfig(**values)


def prepare(ds: xr.Dataset, settings: dict, path: str = "<dataset>") -> Prepared:
    """Panel at the native frame rate, leakage-free splits and train-only normalisation."""
    stride = frame_step(ds, settings["on_upsampled"], path)
    raw = panel_from_dataset(ds, settings["min_coverage"], stride, path)
    context = settings["context_frames"]
    h_max = int(horizon_frames(settings["horizons_s"], raw.dt).max())
    splits = time_splits(raw.length, context, max(h_max, settings["horizon_frames"]),
                         settings["test_fraction"], settings["val_fraction"],
                         settings["split_gap_frames"])
    panel, stats = normalize(raw, splits.train)
    return Prepared(raw, panel, splits, stats, stride)


def _set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(int(threads))


def train_recording(store_path, model_path, settings: dict | None = None,
                    threads: int | None = None) -> dict:
    """Pretrain on the train blocks of every worm of a store (early stopping on the val blocks)
    and save the checkpoint. Returns the training report (loss log, time, peak memory)."""
    settings = settings_with_defaults(settings)
    _set_threads(threads)
    with xr.open_dataset(store_path) as ds:
        prepared = prepare(ds.load(), settings, str(store_path))
    seed = settings["seeds"][0]
    model, report = fit(prepared.panel, prepared.splits.train, prepared.splits.val,
                        model_config(settings), train_config(settings, seed))
    metadata = {
        "report": report, "settings": _plain(settings), "seed": int(seed),
        "dt": prepared.panel.dt, "stride": prepared.stride, "worms": list(prepared.panel.worms),
        "neurons": list(prepared.panel.neurons), "store": str(store_path),
    }
    save_checkpoint(model_path, model, metadata)
    log.info("trained %d parameters in %.1f s (peak %.0f MB) -> %s", report["parameters"],
             report["train_seconds"], report["peak_memory_mb"], model_path)
    return report


def _plain(value):
    return json.loads(json.dumps(value, default=str))


def _transformer_forecaster(model, panel: Panel, use_behaviour: bool = True):
    return lambda w, o, n: rollout(model, panel, w, o, n, use_behaviour)["activity"]


def _baseline_forecasters(panel: Panel, worm: int, splits: Splits, shared: SharedAR) -> dict:
    var = RidgeVAR.fit(panel.activity[worm], panel.present[worm], splits.train[worm], splits.val[worm])
    out = {}
    for name, model in (("copy_last", CopyLast()), ("ridge_var", var), ("shared_ar", shared)):
        out[name] = (lambda m: lambda w, o, n: m.rollout(
            gather(panel.activity, w, o, 1 - m.context, 1), n))(model)
    return out


def _glm_forecaster(glm: SwitchingGLMOneStep, panel: Panel, worm: int, block):
    """One-step GLM predictions over the test block, filtered from its first frame; frames
    beyond the first are NaN (the GLM does not roll out)."""
    start, stop = block
    predicted = glm.predict_block(panel.activity[worm, start:stop], panel.present[worm])

    def forecast(w, o, n):
        out = np.full((len(o), n, panel.activity.shape[2]), np.nan, np.float32)
        out[:, 0] = predicted[o + 1 - start]
        return out

    return forecast


def _decode_rows(panel: Panel, worm: int, block, model, train_idx: np.ndarray, splits: Splits,
                 lags: int) -> pd.DataFrame:
    """Behaviour one frame ahead on a worm's test block: the transformer's head with behaviour
    inputs hidden vs a lagged ridge on raw activity fitted on ``train_idx`` worms."""
    context = max(model.config.context, lags)
    origins = test_origins(block, context, 1)
    w = np.full(origins.shape, worm)
    observed = panel.behaviour[worm, origins + 1]
    decoded = rollout(model, panel, w, origins, 1, use_behaviour=False)["behaviour"][:, 0]
    neurons = np.flatnonzero(panel.present[worm])
    train_blocks = _only(splits.train, train_idx)
    val_blocks = _only(splits.val, train_idx)
    coef, intercept = fit_lagged_ridge(panel, train_blocks, val_blocks, lags, neurons)
    ridge = lagged_features(panel, w, origins, lags, neurons) @ coef + intercept
    rows = []
    for v, name in enumerate(panel.behaviours):
        if not np.isfinite(observed[:, v]).any():
            continue
        binary = name in BINARY_BEHAVIOURS
        probability = 1 / (1 + np.exp(-decoded[:, v])) if binary else decoded[:, v]
        for decoder, predicted in (("transformer", probability), ("lagged_ridge", ridge[:, v])):
            for metric, value in behaviour_scores(predicted, observed[:, v], binary).items():
                rows.append({"worm": panel.worms[worm], "model": decoder, "behaviour": name,
                             "metric": metric, "value": value})
    return pd.DataFrame(rows)


def _only(blocks: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Blocks of the worms in ``index``; other worms get an empty range."""
    out = np.zeros_like(blocks)
    out[index] = blocks[index]
    return out


def evaluate_split(prepared: Prepared, settings: dict, models: dict, eval_worms, train_worms,
                   split: str, fewshot: bool) -> dict:
    """Forecast, behaviour and sanity rows for ``eval_worms``.

    ``models`` maps seed -> transformer trained on ``train_worms``; the shared AR, the GLM
    and the behaviour ridge are fitted once on the same worms (per-worm VAR on the evaluated
    worm's own train block). Deterministic baselines carry seed NaN.
    """
    panel, splits = prepared.panel, prepared.splits
    frames = horizon_frames(settings["horizons_s"], panel.dt)
    context = max(settings["context_frames"], settings["ar_order"] + 1)
    train_idx = np.asarray(train_worms)
    shared = SharedAR.fit(panel.activity, panel.present, _only(splits.train, train_idx),
                          _only(splits.val, train_idx), settings["ar_order"])
    glm = None
    if settings["glm_states"] > 0:
        glm = SwitchingGLMOneStep.fit(panel.activity, panel.present, _only(splits.train, train_idx),
                                      settings["glm_states"], min(models))
        if glm is None:
            log.warning("pipelines.glmhmm unavailable: no switching GLM baseline")
    tables = {"forecast": [], "sanity": [], "behaviour": []}
    kept = {}

    def collect(worm, forecasters, seed, rollouts):
        rows, forecasts = evaluate_worm(panel, worm, splits.test[worm], forecasters, frames, context)
        tables["forecast"].append(rows.assign(seed=seed))
        tables["sanity"].append(sanity_rows(panel, worm, splits.test[worm], rollouts, context).assign(seed=seed))
        return forecasts

    for worm in eval_worms:
        baselines = _baseline_forecasters(panel, worm, splits, shared)
        rollouts = {k: v for k, v in baselines.items() if k != "copy_last"}
        if glm is not None:
            baselines["switching_glm"] = _glm_forecaster(glm, panel, worm, splits.test[worm])
        collect(worm, baselines, np.nan, rollouts)
        for seed, model in models.items():
            mine = {"transformer": _transformer_forecaster(model, panel)}
            if fewshot:
                limit = splits.val[worm, 0] - settings["context_frames"]
                minutes = min(settings["few_shot_minutes"], limit * panel.dt / 60)
                tuned, _ = few_shot(model, panel.select_worms([worm]), minutes,
                                    train_config(settings, seed), settings["few_shot_steps"])
                mine["transformer_fewshot"] = _transformer_forecaster(tuned, panel)
            forecasts = collect(worm, mine, seed, mine)
            if seed == min(models):
                kept[worm] = forecasts
            decoded = _decode_rows(panel, worm, splits.test[worm], model, train_idx, splits,
                                   settings["decoder_lags"])
            if decoded.empty:  # a recording without behaviour (e.g. the Hub corpus)
                continue
            if seed != min(models):
                decoded = decoded[decoded["model"] != "lagged_ridge"]
            tables["behaviour"].append(decoded.assign(
                seed=np.where(decoded["model"] == "lagged_ridge", np.nan, seed)))
    out = {key: (pd.concat(value, ignore_index=True) if value else pd.DataFrame()).assign(split=split)
           for key, value in tables.items()}
    out["forecasts"] = kept
    return out


def _heldout_folds(n_worms: int, heldout: int) -> list[int]:
    if n_worms < 2 or heldout == 0:
        return []
    return list(range(n_worms)) if heldout < 0 else list(range(min(heldout, n_worms)))


def evaluate_recording(store_path, model_path, csv_path, nc_path, settings: dict | None = None,
                       connectomes_path=None, threads: int | None = None) -> pd.DataFrame:
    """Evaluate the trained model and the baselines within worm (test blocks) and on held-out
    worms (leave-one-worm-out, zero-shot and few-shot); write the table and predictor.nc."""
    settings = settings_with_defaults(settings)
    _set_threads(threads)
    with xr.open_dataset(store_path) as ds:
        prepared = prepare(ds.load(), settings, str(store_path))
    model, metadata = load_checkpoint(model_path, settings["device"])
    panel = prepared.panel
    all_worms = np.arange(len(panel.worms))
    parts = [evaluate_split(prepared, settings, {metadata["seed"]: model}, all_worms, all_worms,
                            "within_worm", fewshot=False)]
    within = parts[0]
    timings = {"train_seconds": metadata["report"]["train_seconds"],
               "train_cpu_seconds": metadata["report"].get("train_cpu_seconds")}
    for worm in _heldout_folds(len(panel.worms), settings["heldout_worms"]):
        others = np.setdiff1d(all_worms, [worm])
        models = {}
        for seed in settings["seeds"]:
            fold_model, report = fit(panel, _only(prepared.splits.train, others),
                                     _only(prepared.splits.val, others), model.config,
                                     train_config(settings, seed, settings["heldout_max_minutes"]),
                                     label=f"held-out {panel.worms[worm]} seed {seed}")
            timings.setdefault("heldout_train_seconds", []).append(report["train_seconds"])
            timings.setdefault("heldout_train_cpu_seconds", []).append(report["train_cpu_seconds"])
            models[seed] = fold_model
        parts.append(evaluate_split(prepared, settings, models, [worm], others, "heldout_worm",
                                    fewshot=True))
    tables = {key: pd.concat([p[key] for p in parts], ignore_index=True)
              for key in ("forecast", "sanity", "behaviour")}
    total, count = _attention(model, prepared)
    write_outputs(prepared, settings, tables, within["forecasts"], total, count, csv_path, nc_path,
                  store_path, model_path, connectomes_path, metadata, timings)
    return tables["forecast"]


def map_recording(store_path, model_path, csv_path, nc_path, settings: dict | None = None,
                  connectomes_path=None, threads: int | None = None) -> pd.DataFrame:
    """Mapping mode: every worm of a new recording is a held-out worm for a model trained on
    another recording (zero-shot and few-shot); baselines are fitted on this recording."""
    settings = settings_with_defaults(settings)
    _set_threads(threads)
    with xr.open_dataset(store_path) as ds:
        prepared = prepare(ds.load(), settings, str(store_path))
    model, metadata = load_checkpoint(model_path, settings["device"])
    worms = np.arange(len(prepared.panel.worms))
    part = evaluate_split(prepared, settings, {metadata["seed"]: model}, worms, worms, "mapped",
                          fewshot=settings["few_shot_minutes"] > 0)
    tables = {key: part[key] for key in ("forecast", "sanity", "behaviour")}
    total, count = _attention(model, prepared)
    write_outputs(prepared, settings, tables, part["forecasts"], total, count, csv_path, nc_path,
                  store_path, model_path, connectomes_path, metadata,
                  {"train_seconds": metadata["report"]["train_seconds"]})
    return tables["forecast"]


def _attention(model, prepared: Prepared):
    return attention_map(model, prepared.panel, prepared.splits.train)


def evaluation_table(tables: dict) -> pd.DataFrame:
    """One long table: forecast, behaviour and sanity rows with a ``table`` column."""
    forecast = tables["forecast"].assign(table="forecast")
    behaviour = tables["behaviour"].assign(table="behaviour")
    sanity = tables["sanity"].assign(table="sanity")
    columns = ["table", "split", "seed", "worm", "model", "behaviour", "horizon_s", "metric",
               "value", "n_neurons", "rollout_s"]
    out = pd.concat([forecast, behaviour, sanity], ignore_index=True)
    return out.reindex(columns=columns)


def _headline_split(forecast: pd.DataFrame) -> str:
    return "heldout_worm" if (forecast["split"] == "heldout_worm").any() else forecast["split"].iloc[0]


def forecast_array(prepared: Prepared, kept: dict, frames: np.ndarray) -> xr.DataArray:
    """Transformer forecasts on the test blocks in the store's units: (horizon, worm, neuron,
    time) on the native frame times; NaN outside test blocks and for absent neurons."""
    raw = prepared.raw
    mean, sd = prepared.stats["mean"], prepared.stats["sd"]
    n_time = raw.activity.shape[1]
    out = np.full((len(frames), len(raw.worms), len(NEURONS), n_time), np.nan, np.float32)
    slots = raw.neuron_ids
    for worm, forecasts in kept.items():
        origins = forecasts["origins"]
        for i, h in enumerate(frames):
            values = forecasts["transformer"][:, h - 1] * sd[worm] + mean[worm]
            out[i, worm][slots[:, None], (origins + h)[None, :]] = values.T
    time_s = np.arange(n_time) * raw.dt
    return xr.DataArray(out, dims=("horizon", "worm", "neuron", "time"),
                        coords={"horizon": np.round(frames * raw.dt, 3), "worm": list(raw.worms),
                                "neuron": list(NEURONS), "time": time_s},
                        attrs={"units": "same as calcium", "description":
                               "free-running transformer forecast of the frame at `time` made "
                               "`horizon` seconds earlier, on held-out test blocks"})


def write_outputs(prepared, settings, tables, kept, attention_total, attention_count, csv_path,
                  nc_path, store_path, model_path, connectomes_path, metadata, timings) -> None:
    """evaluation.csv (every row) and predictor.nc (summary the atlas reads)."""
    table = evaluation_table(tables)
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    forecast = tables["forecast"]
    split = _headline_split(forecast)
    summary = summarize(forecast[forecast["split"] == split])
    ds = xr.Dataset()
    for stat in ("median", "low", "high"):
        name = "evaluation" if stat == "median" else f"evaluation_{stat}"
        ds[name] = summary.set_index(["model", "horizon_s", "metric"])[stat].to_xarray() \
            .rename(horizon_s="horizon").astype(np.float32)
    within = summarize(forecast[forecast["split"] == "within_worm"])
    if len(within):
        ds["evaluation_within_worm"] = within.set_index(["model", "horizon_s", "metric"])["median"] \
            .to_xarray().rename(horizon_s="horizon", model="model_within").astype(np.float32)
    behaviour = tables["behaviour"]
    behaviour = (summarize(behaviour[behaviour["split"] == split], by=("model", "behaviour", "metric"))
                 if "value" in behaviour else behaviour)  # no behaviour in the recording: no rows
    if len(behaviour):
        ds["behaviour_decoding"] = behaviour.set_index(["model", "behaviour", "metric"])["median"] \
            .to_xarray().rename(model="decoder", metric="behaviour_metric").astype(np.float32)
    sanity = summarize(tables["sanity"][tables["sanity"]["split"] == split], by=("model", "metric"))
    ds["rollout_sanity"] = sanity.set_index(["model", "metric"])["median"].to_xarray() \
        .rename(model="model_rollout", metric="sanity_metric").astype(np.float32)
    frames = horizon_frames(settings["horizons_s"], prepared.panel.dt)
    ds["forecast"] = forecast_array(prepared, kept, frames)
    attention = connectivity.attention_matrix(attention_total, attention_count, prepared.panel.neurons)
    ds["attention"] = attention
    scores = connectivity.score_against_references(attention, connectomes_path,
                                                   n_null=settings["connectivity_null"],
                                                   seed=settings["seeds"][0])
    for key, values in connectivity.as_variables(scores).items():
        ds[key] = values
    # the same score for plain |correlation| of changes: is attention any better?
    correlation = connectivity.attention_matrix(
        *connectivity.correlation_sums(prepared.panel.activity, prepared.panel.present,
                                       prepared.splits.train), prepared.panel.neurons)
    baseline = connectivity.score_against_references(correlation, connectomes_path,
                                                     n_null=settings["connectivity_null"],
                                                     seed=settings["seeds"][0], label="correlation")
    for key, values in connectivity.as_variables(baseline, prefix="correlation").items():
        ds[key] = values
    ds.attrs.update({
        "model_path": str(model_path), "frame_dt_s": float(prepared.panel.dt),
        "frame_rate_hz": float(1 / prepared.panel.dt), "frame_stride": int(prepared.stride),
        "upsampled_input": int(prepared.stride > 1), "evaluation_split": split,
        "train_seconds": float(timings["train_seconds"]),
        "peak_memory_mb": float(metadata["report"]["peak_memory_mb"]),
        "parameters": int(metadata["report"]["parameters"]),
        "timings": json.dumps(timings), "loss_log": json.dumps(metadata["report"]["loss_log"]),
    })
    inputs = {"store": store_path, "model": model_path}
    if connectomes_path:
        inputs["connectomes"] = connectomes_path
    ds.attrs.update(provenance_attrs(provenance("predictor", inputs, _plain(settings))))
    write_netcdf(ds, nc_path)
    log.info("wrote %s and %s", csv_path, nc_path)


__all__ = ["evaluate_recording", "map_recording", "prepare", "train_recording"]
