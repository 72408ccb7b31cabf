"""Honest scoring: free-running forecasts at horizons in seconds, skill against copy-last,
behaviour decoding with class-balanced metrics, and rollout sanity checks.

Every score is computed per neuron on a held-out test block (rollouts start at every test
frame with a full context inside the block), then the median over neurons gives one number per
worm; tables keep worms and seeds apart so medians and spreads are taken at the end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import welch
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from pipelines.common import get_logger

from .baselines import select_ridge
from .data import Panel, gather, window_origins

log = get_logger(__name__)

FORECAST_METRICS = ("r2", "r", "skill", "mae")
SANITY_METRICS = ("psd_log_distance", "variance_ratio", "corr_similarity")


def horizon_frames(horizons_s, dt: float) -> np.ndarray:
    """Horizons in seconds -> whole frames at step ``dt`` (>= 1), warning when off by > 10%."""
    frames = np.maximum(1, np.round(np.asarray(horizons_s, dtype=float) / dt)).astype(np.int64)
    off = np.abs(frames * dt - np.asarray(horizons_s)) > 0.1 * np.asarray(horizons_s)
    if off.any():
        log.warning("horizons %s s are not whole frames of %.3f s; using %s s", [float(h) for h in horizons_s],
                    dt, np.round(frames * dt, 3).tolist())
    return frames


def test_origins(block, context: int, n_frames: int) -> np.ndarray:
    """Origins whose context and ``n_frames`` future frames all lie in ``block`` = (start, stop)."""
    return window_origins(np.asarray([block]), context, n_frames)[1]


def forecast_metrics(predicted: np.ndarray, observed: np.ndarray, last: np.ndarray) -> dict:
    """Per-neuron scores of forecasts at one horizon.

    predicted, observed, last : (B, n) forecasts, observed frames, and the frame at the origin.
    R² is against the mean of the observed test frames; skill = 1 - MSE / MSE(copy-last).
    Returns name -> (n,) arrays.
    """
    error = predicted - observed
    mse = np.mean(error**2, axis=0)
    variance = np.var(observed, axis=0)
    copy_mse = np.mean((last - observed) ** 2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = predicted - predicted.mean(0)  # NaN forecasts give NaN scores
        o = observed - observed.mean(0)
        r = (p * o).sum(0) / np.sqrt((p**2).sum(0) * (o**2).sum(0))
        return {"r2": 1 - mse / variance, "r": r, "skill": 1 - mse / copy_mse,
                "mae": np.mean(np.abs(error), axis=0)}


def score_forecasts(forecasts: dict, observed: np.ndarray, last: np.ndarray,
                    frames: np.ndarray, dt: float) -> pd.DataFrame:
    """Median-over-neurons scores of every model at every horizon.

    forecasts : model -> (B, h_max, n); observed (B, h_max, n); last (B, n); frames (horizons).
    Returns rows (model, horizon_s, metric, value, n_neurons).
    """
    rows = []
    for model, predicted in forecasts.items():
        for h in frames:
            scores = forecast_metrics(predicted[:, h - 1], observed[:, h - 1], last)
            for metric in FORECAST_METRICS:
                value = scores[metric]
                if not np.isfinite(value).any():
                    continue  # e.g. a one-step-only model at longer horizons
                rows.append({"model": model, "horizon_s": round(float(h * dt), 3),
                             "metric": metric, "value": float(np.nanmedian(value)),
                             "n_neurons": int(np.isfinite(value).sum())})
    return pd.DataFrame(rows)


def evaluate_worm(panel: Panel, worm: int, block, forecasters: dict, frames: np.ndarray,
                  context: int) -> tuple[pd.DataFrame, dict]:
    """Score every forecaster on one worm's test ``block``.

    forecasters : model -> callable ``(worm, origins, n_frames) -> (B, n_frames, N)``.
    Returns the score rows and the forecasts (model -> (B, h_max, N)) with their origins.
    """
    h_max = int(frames.max())
    origins = test_origins(block, context, h_max)
    if len(origins) == 0:
        raise ValueError(f"worm {panel.worms[worm]}: test block {tuple(block)} too short for "
                         f"context {context} + horizon {h_max} frames")
    w = np.full(origins.shape, worm)
    present = panel.present[worm]
    observed = gather(panel.activity, w, origins, 1, h_max + 1)[:, :, present]
    last = panel.activity[worm, origins][:, present]
    forecasts = {name: f(w, origins, h_max) for name, f in forecasters.items()}
    scored = {name: x[:, :, present] for name, x in forecasts.items()}
    rows = score_forecasts(scored, observed, last, frames, panel.dt)
    rows.insert(0, "worm", panel.worms[worm])
    return rows, {"origins": origins, **forecasts}


def rollout_sanity(rolled: np.ndarray, observed: np.ndarray, dt: float) -> dict:
    """Compare one long free-running rollout with the data over the same frames.

    rolled, observed : (T, n). Returns ``psd_log_distance`` (mean |log10 PSD ratio| over
    frequencies and neurons; 0 = same spectra), ``variance_ratio`` (median over neurons of the
    rollout's variance over the data's), ``corr_similarity`` (Pearson r between the
    off-diagonal neuron-neuron correlations of rollout and data; NaN when the rollout is flat).
    """
    nperseg = min(64, len(observed))
    _, p_model = welch(rolled, fs=1 / dt, nperseg=nperseg, axis=0)
    _, p_data = welch(observed, fs=1 / dt, nperseg=nperseg, axis=0)
    tiny = 1e-12
    distance = np.mean(np.abs(np.log10(p_model[1:] + tiny) - np.log10(p_data[1:] + tiny)))
    ratio = np.median(np.var(rolled, 0) / np.maximum(np.var(observed, 0), tiny))
    upper = np.triu_indices(rolled.shape[1], k=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c_model = np.corrcoef(rolled.T)[upper]
        c_data = np.corrcoef(observed.T)[upper]
        ok = np.isfinite(c_model) & np.isfinite(c_data)
        similarity = np.corrcoef(c_model[ok], c_data[ok])[0, 1] if ok.sum() > 2 else np.nan
    return {"psd_log_distance": float(distance), "variance_ratio": float(ratio),
            "corr_similarity": float(similarity)}


def sanity_rows(panel: Panel, worm: int, block, forecasters: dict, context: int) -> pd.DataFrame:
    """Rollout sanity of every forecaster over a worm's whole test block (one rollout)."""
    start, stop = block
    origin = np.array([start + context - 1])
    n = int(stop - origin[0] - 1)
    present = panel.present[worm]
    observed = panel.activity[worm, origin[0] + 1: stop][:, present]
    rows = []
    for name, f in forecasters.items():
        rolled = f(np.array([worm]), origin, n)[0][:, present]
        for metric, value in rollout_sanity(rolled, observed, panel.dt).items():
            rows.append({"worm": panel.worms[worm], "model": name, "metric": metric,
                         "value": value, "rollout_s": round(n * panel.dt, 1)})
    return pd.DataFrame(rows)


def behaviour_scores(predicted: np.ndarray, observed: np.ndarray, binary: bool) -> dict:
    """R² and r for a continuous behaviour; balanced accuracy (at probability 0.5) and AUROC
    for a binary one (plain accuracy is never reported: reversals are 10-30% of frames)."""
    ok = np.isfinite(predicted) & np.isfinite(observed)
    predicted, observed = predicted[ok], observed[ok]
    if binary:
        labels = observed > 0.5
        if labels.all() or (~labels).all():
            return {"balanced_accuracy": np.nan, "auroc": np.nan, "base_rate": float(labels.mean())}
        return {"balanced_accuracy": float(balanced_accuracy_score(labels, predicted > 0.5)),
                "auroc": float(roc_auc_score(labels, predicted)), "base_rate": float(labels.mean())}
    if len(observed) < 3 or np.var(observed) == 0:
        return {"r2": np.nan, "r": np.nan}
    r2 = 1 - np.mean((predicted - observed) ** 2) / np.var(observed)
    return {"r2": float(r2), "r": float(np.corrcoef(predicted, observed)[0, 1])}


def lagged_features(panel: Panel, worms: np.ndarray, origins: np.ndarray, lags: int,
                    neurons: np.ndarray) -> np.ndarray:
    """Activity of ``neurons`` at lags 0..lags-1 before each origin, flattened; absent -> 0
    (the z-scored mean). Returns (B, lags * len(neurons))."""
    x = gather(panel.activity, worms, origins, 1 - lags, 1)[:, :, neurons]
    return np.nan_to_num(x).reshape(len(origins), -1)


def fit_lagged_ridge(panel: Panel, train_blocks, val_blocks, lags: int, neurons: np.ndarray):
    """Ridge from lagged activity to each behaviour one frame ahead, on the given blocks.

    Returns (coef (P, V), intercept (V,)); penalties picked per behaviour on the val blocks.
    """
    def samples(blocks):
        worm, origin = window_origins(blocks, lags, 1)
        x = lagged_features(panel, worm, origin, lags, neurons)
        return x, panel.behaviour[worm, origin + 1]

    (xt, yt), (xv, yv) = samples(train_blocks), samples(val_blocks)
    coefs, intercepts = [], []
    for v in range(yt.shape[1]):
        ok_t, ok_v = np.isfinite(yt[:, v]), np.isfinite(yv[:, v])
        if ok_t.sum() < 10:
            coefs.append(np.zeros(xt.shape[1]))
            intercepts.append(np.nan)
            continue
        coef, intercept, _ = select_ridge((xt[ok_t], yt[ok_t, v:v + 1]), (xv[ok_v], yv[ok_v, v:v + 1]))
        coefs.append(coef[:, 0])
        intercepts.append(intercept[0])
    return np.stack(coefs, 1), np.array(intercepts)


def summarize(rows: pd.DataFrame, by=("split", "model", "horizon_s", "metric")) -> pd.DataFrame:
    """Median and spread (min, max, n) over worms and seeds of the per-worm scores."""
    by = [c for c in by if c in rows.columns]
    grouped = rows.groupby(by, sort=False)["value"]
    return grouped.agg(median="median", low="min", high="max", n="count").reset_index()
