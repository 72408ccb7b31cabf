"""Connectome sources and the neuron table, checked against known facts of the real data.

The raw spreadsheets shipped in the cect wheel are read here independently (pandas, no
project or cect code) and compared entry by entry with ``read_source``.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from pipelines.common import NEURON_INDEX, NEURONS, ConfigError, InputError
from pipelines.connectome import EM_SOURCES, LAYERS, covered_neurons, neuron_table, read_source
from pipelines.connectome import neurons as neurons_module
from pipelines.connectome import sources as sources_module
from pipelines.connectome.neurons import TYPES, neuron_class, normalize_neurotransmitter

CECT_DATA = Path(importlib.util.find_spec("cect").submodule_search_locations[0]) / "data"
COOK_XLSX = CECT_DATA / "SI 5 Connectome adjacency matrices, corrected July 2020.xlsx"
needs_atlas = pytest.mark.skipif(
    importlib.util.find_spec("wormneuroatlas") is None, reason="wormneuroatlas not installed"
)


@pytest.fixture(scope="module")
def cook():
    return read_source("cook2019")


def _unpad(name) -> str:
    """Spreadsheet names are zero-padded (DA05); canonical ones are not (DA5)."""
    return re.sub(r"^([A-Z]+)0(\d)$", r"\1\2", str(name).strip())


@pytest.fixture(scope="module")
def cook_sheets() -> dict[str, pd.DataFrame]:
    """Cook 2019 SI 5 (hermaphrodite) as pre x post frames over the canonical neurons."""
    frames = {}
    for layer, sheet in (
        ("chemical", "hermaphrodite chemical"),
        ("gap", "hermaphrodite gap jn symmetric"),
    ):
        raw = pd.read_excel(COOK_XLSX, sheet_name=sheet, header=None)
        matrix = raw.iloc[3:, 3:].apply(pd.to_numeric, errors="coerce")
        matrix.index = [_unpad(n) for n in raw.iloc[3:, 2]]
        matrix.columns = [_unpad(n) for n in raw.iloc[2, 3:]]
        frames[layer] = matrix.reindex(index=list(NEURONS), columns=list(NEURONS)).fillna(0)
    return frames


# --- the read_source contract ----------------------------------------------------------------


def test_read_source_layout(cook):
    assert cook.dims == ("layer", "pre", "post")
    assert list(cook["layer"].values) == list(LAYERS)
    assert list(cook["pre"].values) == list(NEURONS) == list(cook["post"].values)
    assert cook.dtype == np.float32


def test_cook2019_edge_counts_within_canonical_300(cook):
    # reference §9: CS 3707, GJ 2188 (GJ counted in both directions of the symmetric matrix)
    assert int((cook.sel(layer="chemical") > 0).sum()) == 3707
    assert int((cook.sel(layer="gap") > 0).sum()) == 2188
    assert bool(covered_neurons(cook).all())


def test_cook2019_matches_raw_spreadsheet(cook, cook_sheets):
    for layer, frame in cook_sheets.items():
        np.testing.assert_array_equal(cook.sel(layer=layer).values, frame.to_numpy())
    # a handful of named connections, values as printed in SI 5
    chemical, gap = cook_sheets["chemical"], cook_sheets["gap"]
    for pre, post in [("AVAL", "PVCL"), ("AVAL", "AVAR"), ("AVAL", "DA5"), ("AIYL", "AIZL")]:
        assert cook.sel(layer="chemical", pre=pre, post=post) == chemical.at[pre, post]
    assert chemical.at["AVAL", "PVCL"] == 21 and chemical.at["AVAL", "DA5"] == 14
    assert cook.sel(layer="gap", pre="AVAL", post="AVAR") == gap.at["AVAL", "AVAR"] == 18
    # chemical synapses are directed: the matrix is not symmetric
    assert chemical.at["AVAL", "PVCL"] != chemical.at["PVCL", "AVAL"]


def test_witvliet8_matches_raw_edge_list():
    table = pd.read_excel(CECT_DATA / "witvliet_2020_8 adult.xlsx")
    table = table[table["pre"].isin(NEURON_INDEX) & table["post"].isin(NEURON_INDEX)]
    weight = read_source("witvliet2021_8")
    chemical = table[table["type"] == "chemical"].groupby(["pre", "post"])["synapses"].sum()
    for (pre, post), count in chemical.items():
        assert weight.sel(layer="chemical", pre=pre, post=post) == count
    assert int((weight.sel(layer="chemical") > 0).sum()) == len(chemical)
    for row in table[table["type"] == "electrical"].itertuples():
        assert weight.sel(layer="gap", pre=row.pre, post=row.post) == row.synapses
        assert weight.sel(layer="gap", pre=row.post, post=row.pre) == row.synapses


@pytest.mark.parametrize("name", EM_SOURCES)
def test_gap_junctions_symmetric_and_no_negative_weights(name):
    weight = read_source(name)
    gap = weight.sel(layer="gap").values
    np.testing.assert_array_equal(gap, gap.T)  # NaN pattern too
    assert np.nanmin(weight.values) >= 0


@pytest.mark.parametrize(
    ("name", "n_covered"),
    [
        ("varshney2011", 280),
        ("white1986_n2u", 188),
        ("white1986_jsh", 183),
        ("witvliet2021_1", 161),
        ("witvliet2021_8", 180),
    ],
)
def test_uncovered_neurons_are_nan_not_zero(name, n_covered):
    weight = read_source(name)
    covered = covered_neurons(weight).values
    assert covered.sum() == n_covered  # reference §9, "nodes in the 300"
    missing = np.flatnonzero(~covered)
    assert np.isnan(weight.values[:, missing, :]).all()
    assert np.isnan(weight.values[:, :, missing]).all()
    inside = weight.values[:, covered][:, :, covered]
    assert np.isfinite(inside).all()


def test_unknown_source_name_is_a_clear_config_error():
    with pytest.raises(ConfigError, match="unknown connectome source 'cook2020'.*cook2019"):
        read_source("cook2020")


# --- Randi 2023 (wormneuroatlas, read as data) --------------------------------------------


def test_funatlas_labels_decode_and_rename_awc():
    labels = sources_module.funatlas_labels([b"AVAL", b"AWCOF", b"AWCON", np.bytes_(b"VD9")])
    assert labels == ["AVAL", "AWCL", "AWCR", "VD9"]


@needs_atlas
def test_randi2023_matches_cect_functional_reader():
    """Our h5py reading (stimulated -> responding) equals cect's reading through the
    wormneuroatlas API (which clamps |dF/F| at 10)."""
    from cect.readers.WormNeuroAtlasFuncReader import get_instance

    reference = get_instance(from_cache=True)
    index = [NEURON_INDEX[n] for n in reference.nodes]
    expected = np.zeros((len(NEURONS), len(NEURONS)))
    expected[np.ix_(index, index)] = reference.connections["Functional"]
    ours = read_source("randi2023").sel(layer="chemical").values
    np.testing.assert_allclose(np.clip(np.nan_to_num(ours), -10, 10), expected, atol=1e-5)
    assert int(np.count_nonzero(np.nan_to_num(ours))) == 1150
    assert np.isnan(read_source("randi2023").sel(layer="gap").values).all()
    assert not np.isnan(ours[NEURON_INDEX["AWCL"]]).all()


def test_randi2023_without_wormneuroatlas_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "wormneuroatlas" else real(name, *a),
    )
    with pytest.raises(ImportError, match=r"pip install wormneuroatlas.*pip install \.\[atlas\]"):
        read_source("randi2023")
    from pipelines.connectome.build import resolve_sources

    with pytest.raises(ConfigError, match="pip install wormneuroatlas"):
        resolve_sources(["cook2019", "randi2023"])
    assert "randi2023" not in resolve_sources("available")


# --- neuron table -----------------------------------------------------------------------------


def test_neuron_table_layout():
    table = neuron_table()
    assert list(table.index) == list(NEURONS)
    assert {"class", "type", "neurotransmitter", "x", "y", "z"} <= set(table.columns)
    assert set(table["type"]) <= set(TYPES)
    assert (
        table["neurotransmitter"]
        .map(normalize_neurotransmitter)
        .eq(table["neurotransmitter"])
        .all()
    )


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("AVAL", "AVA"),
        ("VB2", "VB"),
        ("AS10", "AS"),
        ("RMDDL", "RMD"),
        ("RMDL", "RMD"),
        ("RMED", "RME"),
        ("SABVL", "SAB"),
        ("SABD", "SAB"),
        ("IL1L", "IL1"),
        ("IL1DR", "IL1"),
        ("I1L", "I1"),
        ("M2R", "M2"),
        ("MCL", "MC"),
        ("RID", "RID"),
        ("AVL", "AVL"),
        ("RIR", "RIR"),
        ("ALA", "ALA"),
        ("CEPVL", "CEP"),
    ],
)
def test_neuron_class_rule(label, expected):
    assert neuron_class(label) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ach", "ACh"),
        ("ACh", "ACh"),
        ("Acetylcholine", "ACh"),
        ("Unknown (orphan)", "unknown"),
        ("5HT", "5-HT"),
        ("Serotonin", "5-HT"),
        ("Octopamine", "OA"),
        (float("nan"), "unknown"),
    ],
)
def test_normalize_neurotransmitter(raw, expected):
    assert normalize_neurotransmitter(raw) == expected


def test_normalize_neurotransmitter_rejects_unknown_spelling():
    with pytest.raises(ValueError, match="unknown neurotransmitter spelling 'Adrenaline'"):
        normalize_neurotransmitter("Adrenaline")


@pytest.mark.realdata
def test_neuron_table_agrees_with_worm_graph_master_sheet(neuron_sheet):
    sheet = pd.read_csv(neuron_sheet).set_index("label").reindex(list(NEURONS))
    table = neuron_table()
    assert (table["class"] == sheet["class"]).mean() == 1.0
    assert (table["type"] == sheet["type"]).mean() >= 0.9  # measured 0.933
    theirs = sheet["neurotransmitter"].map(normalize_neurotransmitter)
    both = (theirs != "unknown") & (table["neurotransmitter"] != "unknown")
    assert both.sum() >= 270
    assert (theirs[both] == table["neurotransmitter"][both]).mean() >= 0.95  # measured 0.99
    rho = spearmanr(table["y"], sheet["y"], nan_policy="omit").statistic
    assert rho >= 0.95  # both put the body axis on y, head first; measured 0.996


@pytest.mark.realdata
def test_user_neuron_sheet_overrides(neuron_sheet):
    table = neuron_table(neuron_sheet)
    sheet = pd.read_csv(neuron_sheet).set_index("label").reindex(list(NEURONS))
    np.testing.assert_allclose(table["y"].astype(float), sheet["y"])
    assert table.at["AVAL", "neurotransmitter"] == "ACh"
    assert table.at["AS1", "neurotransmitters"] == normalize_neurotransmitter(
        sheet.at["AS1", "neurotransmitter"]
    )
    assert (table["nt_source"] == "user").all()


def test_malformed_neuron_sheet(tmp_path):
    bad = tmp_path / "sheet.csv"
    bad.write_text("name,type\nAVAL,inter\n")
    with pytest.raises(InputError, match="needs a 'label' column"):
        neuron_table(bad)
    bad.write_text("label,neurotransmitter\nAVAL,Adrenaline\n")
    with pytest.raises(InputError, match="Adrenaline"):
        neuron_table(bad)
    with pytest.raises(InputError, match="neuron sheet not found"):
        neuron_table(tmp_path / "absent.csv")


def test_positions_nan_without_wormneuroatlas(monkeypatch):
    monkeypatch.setattr(neurons_module, "wormneuroatlas_file", lambda name: None)
    positions = neurons_module._positions()
    assert positions.shape == (300, 3) and positions.isna().all().all()
