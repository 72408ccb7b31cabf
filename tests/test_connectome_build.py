"""Consensus, signs, edge lists, the Hub CSV, GraphML and the assembled connectomes.nc."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pipelines.common import NEURON_INDEX, NEURONS, ConfigError, InputError
from pipelines.common.config import validate_config
from pipelines.connectome import (
    graph_of_source,
    load_graph,
    neuron_table,
    read_edge_list,
    read_source,
)
from pipelines.connectome.build import (
    assemble,
    build_connectomes,
    graph_files,
    resolve_sources,
    write_graphs,
)
from pipelines.connectome.consensus import consensus
from pipelines.connectome.graphs import dataset_graph, read_graphml, to_networkx, write_graphml
from pipelines.connectome.hub import hub_consensus_file
from pipelines.connectome.sign import connection_signs, neuron_signs, transmitter_sign
from pipelines.connectome.sources import parse_position, read_consensus_csv, symmetrize_gap

NAN = np.nan


# --- consensus --------------------------------------------------------------------------------


def _stack(values) -> xr.DataArray:
    values = np.asarray(values, dtype=float)
    return xr.DataArray(values, dims=("source", "pre", "post"))


def test_consensus_hand_made_example():
    # three sources over 2 x 2 pairs; source c does not cover the second neuron
    weights = _stack(
        [
            [[0, 4], [2, 0]],
            [[0, 2], [0, 1]],
            [[3, NAN], [NAN, NAN]],
        ]
    )
    out = consensus(weights)
    np.testing.assert_allclose(out["weight"], [[1, 3], [1, 0.5]])
    np.testing.assert_array_equal(out["n_sources"], [[3, 2], [2, 2]])
    np.testing.assert_array_equal(out["n_agree"], [[1, 2], [1, 1]])
    np.testing.assert_allclose(out["spread"], [[np.sqrt(2), 1], [1, 0.5]])
    assert out["weight"].dtype == np.float32 and out["n_agree"].dtype == np.int16


def test_consensus_uncovered_everywhere_is_nan():
    out = consensus(_stack([[[NAN]], [[NAN]]]))
    assert np.isnan(out["weight"].item()) and out["n_sources"].item() == 0


@settings(max_examples=30, deadline=None)
@given(
    arrays(np.float64, (4, 4), elements=st.integers(0, 50)),  # synapse counts
    st.integers(1, 4),
)
def test_consensus_of_copies_is_the_source(matrix, copies):
    out = consensus(_stack([matrix] * copies))
    np.testing.assert_allclose(out["weight"], matrix, rtol=1e-6)
    np.testing.assert_allclose(out["spread"], 0, atol=1e-4)
    np.testing.assert_array_equal(out["n_agree"], copies * (matrix > 0))


def test_symmetrize_gap():
    gap = np.array([[0, 2, 0], [4, 0, 0], [3, NAN, 0]])
    np.testing.assert_array_equal(symmetrize_gap(gap), [[0, 3, 3], [3, 0, NAN], [3, NAN, 0]])


# --- signs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transmitters", "sign"),
    [
        ("ACh", 1),
        ("GABA", -1),
        ("Glu", 0),
        ("DA", 0),
        ("ACh+5-HT", 1),
        ("ACh+GABA", 0),
        ("unknown", 0),
        ("", 0),
    ],
)
def test_transmitter_sign_default_rule(transmitters, sign):
    assert transmitter_sign(transmitters) == sign


def test_neuron_signs_on_real_table():
    table = neuron_table()
    signs = neuron_signs(table)
    assert signs.dtype == np.int8 and list(signs.index) == list(NEURONS)
    assert (signs[[f"VD{i}" for i in range(1, 14)]] == -1).all()  # GABAergic VD motor neurons
    assert signs["AVAL"] == 1 and signs["RIML"] == 0  # ACh, Glu (unknown by default)
    assert neuron_signs(table, {"Glu": -1})["RIML"] == -1
    with pytest.raises(ConfigError, match="sign_rules"):
        neuron_signs(table, {"GABA": 2})
    matrix = connection_signs(table)
    assert matrix.dims == ("pre", "post") and matrix.dtype == np.int8
    assert (matrix.sel(pre="DD1") == -1).all()


# --- user edge lists --------------------------------------------------------------------------


def _csv(tmp_path, text, name="edges.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_edge_list(tmp_path):
    path = _csv(
        tmp_path,
        "pre,post,type,weight\nAVAL,AVBL,chemical,2\nAVAL,AVBL,chemical,1\n"
        "AVAL,AVAR,gap,4\nAVAR,AVAL,gap,2\nRIML,AVBL,gap,1\nMUSCLE,AVAL,chemical,3\n",
    )
    weight = read_edge_list(path, name="mine")
    assert weight.sel(layer="chemical", pre="AVAL", post="AVBL") == 3  # repeated rows add
    assert weight.sel(layer="chemical", pre="AVBL", post="AVAL") == 0  # directed
    assert weight.sel(layer="gap", pre="AVAL", post="AVAR") == 3  # both directions: mean
    assert weight.sel(layer="gap", pre="AVBL", post="RIML") == 1  # mirrored
    assert np.isfinite(weight.values).all()
    partial = read_edge_list(path, covered=["AVAL", "AVAR", "AVBL", "RIML"])
    assert np.isnan(partial.sel(pre="VD9").values).all()
    assert partial.sel(layer="gap", pre="VD9", post="AVAL").isnull()
    assert partial.sel(layer="chemical", pre="RIML", post="AVAL") == 0
    assert partial.sel(layer="chemical", pre="AVAL", post="AVBL") == 3
    with pytest.raises(InputError, match="missing from 'covered'.*'AVAR', 'RIML'"):
        read_edge_list(path, covered=["AVAL", "AVBL"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pre,post,weight\nAVAL,AVBL,1\n", "missing columns \\['type'\\]"),
        ("pre,post,type,weight\nAVAL,AVBL,electric-ish,1\n", "unknown edge type"),
        ("pre,post,type,weight\nAVAL,AVBL,chemical,-1\n", "weight must be a number >= 0"),
        ("pre,post,type,weight\nAVAL,AVBL,chemical,many\n", "weight must be a number"),
        ("pre,post,type,weight\nFOO,BAR,chemical,1\n", "no edge between canonical"),
        ("", "not a readable CSV"),
    ],
)
def test_malformed_edge_list(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        read_edge_list(_csv(tmp_path, text))


def test_edge_list_missing_file(tmp_path):
    with pytest.raises(InputError, match="edge list not found"):
        read_source({"name": "mine", "kind": "edgelist", "path": str(tmp_path / "no.csv")})


# --- Hub consensus CSV ------------------------------------------------------------------------


def test_parse_position_is_safe():
    assert parse_position("(1.5, -2, 3e1)") == (1.5, -2.0, 30.0)
    assert np.isnan(parse_position("__import__('os').system('true')")).all()
    assert np.isnan(parse_position("")).all()


def _hub_folder(tmp_path):
    folder = tmp_path / "hub"
    folder.mkdir()
    rows = [
        ("AVAL", "AVBL", 2.0, 0.0),
        ("AVAL", "AVAR", 1.0, 3.0),
        ("AVAR", "AVAL", NAN, 3.0),
        ("AVBL", "AVAL", 0.0, 0.0),
    ]
    table = pd.DataFrame(
        rows, columns=["from_neuron", "to_neuron", "mean_chem_weight", "mean_gap_weight"]
    )
    table["from_pos"] = "(0.0, 50.2, 8.4)"
    table.to_csv(folder / "consensus_connectome_full_nofunc.csv", index=False)
    return folder


def test_hub_local_folder(tmp_path):
    folder = _hub_folder(tmp_path)
    weight = read_source({"name": "hub", "kind": "hub", "repo_id": str(folder)})
    assert weight.sel(layer="chemical", pre="AVAL", post="AVBL") == 2
    assert np.isnan(weight.sel(layer="chemical", pre="AVAR", post="AVAL"))
    assert weight.sel(layer="gap", pre="AVBL", post="AVAL") == 0
    assert np.isnan(weight.sel(layer="chemical", pre="VD9", post="VD9"))  # not listed


def test_hub_errors(tmp_path):
    folder = _hub_folder(tmp_path)
    with pytest.raises(InputError, match="consensus file not found"):
        hub_consensus_file(str(folder), filename="absent.csv")
    # tests run offline (conftest sets HF_HUB_OFFLINE before any HF import)
    with pytest.raises(InputError, match="could not pull .*set repo_id to that local folder"):
        hub_consensus_file("nobody/no-such-dataset", cache_dir=tmp_path / "cache")
    (folder / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="missing columns"):
        read_consensus_csv(folder / "bad.csv")


# --- GraphML ----------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["chemical", "gap"])
def test_graphml_round_trip(tmp_path, layer):
    weight = read_source("witvliet2021_8").sel(layer=layer)
    table = neuron_table()
    graph = to_networkx(weight, table, layer, graph_attrs={"source": "witvliet2021_8"})
    path = tmp_path / f"w8_{layer}.graphml"
    write_graphml(graph, path)
    back = read_graphml(path)
    assert back.is_directed() == (layer == "chemical")
    assert back.number_of_nodes() == 300
    values = weight.values
    expected = np.count_nonzero(np.nan_to_num(values))
    assert back.number_of_edges() == (
        expected
        if layer == "chemical"
        else (expected + np.count_nonzero(np.diag(np.nan_to_num(values)))) // 2
    )
    for pre, post, data in list(back.edges(data=True))[:50]:
        assert data["weight"] == values[NEURON_INDEX[pre], NEURON_INDEX[post]]
    node = back.nodes["AVAL"]
    assert node["class"] == "AVA" and node["covered"] is True and isinstance(node["y"], float)
    assert back.nodes["VD13"]["covered"] is False  # outside the Witvliet nerve-ring volume
    assert back.graph["source"] == "witvliet2021_8"
    assert nx.utils.graphs_equal(back, nx.read_graphml(path))


# --- assembled store --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("connectomes")
    edges = folder / "edges.csv"
    edges.write_text("pre,post,type,weight\nAVAL,AVBL,chemical,5\nAVAL,AVAR,gap,2\n")
    sources = [
        "cook2019",
        "witvliet2021_8",
        {
            "name": "mine",
            "kind": "edgelist",
            "path": str(edges),
            "covered": ["AVAL", "AVAR", "AVBL"],
        },
    ]
    store = build_connectomes(
        folder / "connectomes.nc",
        folder / "neurons.csv",
        sources=sources,
        consensus_sources=["cook2019", "witvliet2021_8"],
    )
    return folder, store


def test_store_layout(small_store):
    folder, store = small_store
    assert list(store["source"].values) == ["cook2019", "witvliet2021_8", "mine", "consensus"]
    assert store["weight"].dims == ("source", "layer", "pre", "post")
    assert store["weight"].dtype == np.float32 and store["sign"].dtype == np.int8
    assert store["covered"].dims == ("source", "neuron") and store["covered"].dtype == bool
    assert int(store["covered"].sel(source="mine").sum()) == 3
    assert "citation_cook2019" in store.attrs and "provenance" in store.attrs
    on_disk = xr.open_dataset(folder / "connectomes.nc", engine="h5netcdf")
    xr.testing.assert_equal(on_disk["weight"], store["weight"])
    neurons = pd.read_csv(folder / "neurons.csv")
    assert list(neurons["label"]) == list(NEURONS)
    assert {"class", "type", "neurotransmitter", "x", "y", "z"} <= set(neurons.columns)


def test_store_consensus_follows_its_sources(small_store):
    _, store = small_store
    both = store["weight"].sel(source=["cook2019", "witvliet2021_8"])
    mean = both.mean("source", skipna=True)
    np.testing.assert_allclose(store["weight"].sel(source="consensus"), mean, rtol=1e-6)
    # a ventral-cord pair only Cook 2019 covers
    assert store["n_sources"].sel(layer="chemical", pre="VA1", post="DD1") == 1
    assert store["n_sources"].sel(layer="chemical", pre="AVAL", post="AVAR") == 2
    assert store["spread"].sel(layer="chemical", pre="VA1", post="DD1") == 0


def test_graphs_from_store(small_store, tmp_path):
    folder, store = small_store
    files = write_graphs(folder / "connectomes.nc", tmp_path)
    names = {p.name for p in files}
    assert names == set(graph_files(["cook2019", "witvliet2021_8", "mine"]).values())
    consensus_graph = read_graphml(tmp_path / "consensus_chemical.graphml")
    edge = consensus_graph.edges["AVAL", "AVBL"]
    assert {"weight", "n_agree", "n_sources", "spread", "sign"} <= set(edge)
    cook = dataset_graph(store, "cook2019", "chemical")
    assert cook.number_of_edges() == 3707


def test_networkx_helpers(small_store, tmp_path):
    folder, _ = small_store
    gap = load_graph("witvliet2021_8", "gap", folder / "connectomes.nc")
    direct = graph_of_source("witvliet2021_8", "gap")
    assert not gap.is_directed() and set(gap.edges) == set(direct.edges)
    assert gap.edges["AVAL", "AVAR"]["weight"] == direct.edges["AVAL", "AVAR"]["weight"]
    with pytest.raises(InputError, match="run `snakemake connectomes` first"):
        load_graph("cook2019", "gap", tmp_path / "absent.nc")


def test_assemble_needs_a_consensus_source():
    weight = read_source("cook2019")
    with pytest.raises(ConfigError, match="consensus_sources"):
        assemble([weight], neuron_table(), consensus_sources=["varshney2011"])


# --- configuration ----------------------------------------------------------------------------


def test_resolve_sources_errors(tmp_path):
    with pytest.raises(
        ConfigError, match="connectomes.sources.1.*unknown connectome source 'cook'"
    ):
        resolve_sources(["cook2019", "cook"])
    with pytest.raises(ConfigError, match="needs a 'path'"):
        resolve_sources([{"name": "mine", "kind": "edgelist", "path": ""}])
    with pytest.raises(ConfigError, match="unique and not 'consensus'"):
        resolve_sources(["cook2019", "cook2019"])
    with pytest.raises(ConfigError, match="'all': use 'available'"):
        resolve_sources("all")


def test_schema_defaults_and_errors(repo):
    schema = repo / "workflow" / "schemas" / "config.schema.yaml"
    config = validate_config({"recordings": {"sim": {"format": "simulated"}}}, schema)
    section = config["connectomes"]
    assert section["sources"] == "available" and section["randi_max_q"] == 0.05
    with pytest.raises(ConfigError, match="connectomes.sources.0.kind"):
        validate_config(
            {
                "recordings": {"sim": {"format": "simulated"}},
                "connectomes": {"sources": [{"name": "x", "kind": "zip"}]},
            },
            schema,
        )
