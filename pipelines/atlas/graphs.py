"""GraphML of each component and each state, for networkx, Cytoscape and Gephi.

GraphML holds scalar attributes only, so every graph is written separately and node
attributes are one scalar each: neuron class, type, neurotransmitter, position, community,
motif membership.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from pipelines.common.atomic import atomic_path

NODE_COLUMNS = ("class", "type", "neurotransmitter", "x", "y", "z")


def matrix_graph(
    matrix: np.ndarray,
    names: list[str],
    neurons: pd.DataFrame | None = None,
    directed: bool = False,
    keep: float = 0.05,
    community: np.ndarray | None = None,
    graph_attrs: dict | None = None,
    motif: np.ndarray | None = None,
    participation: np.ndarray | None = None,
) -> nx.Graph:
    """A weighted graph of the strongest entries of ``matrix``.

    Parameters
    ----------
    matrix : (N, N) float, (post, pre) when ``directed``; NaN means "not estimated".
    names : the N neuron names.
    neurons : per-neuron table indexed by name (columns of ``NODE_COLUMNS`` are copied).
    keep : fraction of the non-zero off-diagonal entries kept, by absolute weight, so that
        the graph is sparse enough to draw; edges carry ``weight`` (signed) and ``strength``
        (absolute).
    community : (N,) int, node attribute ``community`` (-1: none).
    motif : (N,) bool, node attribute ``motif`` (1: in the component's motif community).
    participation : (N,) float, node attribute ``participation`` (graded membership in the
        component, strongest = 1; left out of nodes where it is NaN).
    """
    matrix = np.asarray(matrix, dtype=float)
    n = len(names)
    graph = nx.DiGraph() if directed else nx.Graph()
    graph.graph.update({k: v for k, v in (graph_attrs or {}).items() if _scalar(v)})
    values = np.where(np.isfinite(matrix), matrix, 0.0)
    np.fill_diagonal(values, 0.0)
    if not directed:
        values = np.triu((values + values.T) / 2, k=1)
    nonzero = np.abs(values[values != 0])
    threshold = np.quantile(nonzero, 1 - keep) if nonzero.size else np.inf
    used = np.zeros(n, bool)
    rows, cols = np.nonzero(np.abs(values) >= threshold)
    for i, j in zip(rows, cols, strict=True):
        # directed matrices are (post, pre): the edge runs pre -> post
        source, target = (names[j], names[i]) if directed else (names[i], names[j])
        graph.add_edge(source, target, weight=float(values[i, j]),
                       strength=float(abs(values[i, j])))
        used[[i, j]] = True
    for k in np.flatnonzero(used):
        attrs = {}
        if neurons is not None and names[k] in neurons.index:
            row = neurons.loc[names[k]]
            attrs = {c: _clean(row[c]) for c in NODE_COLUMNS if c in row.index}
        if community is not None:
            attrs["community"] = int(community[k])
        if motif is not None:
            attrs["motif"] = int(bool(motif[k]))
        if participation is not None and np.isfinite(participation[k]):
            attrs["participation"] = float(participation[k])  # left out when not estimated
        graph.add_node(names[k], **attrs)
    return graph


def _clean(value):
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    return value


def _scalar(value) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def write_graphml(graph: nx.Graph, path: str | Path) -> None:
    """Write ``graph`` to GraphML atomically."""
    with atomic_path(path) as tmp:
        nx.write_graphml(graph, tmp)
