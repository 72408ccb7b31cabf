"""The glmhmm stage's data products: fit a homogenized recording, map new worms, write outputs.

``fit_recording`` reads ``data/homogenized/{recording}.nc``, keeps the neurons recorded in at
least ``min_worm_fraction`` of the worms, z-scores each worm and neuron, sweeps K by held-out
log-likelihood, fits the chosen K with restarts and returns the summary Dataset (written to
``data/glmhmm/{recording}/glmhmm.nc``) and the fitted model (``model.npz``) for mapping mode.
"""

from __future__ import annotations

import json
import os

import numpy as np
import xarray as xr

from pipelines.common import InputError, get_logger, provenance
from pipelines.common.provenance import provenance_attrs

from .emissions import detrend, select_neurons, standardize
from .model import Params, SwitchingGLM
from .priors import TYPES, connectome_type_pseudocounts, signed_connectome
from .select import choose_k, heldout_curve

log = get_logger(__name__)

__all__ = ["DEFAULTS", "load_worms", "model_options", "fit_recording", "map_recording", "save_model", "load_model"]

DEFAULTS = {
    "n_states": [1, 2, 3, 4, 5, 6],
    "lags": 1,
    "self_lags": 3,
    "prior": "onehot",
    "observation": "gaussian",
    "dof": 4.0,
    "noise": "shared",
    "detrend": 1,
    "restarts": 3,
    "max_iter": 100,
    "tol": 1e-5,
    "min_occupancy": 0.02,
    "min_worm_fraction": 0.5,
    "heldout_fraction": 0.2,
    "heldout_block": 100,
    "heldout_folds": 1,
    "heldout_worms": False,
    "k_tolerance": 0.005,
    "stickiness": 10.0,
    "prior_scale": 0.01,
    "shared_scale": 0.01,
    "onehot_strength": 0.01,
    "onehot_strength_scale": 0.01,
    "onehot_none_scale": 0.002,
    "learn_strength": False,
    "connectome_anchor": False,
    "connectome_source": "consensus",
    "connectome_pseudocount": 2.0,
    "seed": 0,
}


def load_worms(store: xr.Dataset, min_worm_fraction: float, path="homogenized store", neurons=None,
               detrend_degree: int | None = None):
    """Worm arrays of a homogenized recording on a common neuron subset, (detrended,) z-scored.

    Parameters
    ----------
    store : Dataset with ``calcium`` (worm, neuron, time) and ``labeled`` (worm, neuron).
    min_worm_fraction : keep neurons recorded in at least this fraction of worms (ignored when
        ``neurons`` is given, e.g. the reference model's neurons in mapping mode).
    detrend_degree : polynomial trend removed per worm and neuron before z-scoring (None: off).

    Returns
    -------
    worms : list of (T_w, N) float64, trailing all-NaN frames removed
    recorded : (W, N) bool
    neurons : (N,) labels
    lengths : (W,) frames kept per worm
    """
    if "calcium" not in store:
        raise InputError(path, "no 'calcium' variable: not a homogenized recording")
    calcium = store["calcium"].transpose("worm", "time", "neuron")
    finite = np.isfinite(calcium.values)
    labeled = store["labeled"].transpose("worm", "neuron").values if "labeled" in store else np.ones(finite.shape[::2], bool)
    recorded = labeled & finite.any(axis=1)
    if neurons is None:
        keep = select_neurons(recorded, min_worm_fraction)
        neurons = store["neuron"].values[keep]
    else:
        index = {n: i for i, n in enumerate(store["neuron"].values)}
        missing = [n for n in neurons if n not in index]
        if missing:
            raise InputError(path, f"neurons of the reference model absent from this recording: {missing[:5]}")
        keep = np.array([index[n] for n in neurons])
    worms, lengths = [], []
    for w in range(calcium.shape[0]):
        any_frame = finite[w][:, keep].any(axis=1)
        length = int(np.flatnonzero(any_frame).max() + 1) if any_frame.any() else 0
        y = calcium.values[w, :length][:, keep].astype(np.float64)
        y[:, ~recorded[w, keep]] = np.nan
        worms.append(y)
        lengths.append(length)
    empty = [str(store["worm"].values[w]) for w, n in enumerate(lengths) if n < 3]
    if empty:
        raise InputError(path, f"worm(s) {empty} have no frames with the selected neurons; drop them")
    if detrend_degree is not None:
        worms = detrend(worms, int(detrend_degree))
    worms, _, _ = standardize(worms)
    return worms, recorded[:, keep], np.asarray(neurons), np.array(lengths)


def _connectome_prior(settings, connectome: xr.Dataset | None, neurons):
    """Prior options from the connectome (soft anchor / pseudo-counts), or {} when off."""
    if not settings["connectome_anchor"]:
        return {}
    if connectome is None:
        raise InputError("connectomes.nc", "glmhmm.connectome_anchor is on but no connectome store was given")
    source = connectome.sel(source=settings["connectome_source"]).sel(pre=list(neurons), post=list(neurons))
    weight = source["weight"]
    sign = connectome["sign"].sel(pre=list(neurons), post=list(neurons)).transpose("pre", "post").values
    chem = weight.sel(layer="chemical").transpose("pre", "post").values
    gap = weight.sel(layer="gap").transpose("pre", "post").values
    if settings["prior"] == "gaussian":
        return {"anchor": signed_connectome(chem, gap, sign)}
    if settings["prior"] == "onehot":
        has = (np.nan_to_num(chem) > 0) | (np.nan_to_num(gap) > 0)
        return {"pseudocounts": connectome_type_pseudocounts(has, sign, settings["connectome_pseudocount"])}
    raise InputError("config", "glmhmm.connectome_anchor needs prior 'gaussian' or 'onehot'")


def model_options(settings: dict, prior_options: dict | None = None) -> dict:
    """SwitchingGLM keyword arguments (all but n_states) from the stage settings."""
    options = dict(prior_options or {})
    if settings["prior"] == "gaussian":
        options.update(scale=settings["prior_scale"], shared_scale=settings["shared_scale"])
    elif settings["prior"] == "onehot":
        options.update(strength=settings["onehot_strength"], strength_scale=settings["onehot_strength_scale"],
                       none_scale=settings["onehot_none_scale"], learn_strength=settings["learn_strength"])
    return {
        "prior": settings["prior"],
        "prior_options": options,
        "observation": settings["observation"],
        "dof": settings["dof"],
        "noise": settings["noise"],
        "lags": settings["lags"],
        "self_lags": settings["self_lags"],
        "n_restarts": settings["restarts"],
        "max_iter": settings["max_iter"],
        "tol": settings["tol"],
        "stickiness": settings["stickiness"],
        "min_occupancy": settings["min_occupancy"],
        "seed": settings["seed"],
    }


def _posterior_array(model, worms, recorded, n_time):
    out = np.full((len(worms), n_time, model.n_states), np.nan, dtype=np.float32)
    for w, post in enumerate(model.predict_proba(worms, recorded)):
        out[w, : len(post)] = post
    return out


def fit_recording(store_path, settings: dict, connectome_path=None):
    """Fit the switching GLM to one homogenized recording.

    Returns
    -------
    summary : Dataset (see docs/glmhmm.md) and model : fitted ``SwitchingGLM``.
    """
    settings = {**DEFAULTS, **settings}
    with xr.open_dataset(store_path) as ds:
        store = ds.load()
    connectome = None
    if connectome_path is not None:
        with xr.open_dataset(connectome_path) as cs:
            connectome = cs.load()
    worms, recorded, neurons, _ = load_worms(store, settings["min_worm_fraction"], store_path,
                                             detrend_degree=None if settings["detrend"] < 0 else settings["detrend"])
    log.info("%s: %d worms, %d neurons recorded in >= %.0f%% of worms", store_path, len(worms), len(neurons),
             100 * settings["min_worm_fraction"])
    prior_options = _connectome_prior(settings, connectome, neurons)
    options = model_options(settings, prior_options)
    n_states = list(settings["n_states"])
    curve = heldout_curve(
        worms, recorded, n_states, lambda k: SwitchingGLM(k, **options),
        block=settings["heldout_block"], heldout_fraction=settings["heldout_fraction"],
        heldout_worms=settings["heldout_worms"], seed=settings["seed"], folds=settings["heldout_folds"],
    )
    best_k = choose_k(curve, settings["k_tolerance"]) if len(n_states) > 1 else n_states[0]
    log.info("chosen K = %d", best_k)
    model = SwitchingGLM(best_k, **options).fit(worms, recorded)
    summary = summary_dataset(model, worms, recorded, neurons, store, curve)
    summary.attrs.update(
        provenance_attrs(provenance("glmhmm", [store_path] + ([connectome_path] if connectome_path else []),
                                    {k: v for k, v in settings.items()}))
    )
    summary.attrs["chosen_n_states"] = best_k
    summary.attrs["detrend"] = int(settings["detrend"])
    return summary, model


def summary_dataset(model, worms, recorded, neurons, store, curve):
    """The atlas-facing summary of a fitted (or reference) model applied to ``worms``."""
    p = model.params_
    k_states = model.n_states
    neurons = [str(n) for n in neurons]
    posterior = _posterior_array(model, worms, recorded, store.sizes["time"])
    shared = model.prior_.shared_interaction(p.interaction)
    types = model.prior_.type_probability(p.interaction)
    if types is None:
        types = np.full((len(neurons), len(neurons), 3), np.nan)
    trace = model.objective_
    ds = xr.Dataset(
        {
            "state_posterior": (("worm", "time", "state"), posterior),
            "interaction": (("state", "post", "pre"), p.interaction.astype(np.float32)),
            "self_term": (("state", "neuron"), p.self_term.astype(np.float32)),
            "self_history": (("state", "neuron", "self_lag"), p.self_history.astype(np.float32)),
            "bias": (("state", "neuron"), p.bias.astype(np.float32)),
            "noise_variance": (("state", "neuron"), p.noise.astype(np.float32)),
            "shared_interaction": (("post", "pre"), shared.astype(np.float32)),
            "type_probability": (("post", "pre", "type"), types.astype(np.float32)),
            "transition": (("state_from", "state_to"), np.exp(p.log_transition)),
            "initial": (("state",), np.exp(p.log_initial)),
            "occupancy": (("state",), model.occupancy_),
            "unused_state": (("state",), np.isin(np.arange(k_states), model.unused_states_)),
            "objective": (("iteration",), trace),
            "restart_objective": (("restart",), [r["objective"] for r in model.restarts_]),
            "restart_iterations": (("restart",), [r["n_iter"] for r in model.restarts_]),
            "recorded": (("worm", "neuron"), recorded),
            "k_curve": curve["heldout_loglik"],
            "k_curve_worms": curve["heldout_worm_loglik"],
            "k_curve_unused": curve["n_unused"],
            "k_curve_folds": curve["heldout_fold_loglik"],
        },
        coords={
            "worm": store["worm"].values,
            "time": store["time"].values,
            "state": np.arange(k_states),
            "state_from": np.arange(k_states),
            "state_to": np.arange(k_states),
            "post": neurons,
            "pre": neurons,
            "neuron": neurons,
            "type": list(TYPES),
            "iteration": np.arange(len(trace)),
            "restart": np.arange(len(model.restarts_)),
            "n_states": curve["n_states"].values,
            "fold": np.arange(curve.sizes["fold"]),
            "self_lag": np.arange(1, p.self_history.shape[2] + 1),
        },
    )
    ds["state_posterior"].attrs["description"] = "p(state | whole worm's calcium), NaN after the worm's last frame"
    ds["interaction"].attrs["description"] = "per-state coupling W_k (post <- pre), z-scored units per frame, zero diagonal"
    ds["self_history"].attrs["description"] = "per-state coefficients of each neuron's own past frames (self_lag 1 = self_term)"
    ds["shared_interaction"].attrs["description"] = "state-constant interaction (W0 of the Gaussian prior, mu*(pi_exc - pi_inh) of the one-hot prior)"
    ds["type_probability"].attrs["description"] = "learned prior probability of each connection type (one-hot prior only; NaN otherwise and on the diagonal)"
    ds["objective"].attrs["description"] = "log p(y) + log prior of the kept restart per EM iteration (nats)"
    ds["k_curve"].attrs.update(curve["heldout_loglik"].attrs)
    ds["k_curve_worms"].attrs.update(curve["heldout_worm_loglik"].attrs)
    ds.attrs.update(
        n_states=k_states,
        converged=int(model.converged_),
        monotone_violations=int(model.monotone_violations_),
        prior=model.prior,
        observation=model.observation,
        lags=model.lags,
        self_lags=int(model.self_lags),
    )
    return ds


def save_model(model: SwitchingGLM, neurons, path):
    """Write the fitted parameters, prior state and settings to an .npz file (atomic)."""
    from pipelines.common import atomic_path

    prior = model.prior_
    extra = {}
    if getattr(prior, "shared", None) is not None:
        extra["prior_shared"] = prior.shared
    if getattr(prior, "probability", None) is not None:
        extra.update(prior_probability=prior.probability, prior_strength=[prior.strength, prior.strength_scale])
    settings = {k: v for k, v in model.__dict__.items() if not k.endswith("_") and k != "prior_options"}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                log_initial=model.params_.log_initial,
                log_transition=model.params_.log_transition,
                coef=model.params_.coef,
                noise=model.params_.noise,
                neurons=np.asarray(neurons, dtype=str),
                objective=model.objective_,
                occupancy=model.occupancy_,
                settings=json.dumps(settings),
                **extra,
            )


def load_model(path):
    """A ``SwitchingGLM`` ready for predict/score, and its neuron labels, from ``save_model``."""
    if not os.path.exists(path):
        raise InputError(path, "fitted glmhmm model not found; run glmhmm_fit on the reference recording")
    with np.load(path) as data:
        settings = json.loads(str(data["settings"]))
        model = SwitchingGLM(**settings)
        model.params_ = Params(data["log_initial"], data["log_transition"], data["coef"], data["noise"])
        model.n_neurons_ = model.params_.coef.shape[1]
        model.objective_ = data["objective"]
        model.occupancy_ = data["occupancy"]
        neurons = data["neurons"]
        from .priors import make_prior

        model.prior_ = make_prior(model.prior)
        if "prior_shared" in data:
            model.prior_.shared = data["prior_shared"]
        if "prior_probability" in data:
            model.prior_.probability = data["prior_probability"]
            model.prior_.strength, model.prior_.strength_scale = map(float, data["prior_strength"])
    model.unused_states_ = np.flatnonzero(model.occupancy_ < model.min_occupancy)
    model.restarts_, model.converged_, model.monotone_violations_ = [], True, 0
    return model, neurons


def map_recording(store_path, model_path, reference_summary_path):
    """Decode a new recording's worms with a reference recording's fitted model.

    The interaction, K curve and diagnostics are the reference's; the state posteriors are
    the new worms'. Reference neurons absent from a worm are treated as unrecorded.
    """
    model, neurons = load_model(model_path)
    with xr.open_dataset(store_path) as ds:
        store = ds.load()
    with xr.open_dataset(reference_summary_path) as ref:
        reference = ref.load()
    degree = int(reference.attrs.get("detrend", -1))  # the reference's preprocessing (-1: none)
    worms, recorded, neurons, _ = load_worms(store, 0.0, store_path, neurons=list(neurons),
                                             detrend_degree=None if degree < 0 else degree)
    posterior = _posterior_array(model, worms, recorded, store.sizes["time"])
    out = reference.drop_vars(["state_posterior", "recorded", "worm", "time"], errors="ignore")
    out["state_posterior"] = xr.DataArray(
        posterior, dims=("worm", "time", "state"),
        coords={"worm": store["worm"].values, "time": store["time"].values},
        attrs=reference["state_posterior"].attrs,
    )
    out["recorded"] = xr.DataArray(recorded, dims=("worm", "neuron"))
    out.attrs = dict(reference.attrs)
    out.attrs.update(
        provenance_attrs(provenance("glmhmm", [store_path, model_path, reference_summary_path], {"mode": "map"}))
    )
    out.attrs["mapped_onto_model"] = str(model_path)
    return out
