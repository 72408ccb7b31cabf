"""Connectome stage: every published wiring diagram on the canonical 300 neurons.

Public API (stable; other stages build on it):

- :func:`read_source` -> DataArray ``weight`` (layer: chemical|gap, pre, post), NaN where a
  source does not cover a neuron;
- :func:`neuron_table` -> DataFrame indexed by canonical label with class, type,
  neurotransmitter, x, y, z;
- :func:`load_graph` / :func:`graph_of_source` / :func:`read_graphml` -> networkx graphs.
"""

from .graphs import graph_of_source, load_graph, read_graphml
from .neurons import neuron_table
from .sources import (
    CECT_READERS,
    EM_SOURCES,
    LAYERS,
    available_sources,
    citation,
    covered_neurons,
    read_edge_list,
    read_source,
)

__all__ = [
    "CECT_READERS",
    "EM_SOURCES",
    "LAYERS",
    "available_sources",
    "citation",
    "covered_neurons",
    "graph_of_source",
    "load_graph",
    "neuron_table",
    "read_edge_list",
    "read_graphml",
    "read_source",
]
