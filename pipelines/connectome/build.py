"""Assemble every configured connectome, their consensus, the neuron table and the signs
into one Dataset (``data/connectomes/connectomes.nc``).

Variables (dims):

- ``weight`` (source, layer, pre, post) float32: each source's weights, NaN where the source
  does not cover the pre or post neuron; the last source is ``consensus``;
- ``covered`` (source, neuron) bool;
- ``n_sources``, ``n_agree`` (layer, pre, post) int16 and ``spread`` (layer, pre, post)
  float32: the consensus statistics (see consensus.py);
- ``sign`` (pre, post) int8: +1 excitatory, -1 inhibitory, 0 unknown (see sign.py);
- ``neuron_class``, ``neuron_type``, ``neurotransmitter``, ``neurotransmitters`` (neuron) str
  and ``position`` (neuron, axis) float32: the neuron table (see neurons.py).

Attributes: ``sources``, ``consensus_sources``, ``citation_<source>`` per source, and the
provenance record.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from tqdm import tqdm

from pipelines.common import NEURONS, ConfigError, InputError, atomic_path, get_logger, write_netcdf
from pipelines.common.provenance import provenance, provenance_attrs

from .consensus import consensus
from .graphs import dataset_graph, write_graphml
from .neurons import neuron_table
from .sign import connection_signs
from .sources import (
    EM_SOURCES,
    FUNCTIONAL_SOURCES,
    LAYERS,
    available_sources,
    citation,
    covered_neurons,
    read_source,
    wormneuroatlas_installed,
)

log = get_logger(__name__)

DEFAULT_CONSENSUS_SOURCES = (
    "cook2019",
    "varshney2011",
    "white1986_whole",
    "white1986_n2u",
    "white1986_jsh",
    "witvliet2021_7",
    "witvliet2021_8",
)


def resolve_sources(sources: str | Sequence) -> list:
    """Check the configured sources and normalize them for :func:`read_source`.

    ``"available"`` expands to :func:`available_sources`; names are checked against the
    known ones; entries get ``None`` for empty optional fields. Raises ConfigError naming the
    problem (unknown name, randi2023 without wormneuroatlas, edge list without path,
    duplicate names).
    """
    if isinstance(sources, str):
        if sources != "available":
            raise ConfigError(
                "connectomes.sources", f"'{sources}': use 'available' or a list of sources"
            )
        return available_sources()
    known = [*EM_SOURCES, "randi2023"]
    resolved = []
    for index, spec in enumerate(sources):
        key = f"connectomes.sources.{index}"
        if isinstance(spec, Mapping):
            spec = {k: v for k, v in spec.items() if v not in ("", [], None)}
            if spec.get("kind") == "edgelist" and "path" not in spec:
                raise ConfigError(
                    key,
                    f"edge list '{spec.get('name')}' needs a 'path' to a "
                    "CSV with header pre,post,type,weight",
                )
        elif spec not in known:
            raise ConfigError(
                key,
                f"unknown connectome source '{spec}'; known: {known} "
                "(or an entry with kind edgelist / hub)",
            )
        elif spec == "randi2023" and not wormneuroatlas_installed():
            raise ConfigError(
                key,
                "randi2023 needs the optional wormneuroatlas package: "
                "`pip install wormneuroatlas` or `pip install .[atlas]`",
            )
        resolved.append(spec)
    names = source_names(resolved)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates or "consensus" in names:
        raise ConfigError(
            "connectomes.sources", f"source names must be unique and not 'consensus' (got {names})"
        )
    return resolved


def source_names(sources: Sequence) -> list[str]:
    """Output names of resolved sources (an entry's ``name``, else the source name)."""
    return [s["name"] if isinstance(s, Mapping) else str(s) for s in sources]


def read_sources(sources: Sequence, max_q: float = 0.05) -> list[xr.DataArray]:
    """Read every resolved source (see :func:`resolve_sources`), in order."""
    weights = []
    for spec in tqdm(sources, desc="connectome sources", disable=None):
        options = {"max_q": max_q} if spec == "randi2023" else {}
        weight = read_source(spec, **options)
        if isinstance(spec, Mapping):
            weight.attrs["source"] = spec["name"]
        log.info(
            "%s: %d neurons covered, %d chemical / %d gap entries > 0",
            weight.attrs["source"],
            int(covered_neurons(weight).sum()),
            int((weight.sel(layer="chemical") > 0).sum()),
            int((weight.sel(layer="gap") > 0).sum()),
        )
        weights.append(weight)
    return weights


def assemble(
    weights: list[xr.DataArray],
    table: pd.DataFrame,
    consensus_sources: Sequence[str] = DEFAULT_CONSENSUS_SOURCES,
    sign_rules: Mapping[str, int] | None = None,
) -> xr.Dataset:
    """The connectome Dataset from per-source weights (see the module docstring).

    ``consensus_sources`` not among ``weights`` are skipped with a warning; at least one
    must be present.
    """
    names = [w.attrs["source"] for w in weights]
    stacked = xr.concat(
        weights,
        dim=xr.Variable("source", names),
        coords="minimal",
        compat="override",
        combine_attrs="drop",
    )
    used = [s for s in consensus_sources if s in names]
    skipped = [s for s in consensus_sources if s not in names]
    if skipped:
        log.warning("consensus sources not configured, skipped: %s", skipped)
    if not used:
        raise ConfigError(
            "connectomes.consensus_sources",
            f"none of {list(consensus_sources)} is among the sources {names}",
        )
    agreed = consensus(stacked.sel(source=used))
    weight = xr.concat(
        [stacked, agreed["weight"].expand_dims(source=["consensus"])], dim="source"
    ).astype(np.float32)
    covered = xr.concat([covered_neurons(w) for w in weights], dim=xr.Variable("source", names))
    covered = xr.concat(
        [covered, covered.sel(source=used).any("source").expand_dims(source=["consensus"])],
        dim="source",
    )
    store = xr.Dataset(
        {
            "weight": weight,
            "covered": covered,
            "n_sources": agreed["n_sources"],
            "n_agree": agreed["n_agree"],
            "spread": agreed["spread"],
            "sign": connection_signs(table, sign_rules),
            **_neuron_variables(table),
        }
    )
    store["weight"].attrs.update(
        units="synapse count (EM sources); dF/F (randi2023)",
        missing="NaN: the source does not cover the pre or post neuron",
    )
    store.attrs.update(
        sources=[*names, "consensus"],
        consensus_sources=used,
        layers=list(LAYERS),
        **{f"citation_{n}": citation(n) for n in names},
        citation_consensus="mean over " + ", ".join(used),
        neuron_table_sources=(
            "class: label rule; type: cect.Cells (Cook 2019 lists); neurotransmitter: Wang "
            "2024 atlas via cect, WormAtlas fallback; position: wormneuroatlas anatomical atlas"
        ),
    )
    return store


def _neuron_variables(table: pd.DataFrame) -> dict[str, xr.DataArray]:
    table = table.reindex(list(NEURONS))
    neuron = {"neuron": list(NEURONS)}
    strings = {
        "neuron_class": "class",
        "neuron_type": "type",
        "neurotransmitter": "neurotransmitter",
        "neurotransmitters": "neurotransmitters",
    }
    out = {
        var: xr.DataArray(
            table[col].astype(str).to_numpy(dtype=object), dims="neuron", coords=neuron
        )
        for var, col in strings.items()
        if col in table
    }
    out["position"] = xr.DataArray(
        table[["x", "y", "z"]].to_numpy(dtype=np.float32),
        dims=("neuron", "axis"),
        coords={**neuron, "axis": ["x", "y", "z"]},
        attrs={
            "units": "wormneuroatlas atlas units (or the user sheet's)",
            "axes": "x left(+)/right(-), y anterior(-)/posterior(+), z dorsal(+)/ventral(-)",
        },
    )
    return out


def graph_files(names: Sequence[str]) -> dict[tuple[str, str], str]:
    """(source, layer) -> GraphML file name for every layer the sources measure (all but the
    gap layer of the functional randi2023), plus the consensus."""
    return {
        (name, layer): f"{name}_{layer}.graphml"
        for name in [*names, "consensus"]
        for layer in LAYERS
        if not (name in FUNCTIONAL_SOURCES and layer == "gap")
    }


def build_connectomes(
    out_nc: str | os.PathLike,
    out_csv: str | os.PathLike,
    sources: str | Sequence = "available",
    consensus_sources: Sequence[str] = DEFAULT_CONSENSUS_SOURCES,
    neuron_sheet: str | os.PathLike | None = None,
    sign_rules: Mapping[str, int] | None = None,
    max_q: float = 0.05,
) -> xr.Dataset:
    """Read, assemble and write ``connectomes.nc`` and ``neurons.csv`` (atomically)."""
    sources = resolve_sources(sources)
    table = neuron_table(neuron_sheet or None)
    weights = read_sources(sources, max_q=max_q)
    store = assemble(weights, table, consensus_sources, sign_rules)
    inputs = {"neuron_sheet": neuron_sheet} if neuron_sheet else {}
    inputs.update({e["name"]: e["path"] for e in _entries(sources) if "path" in e})
    record = provenance(
        "connectomes",
        inputs,
        {
            "sources": source_names(sources),
            "consensus_sources": list(consensus_sources),
            "sign_rules": dict(sign_rules or {}),
            "max_q": max_q,
        },
    )
    store.attrs.update(provenance_attrs(record))
    # mostly zeros and NaN: gzip shrinks the store about 25-fold (12 MB -> 0.5 MB)
    numeric = [name for name, var in store.data_vars.items() if var.dtype.kind in "biuf"]
    write_netcdf(store, out_nc, encoding={v: {"zlib": True, "complevel": 4} for v in numeric})
    write_neuron_csv(table, out_csv)
    return store


def _entries(sources) -> list[Mapping]:
    return [] if isinstance(sources, str) else [s for s in sources if isinstance(s, Mapping)]


def write_neuron_csv(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """``neurons.csv``: label, class, type, neurotransmitter, x, y, z (+ neurotransmitters,
    nt_source) in canonical order."""
    with atomic_path(path) as tmp:
        table.reindex(list(NEURONS)).reset_index(names="label").to_csv(tmp, index=False)


def write_graphs(
    store_path: str | os.PathLike, out_dir: str | os.PathLike, expected: Sequence[str] | None = None
) -> list[Path]:
    """Write one GraphML per source and layer of a built store into ``out_dir``.

    ``expected`` (file names the workflow declared) must match what the store holds.
    """
    with xr.open_dataset(store_path, engine="h5netcdf") as data:
        store = data.load()
    files = graph_files([str(n) for n in store["source"].values if n != "consensus"])
    missing = sorted(set(expected or []) - set(files.values()))
    if missing:
        raise InputError(
            store_path,
            f"has no source for the declared graphs {missing}; rerun the connectomes rule",
        )
    written = []
    for (source, layer), name in tqdm(files.items(), desc="graphml", disable=None):
        path = Path(out_dir, name)
        if expected is not None and name not in expected:
            continue
        write_graphml(dataset_graph(store, source, layer), path)
        written.append(path)
    return written
