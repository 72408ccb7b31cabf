"""Join the stage outputs of one recording into the atlas DataTree.

Groups (documented in docs/atlas.md):

- ``/activity``: per worm and neuron summary of the homogenized store, behaviour on the grid;
- ``/connectome``: the wiring layers used for comparison and the per-neuron table;
- ``/dfc``: tensor-factorization components and their communities;
- ``/glmhmm``: switching-GLM states, interactions, connection types, K curve;
- ``/predictor``: evaluation table, attention connectivity, held-out forecasts;
- ``/comparison``: every component and state scored against the anatomical connectome.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from pipelines.common.neurons import NEURONS
from pipelines.connectome.compare import edge_auroc

ATLAS_GROUPS = ("activity", "connectome", "dfc", "glmhmm", "predictor", "comparison")
BEHAVIOUR = ("velocity", "head_angle", "reversal", "angular_velocity", "pumping")


def activity_summary(homogenized: xr.Dataset) -> xr.Dataset:
    """Per-worm summary of a homogenized store.

    Returns ``mean`` and ``sd`` (worm, neuron) of calcium, ``recorded`` and ``labeled``
    (worm, neuron), ``duration`` (worm, s), ``fraction_recorded`` (neuron), the population
    mean ``population`` (worm, time) and behaviour variables (worm, time) where present.
    """
    calcium = homogenized["calcium"]
    recorded = calcium.notnull().any("time")
    out = xr.Dataset(
        {
            "mean": calcium.mean("time").astype("float32"),
            "sd": calcium.std("time").astype("float32"),
            "recorded": recorded,
            "labeled": homogenized["labeled"] if "labeled" in homogenized else recorded,
            "duration": calcium.notnull().any("neuron").sum("time")
            * float(homogenized.attrs.get("dt", _grid_step(homogenized))),
            "fraction_recorded": recorded.mean("worm").astype("float32"),
            "population": calcium.mean("neuron").astype("float32"),
        }
    )
    for name in BEHAVIOUR:
        if name in homogenized:
            out[name] = homogenized[name].astype("float32")
    out["duration"].attrs["units"] = "s"
    out.attrs["dt"] = float(homogenized.attrs.get("dt", _grid_step(homogenized)))
    return out


def _grid_step(ds: xr.Dataset) -> float:
    t = ds["time"].values
    return float(np.median(np.diff(t))) if t.size > 1 else float("nan")


def connectome_summary(
    connectomes: xr.Dataset, source: str, neurons: pd.DataFrame | None = None
) -> xr.Dataset:
    """The wiring layers of ``source`` (pre, post), the sign estimate and the per-neuron
    table (class, type, neurotransmitter, x, y, z on the ``neuron`` dim)."""
    if source not in connectomes["source"].values:
        raise ValueError(
            f"anatomy source '{source}' is not in the connectomes store "
            f"(available: {', '.join(map(str, connectomes['source'].values))}); "
            "add it to the config's connectomes.sources"
        )
    keep = [v for v in ("weight", "covered") if v in connectomes]
    out = connectomes[keep].sel(source=source).drop_vars("source", errors="ignore")
    if "sign" in connectomes:
        out["sign"] = connectomes["sign"]
    if neurons is not None:
        table = neurons.reindex(list(NEURONS))
        for column in ("class", "type", "neurotransmitter", "x", "y", "z"):
            if column in table:
                values = table[column].to_numpy()
                values = values.astype(float) if column in "xyz" else values.astype(str)
                out[column] = ("neuron", values)
        out = out.assign_coords(neuron=list(NEURONS))
    out.attrs = {"source": source, "citation": str(connectomes.attrs.get(f"citation_{source}", ""))}
    return out


def wiring(connectome: xr.Dataset, layer: str | None = None) -> xr.DataArray:
    """Anatomical weights (pre, post) of one layer, or of either layer when ``layer`` is
    None; NaN where the source does not cover a neuron."""
    weight = connectome["weight"]
    if layer is not None:
        return weight.sel(layer=layer)
    return weight.sum("layer", min_count=1)


def compare_with_anatomy(
    matrices: xr.DataArray,
    connectome: xr.Dataset,
    recorded: xr.DataArray,
    over: str,
    symmetric: bool,
    n_null: int,
    seed: int,
) -> xr.Dataset:
    """Score each (pre, post) matrix along dim ``over`` against each anatomical layer.

    ``matrices`` has dims (over, post, pre) or (over, pre, post); pairs are scored only where
    both neurons were recorded (``recorded`` (neuron) bool) and covered by the wiring (NaN
    weights).
    Returns AUROC, null mean/sd and p-value on (over, layer).
    """
    matrices = matrices.transpose(over, "pre", "post")
    names = [str(n) for n in matrices["pre"].values]
    if names != [str(n) for n in matrices["post"].values]:
        raise ValueError("a functional matrix must have the same neurons on 'pre' and 'post'")
    layers = ["chemical", "gap", "any"]
    ok = recorded.sel(neuron=names).values
    valid = ok[:, None] & ok[None, :]
    records = {k: np.full((matrices.sizes[over], len(layers)), np.nan) for k in
               ("auroc", "null_mean", "null_sd", "p_value")}
    for j, layer in enumerate(layers):
        reference = wiring(connectome, None if layer == "any" else layer)
        reference = reference.sel(pre=names, post=names).transpose("pre", "post").values
        for i in range(matrices.sizes[over]):
            result = edge_auroc(matrices.values[i], reference, valid, n_null, seed + i, symmetric)
            for key in records:
                records[key][i, j] = result[key]
    coords = {over: matrices[over].values, "layer": layers}
    return xr.Dataset({k: ((over, "layer"), v) for k, v in records.items()}, coords=coords)


def build_atlas(
    homogenized: xr.Dataset,
    connectomes: xr.Dataset,
    stages: dict[str, xr.Dataset],
    attrs: dict,
    neurons: pd.DataFrame | None = None,
    anatomy_source: str = "cook2019",
    n_null: int = 20,
    seed: int = 0,
) -> xr.DataTree:
    """The atlas of one recording as a DataTree.

    Parameters
    ----------
    homogenized : the recording's homogenized store.
    connectomes : the homogenized connectomes (``connectomes.nc``).
    stages : stage outputs by group name: ``dfc`` (ntf + communities merged), ``glmhmm``,
        ``predictor``. A missing stage is simply absent from the atlas.
    attrs : root attributes (settings, input checksums, versions, mapped worms).
    neurons : per-neuron table indexed by label (``neurons.csv`` of the connectome stage).
    """
    activity = activity_summary(homogenized)
    connectome = connectome_summary(connectomes, anatomy_source, neurons)
    groups = {"activity": activity, "connectome": connectome}
    groups.update({name: ds for name, ds in stages.items() if ds is not None})

    recorded = activity["recorded"].any("worm")
    comparisons = []
    if "dfc" in stages and "pair_weight" in stages["dfc"]:
        comparisons.append(
            compare_with_anatomy(stages["dfc"]["pair_weight"], connectome, recorded, "component",
                                 True, n_null, seed).rename({v: f"component_{v}" for v in
                                                             ("auroc", "null_mean", "null_sd", "p_value")})
        )
    if "glmhmm" in stages and "interaction" in stages["glmhmm"]:
        comparisons.append(
            compare_with_anatomy(stages["glmhmm"]["interaction"], connectome, recorded, "state",
                                 False, n_null, seed).rename({v: f"state_{v}" for v in
                                                              ("auroc", "null_mean", "null_sd", "p_value")})
        )
    if "predictor" in stages and "attention" in stages["predictor"]:
        attention = stages["predictor"]["attention"].expand_dims(matrix=["attention"])
        comparisons.append(
            compare_with_anatomy(attention, connectome, recorded, "matrix", False, n_null, seed)
            .rename({v: f"attention_{v}" for v in ("auroc", "null_mean", "null_sd", "p_value")})
        )
    if comparisons:
        comparison = xr.merge(comparisons)
        comparison.attrs = {
            "anatomy": anatomy_source,
            "method": "AUROC of |weight| for connected vs unconnected recorded pairs; null: "
                      f"{n_null} degree-preserving edge swaps of the wiring",
        }
        groups["comparison"] = comparison

    root = xr.Dataset(attrs={k: (json.dumps(v) if isinstance(v, dict | list) else v)
                             for k, v in attrs.items()})
    tree = {"/": root}
    tree.update({f"/{name}": _netcdf_safe(ds) for name, ds in groups.items()})
    return xr.DataTree.from_dict(tree)


def _netcdf_safe(ds: xr.Dataset) -> xr.Dataset:
    """Attributes NetCDF accepts: dicts, lists of mixed types, bools and None become JSON."""
    ds = ds.copy()

    def clean(attrs):
        out = {}
        for key, value in attrs.items():
            if isinstance(value, bool) or value is None or isinstance(value, dict):
                out[key] = json.dumps(value, default=str)
            elif isinstance(value, list | tuple) and not all(isinstance(v, str) for v in value) \
                    and not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
                out[key] = json.dumps(value, default=str)
            else:
                out[key] = value
        return out

    ds.attrs = clean(ds.attrs)
    for name in ds.variables:
        ds[name].attrs = clean(ds[name].attrs)
    return ds
