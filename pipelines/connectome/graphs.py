"""Connectomes as networkx graphs and GraphML files (open in networkx, Cytoscape, Gephi).

One graph per source and layer: chemical layers are directed (``nx.DiGraph``), gap layers
undirected (``nx.Graph``). All 300 canonical neurons are nodes, with scalar attributes
(GraphML rejects lists): ``class``, ``type``, ``neurotransmitter``, ``x``, ``y``, ``z`` and
``covered`` (False: the source does not cover this neuron; it then has no edges, which means
"unknown", not "no synapse"). Edges are the finite non-zero weights, with attributes
``weight`` and, where given, ``sign`` (chemical) and ``n_agree`` / ``n_sources`` /
``spread`` (consensus). Graph attributes: ``source``, ``layer``, ``citation``.
"""

from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import xarray as xr

from pipelines.common import InputError, atomic_path

from .sources import FUNCTIONAL_SOURCES

NODE_COLUMNS = ("class", "type", "neurotransmitter", "x", "y", "z")
EDGE_EXTRAS = ("n_agree", "n_sources", "spread")


def to_networkx(
    weight: xr.DataArray,
    table: pd.DataFrame,
    layer: str,
    covered=None,
    edge_attrs: dict[str, xr.DataArray] | None = None,
    graph_attrs: dict | None = None,
) -> nx.Graph:
    """Graph of one (pre, post) weight matrix.

    Parameters
    ----------
    weight
        (pre, post) float, NaN where not covered.
    table
        Neuron table (index: canonical labels) for the node attributes.
    layer
        ``chemical`` (directed graph) or ``gap`` (undirected; the matrix must be symmetric).
    covered
        (neuron,) bool; default: neurons with any finite entry.
    edge_attrs
        Extra (pre, post) arrays copied onto the edges (e.g. ``sign``, ``n_agree``).
    """
    values = weight.transpose("pre", "post").values
    if covered is None:
        finite = np.isfinite(values)
        covered = finite.any(axis=0) | finite.any(axis=1)
    graph = nx.DiGraph() if layer == "chemical" else nx.Graph()
    graph.graph.update({k: v for k, v in (graph_attrs or {}).items() if _scalar(v)})
    graph.graph["layer"] = layer
    for label, is_covered in zip(weight["pre"].values, np.asarray(covered), strict=True):
        attrs = {c: _node_value(table.at[label, c]) for c in NODE_COLUMNS if c in table}
        graph.add_node(str(label), covered=bool(is_covered), **attrs)
    pre, post = np.nonzero(np.isfinite(values) & (values != 0))
    if layer != "chemical":
        keep = pre <= post
        pre, post = pre[keep], post[keep]
    labels = weight["pre"].values
    extras = {k: v.transpose("pre", "post").values for k, v in (edge_attrs or {}).items()}
    for i, j in zip(pre, post, strict=True):
        attrs = {"weight": float(values[i, j])}
        attrs.update({k: _edge_value(v[i, j]) for k, v in extras.items()})
        graph.add_edge(str(labels[i]), str(labels[j]), **attrs)
    return graph


def _scalar(value) -> bool:
    return isinstance(value, str | int | float | bool | np.generic)


def _node_value(value):
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str) else float(value)


def _edge_value(value):
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if isinstance(value, int | bool) else float(value)


def write_graphml(graph: nx.Graph, path: str | os.PathLike) -> None:
    """Write a graph to GraphML atomically."""
    with atomic_path(path) as tmp:
        nx.write_graphml(graph, tmp)


def read_graphml(path: str | os.PathLike) -> nx.Graph:
    """Read a GraphML file written by :func:`write_graphml` (node ids are neuron labels)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "GraphML file not found; run the `connectome_graphs` rule")
    return nx.read_graphml(path)


def dataset_graph(store: xr.Dataset, source: str, layer: str) -> nx.Graph:
    """Graph of one source and layer of a ``connectomes.nc`` Dataset (see build.py)."""
    if source not in store["source"].values:
        raise KeyError(f"source '{source}' not in the store; have {list(store['source'].values)}")
    table = neuron_frame(store)
    edge_attrs = {}
    if layer == "chemical" and "sign" in store and source not in FUNCTIONAL_SOURCES:
        edge_attrs["sign"] = store["sign"]
    if source == "consensus":
        edge_attrs.update({k: store[k].sel(layer=layer) for k in EDGE_EXTRAS if k in store})
    attrs = {"source": source, "citation": store.attrs.get(f"citation_{source}", "")}
    return to_networkx(
        store["weight"].sel(source=source, layer=layer),
        table,
        layer,
        covered=store["covered"].sel(source=source).values,
        edge_attrs=edge_attrs,
        graph_attrs=attrs,
    )


def neuron_frame(store: xr.Dataset) -> pd.DataFrame:
    """The neuron table stored in a ``connectomes.nc`` Dataset, as a DataFrame."""
    frame = pd.DataFrame(index=pd.Index([str(n) for n in store["neuron"].values], name="label"))
    for column, variable in (
        ("class", "neuron_class"),
        ("type", "neuron_type"),
        ("neurotransmitter", "neurotransmitter"),
    ):
        frame[column] = [str(v) for v in store[variable].values]
    for axis in "xyz":
        frame[axis] = store["position"].sel(axis=axis).values.astype(float)
    return frame


def load_graph(
    source: str, layer: str, store: str | os.PathLike = "data/connectomes/connectomes.nc"
):
    """networkx graph of one source and layer from a built ``connectomes.nc``."""
    store = Path(store)
    if not store.is_file():
        raise InputError(store, "connectome store not found; run `snakemake connectomes` first")
    with xr.open_dataset(store, engine="h5netcdf") as data:
        return dataset_graph(data.load(), source, layer)


def graph_of_source(source, layer: str = "chemical", sheet=None) -> nx.Graph:
    """networkx graph of one source read directly (no store needed)."""
    from .neurons import neuron_table
    from .sources import citation, read_source

    weight = read_source(source)
    return to_networkx(
        weight.sel(layer=layer),
        neuron_table(sheet),
        layer,
        graph_attrs={
            "source": weight.attrs["source"],
            "citation": citation(weight.attrs["source"]),
        },
    )
