"""Atlas assembly, anatomy comparison, graphs and report on contract-shaped stage outputs."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pipelines.atlas.build import write_atlas
from pipelines.atlas.report import SECTIONS, motif_table
from pipelines.common.neurons import NEURONS
from pipelines.connectome.compare import auroc, degree_preserving_shuffle, edge_auroc

N = len(NEURONS)


def test_auroc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    label = rng.random(200) < 0.3
    score = rng.normal(size=200) + label
    assert auroc(score, label) == pytest.approx(roc_auc_score(label, score))


def test_degree_preserving_shuffle_keeps_degrees_and_moves_edges():
    rng = np.random.default_rng(2)
    adj = rng.random((60, 60)) < 0.1
    np.fill_diagonal(adj, False)
    shuffled = degree_preserving_shuffle(adj, seed=3)
    assert (shuffled.sum(0) == adj.sum(0)).all() and (shuffled.sum(1) == adj.sum(1)).all()
    assert not np.diag(shuffled).any()
    assert (shuffled & adj).sum() < 0.5 * adj.sum()


def test_edge_auroc_detects_structure_and_not_noise():
    rng = np.random.default_rng(4)
    adj = rng.random((80, 80)) < 0.08
    np.fill_diagonal(adj, False)
    informative = adj + rng.normal(0, 0.5, adj.shape)
    noise = rng.normal(size=adj.shape)
    hit = edge_auroc(informative, adj, n_null=10, seed=0)
    miss = edge_auroc(noise, adj, n_null=10, seed=0)
    assert hit["auroc"] > 0.8 and hit["p_value"] < 0.1
    assert abs(miss["auroc"] - 0.5) < 0.05 and miss["p_value"] > 0.05
    uncovered = adj.astype(float)
    uncovered[:10] = uncovered[:, :10] = np.nan  # a source that does not cover ten neurons: their pairs are not scored
    assert edge_auroc(informative, uncovered, n_null=2)["n_pairs"] == 70 * 69
    symmetric = edge_auroc(informative + informative.T, adj, n_null=2, symmetric=True)
    assert symmetric["n_pairs"] == 80 * 79 // 2 and symmetric["auroc"] > 0.7


def _fake_inputs(tmp_path, n_worms=3, n_time=120, k=3, states=2):
    rng = np.random.default_rng(0)
    worms = [f"worm{i:02d}" for i in range(n_worms)]
    time = np.arange(n_time) * 0.5
    calcium = rng.normal(size=(n_worms, N, n_time)).astype("float32")
    recorded = rng.random((n_worms, N)) < 0.4
    calcium[~recorded] = np.nan
    homog = xr.Dataset(
        {"calcium": (("worm", "neuron", "time"), calcium),
         "labeled": (("worm", "neuron"), recorded),
         "velocity": (("worm", "time"), rng.normal(size=(n_worms, n_time)).astype("float32")),
         "reversal": (("worm", "time"), (rng.random((n_worms, n_time)) < 0.2).astype("float32"))},
        coords={"worm": worms, "neuron": list(NEURONS), "time": time}, attrs={"dt": 0.5},
    )
    wiring = (rng.random((2, N, N)) < 0.03) * rng.integers(1, 5, (2, N, N))
    wiring[1] = np.maximum(wiring[1], wiring[1].T)
    conn = xr.Dataset(
        {"weight": (("source", "layer", "pre", "post"), wiring[None].astype("float32")),
         "covered": (("source", "neuron"), np.ones((1, N), bool))},
        coords={"source": ["cook2019"], "layer": ["chemical", "gap"], "pre": list(NEURONS),
                "post": list(NEURONS), "neuron": list(NEURONS)},
        attrs={"citation_cook2019": "Cook SJ et al. (2019) Nature 571:63-71"},
    )
    neurons = pd.DataFrame({"class": [n[:3] for n in NEURONS], "type": "inter",
                            "neurotransmitter": "ACh", "x": rng.normal(size=N),
                            "y": rng.uniform(0, 800, N), "z": rng.normal(size=N)},
                           index=pd.Index(NEURONS, name="label"))
    pair = rng.random((k, N, N)).astype("float32")
    pair = (pair + pair.transpose(0, 2, 1)) / 2
    ntf = xr.Dataset(
        {"time_factor": (("component", "time"), rng.random((k, n_time))),
         "worm_factor": (("component", "worm"), rng.random((k, n_worms))),
         "pair_weight": (("component", "pre", "post"), pair),
         "is_baseline": ("component", [False, False, True]),
         "effective_worms": ("component", [1.2, n_worms - 0.5, float(n_worms)]),
         "error": ("rank", [0.6, 0.4, 0.35]), "similarity": ("rank", [0.9, 0.95, 0.8])},
        coords={"component": np.arange(k), "time": time, "worm": worms, "pre": list(NEURONS),
                "post": list(NEURONS), "rank": [1, 2, 3]}, attrs={"n_components": k},
    )
    motif = np.zeros((k, N), bool)
    motif[0, :3] = motif[1, 3:5] = True  # the baseline component (2) has none
    share = np.full((k, N), np.nan)
    share[:, :10] = np.linspace(0.1, 1.0, 10)  # strongest last: neuron 9
    communities = xr.Dataset(
        {"community": (("component", "neuron"), rng.integers(-1, 4, (k, N))),
         "motif": (("component", "neuron"), motif),
         "motif_gain": ("component", [120.0, 80.5, np.nan]),
         "participation": (("component", "neuron"), share),
         "stability": (("component", "neuron"), np.full((k, N), 0.9))},
        coords={"component": np.arange(k), "neuron": list(NEURONS)},
    )
    communities["motif"].attrs["description"] = (
        "the component's motif community: the neurons taking part at least half as strongly "
        "as the strongest (participation >= 0.5)")
    post = rng.dirichlet(np.ones(states), size=(n_worms, n_time))
    glm = xr.Dataset(
        {"state_posterior": (("worm", "time", "state"), post),
         "interaction": (("state", "post", "pre"), rng.normal(size=(states, 20, 20))),
         "occupancy": ("state", post.mean((0, 1))),
         "k_curve": ("n_states", [-1.2, -1.1, -1.15])},
        coords={"worm": worms, "time": time, "state": np.arange(states),
                "post": list(NEURONS[:20]), "pre": list(NEURONS[:20]), "n_states": [1, 2, 3]},
    )
    pred = xr.Dataset({"attention": (("post", "pre"), rng.random((N, N)))},
                      coords={"post": list(NEURONS), "pre": list(NEURONS)})
    table = pd.DataFrame({"table": "forecast", "split": "heldout_worm",
                          "worm": ["worm00", "worm00", "worm01", "worm01"],
                          "model": ["copy_last", "transformer"] * 2, "horizon_s": [2.4] * 4,
                          "metric": ["skill"] * 4, "value": [0.0, 0.1, 0.0, 0.12]})
    paths = {}
    for name, obj in {"homogenized": homog, "connectomes": conn, "ntf": ntf,
                      "communities": communities, "glmhmm": glm, "predictor": pred}.items():
        paths[name] = tmp_path / f"{name}.nc"
        obj.to_netcdf(paths[name], engine="h5netcdf")
    paths["neurons"] = tmp_path / "neurons.csv"
    neurons.to_csv(paths["neurons"])
    paths["evaluation"] = tmp_path / "evaluation.csv"
    table.to_csv(paths["evaluation"], index=False)
    return {k: str(v) for k, v in paths.items()}


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.sections = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "section":
            self.sections.append(attrs.get("id"))


def test_write_atlas_outputs_match_schema(tmp_path):
    inputs = _fake_inputs(tmp_path)
    out = tmp_path / "atlas"
    write_atlas(inputs, out / "atlas.nc", out / "report.html", out / "graphs", out / "figures",
                "fake", {"seed": 0, "n_null": 5})
    tree = xr.open_datatree(out / "atlas.nc", engine="h5netcdf")
    assert {"activity", "connectome", "dfc", "glmhmm", "predictor", "comparison"} <= set(tree.children)
    assert tree["dfc"]["pair_weight"].dims == ("component", "pre", "post")
    assert tree["connectome"].attrs["citation"].startswith("Cook SJ et al. (2019)")
    assert tree["comparison"]["component_auroc"].dims == ("component", "layer")
    assert tree["comparison"]["state_auroc"].sizes["state"] == 2
    assert json.loads(tree.attrs["mapped_worms"]) == []
    assert "homogenized" in json.loads(tree.attrs["input_checksums"])

    graphs = sorted(p.name for p in (out / "graphs").iterdir())
    assert graphs == ["component0.graphml", "component1.graphml", "component2.graphml",
                      "state0.graphml", "state1.graphml"]
    state = nx.read_graphml(out / "graphs" / "state0.graphml")
    assert state.is_directed() and state.number_of_edges() > 0
    node = next(iter(state.nodes(data=True)))[1]
    assert {"class", "type", "x", "y", "z"} <= set(node)

    parser = _Images()
    parser.feed((out / "report.html").read_text())
    assert parser.sections == list(SECTIONS)
    assert len(parser.images) >= 6 and all(src.startswith("data:image/png;base64,") for src in parser.images)


def test_single_worm_components_are_named_in_graphs_and_report(tmp_path):
    inputs = _fake_inputs(tmp_path, n_worms=5)
    out = tmp_path / "atlas"
    write_atlas(inputs, out / "atlas.nc", out / "report.html", out / "graphs", out / "figures",
                "fake", {"seed": 0, "n_null": 2})
    graph = nx.read_graphml(out / "graphs" / "component0.graphml")
    assert graph.graph["effective_worms"] == pytest.approx(1.2)
    page = (out / "report.html").read_text()
    assert "1 of the motifs are carried by fewer than 3 worms" in page


def test_motif_communities_in_graphs_and_report(tmp_path):
    inputs = _fake_inputs(tmp_path)
    out = tmp_path / "atlas"
    write_atlas(inputs, out / "atlas.nc", out / "report.html", out / "graphs", out / "figures",
                "fake", {"seed": 0, "n_null": 2})
    graph = nx.read_graphml(out / "graphs" / "component0.graphml")
    flags = {name: data["motif"] for name, data in graph.nodes(data=True)}
    assert set(flags.values()) <= {0, 1}
    assert {name for name, flag in flags.items() if flag} <= set(NEURONS[:3])
    table = motif_table(xr.open_datatree(out / "atlas.nc", engine="h5netcdf")["dfc"].to_dataset())
    assert table["component"].tolist() == [0, 1]  # the baseline component is not a motif
    # members strongest first with their participation, then the strongest left out
    assert table["motif"].tolist() == [f"{NEURONS[2]} (0.30) {NEURONS[1]} (0.20) {NEURONS[0]} (0.10)",
                                       f"{NEURONS[4]} (0.50) {NEURONS[3]} (0.40)"]
    assert table["next_outside"].tolist()[1] == f"{NEURONS[9]} (1.00) {NEURONS[8]} (0.90) {NEURONS[7]} (0.80)"
    values = {name: data.get("participation") for name, data in graph.nodes(data=True)}
    assert values[NEURONS[9]] == 1.0 and values[NEURONS[0]] == pytest.approx(0.1)
    assert all(v is None for name, v in values.items() if name not in NEURONS[:10])
    canonical = motif_table(xr.open_datatree(out / "atlas.nc", engine="h5netcdf")["dfc"]
                            .to_dataset().drop_vars("participation"))
    assert canonical["motif"].tolist() == [" ".join(NEURONS[:3]), " ".join(NEURONS[3:5])]
    assert table["gain_nats"].tolist() == [120.0, 80.5]
    # under the activation rule the members are ordered and quoted by their activation
    dfc = xr.open_datatree(out / "atlas.nc", engine="h5netcdf")["dfc"].to_dataset()
    dfc["activation"] = 1.0 - dfc["participation"]
    dfc.attrs["motif_rule"] = "activation"
    by_rise = motif_table(dfc)
    assert by_rise["motif"].tolist()[0] == (f"{NEURONS[0]} (0.90) {NEURONS[1]} (0.80) "
                                            f"{NEURONS[2]} (0.70)")
    # and under the coherence rule by their coherence
    dfc["coherence"] = dfc["participation"] / 2
    dfc.attrs["motif_rule"] = "coherence"
    assert motif_table(dfc)["motif"].tolist()[0] == (f"{NEURONS[2]} (0.15) {NEURONS[1]} (0.10) "
                                                     f"{NEURONS[0]} (0.05)")
    page = (out / "report.html").read_text()
    assert "motif community</b>" in page and f"{NEURONS[4]} (0.50) {NEURONS[3]} (0.40)" in page
    assert "of each component: the neurons taking part at least half as strongly" in page


def test_mapped_worms_are_marked(tmp_path):
    inputs = _fake_inputs(tmp_path)
    out = tmp_path / "atlas"
    write_atlas(inputs, out / "atlas.nc", out / "report.html", out / "graphs", out / "figures",
                "fake", {"seed": 0, "n_null": 2}, mapped=True)
    tree = xr.open_datatree(out / "atlas.nc", engine="h5netcdf")
    assert json.loads(tree.attrs["mapped_worms"]) == ["worm00", "worm01", "worm02"]
    page = (out / "report.html").read_text()
    assert "mapped</b> onto an existing atlas" in page
    assert "the best model is <b>transformer</b> (median skill over copy-last +0.110)" in page
