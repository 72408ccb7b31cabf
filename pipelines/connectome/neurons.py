"""Per-neuron table of the canonical 300 neurons: class, type, neurotransmitter, position.

Every column is built at run time from data files shipped by pip packages, so the table
exists on a fresh clone with no other data:

- ``class``: derived from the label (rule in :func:`neuron_class`): the numbered ventral-cord
  classes (AS, DA, DB, DD, VA, VB, VC, VD) drop their number; other labels drop an L/R
  suffix when the contralateral neuron exists, then a D/V suffix when the opposite one
  exists (RMDDL -> RMD, SABVL -> SAB, IL1L -> IL1; RID, AVL stay).
- ``type``: the Cook et al. 2019 classification lists shipped in ``cect.Cells``
  (pharyngeal / sensory / inter / motor).
- ``neurotransmitters`` (all, ``+``-joined) and ``neurotransmitter`` (the primary one, see
  :data:`NT_PRIORITY`): the Wang et al. 2024 hermaphrodite neurotransmitter atlas as parsed
  by cect (``Wang2024HermReader`` cache); neurons it does not list fall back to the
  OpenWorm/WormAtlas database dump shipped in cect (``cect/data/Modified celegans db
  dump.csv``); ``unknown`` when neither lists one. ``nt_source`` says which. Spellings are
  normalized by :func:`normalize_neurotransmitter` (ACh, Glu, GABA, DA, 5-HT, OA, TA,
  betaine, unknown).
- ``x, y, z``: neuron positions of the anatomical atlas (``anatlas``) shipped in the
  optional ``wormneuroatlas`` package (``wormneuroatlas/data/anatlas_neuron_positions.txt``,
  read as data), in that atlas's normalized units; ``y`` is the anterior (negative) to
  posterior (positive) body axis. NaN when wormneuroatlas is not installed.

A user sheet (CSV with a ``label`` column and any of these columns) overrides column by
column where it has values.
"""

from __future__ import annotations

import importlib.util
import os
import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.common import NEURON_INDEX, NEURONS, InputError, get_logger

from .sources import cect_dataset

log = get_logger(__name__)

COLUMNS = ("class", "type", "neurotransmitter", "x", "y", "z")
TYPES = ("sensory", "inter", "motor", "pharyngeal")

NT_SPELLINGS = {
    "ach": "ACh",
    "acetylcholine": "ACh",
    "glu": "Glu",
    "glutamate": "Glu",
    "gaba": "GABA",
    "da": "DA",
    "dopamine": "DA",
    "5ht": "5-HT",
    "5-ht": "5-HT",
    "serotonin": "5-HT",
    "oa": "OA",
    "octopamine": "OA",
    "ta": "TA",
    "tyramine": "TA",
    "betaine": "betaine",
    "generic_cs": "unknown",
    "unknown": "unknown",
    "unknown (orphan)": "unknown",
    "orphan": "unknown",
    "": "unknown",
}
"""Lower-case spellings found in the sources -> canonical neurotransmitter names."""

NT_PRIORITY = ("ACh", "DA", "OA", "5-HT", "Glu", "GABA", "TA", "betaine")
"""When a neuron has several transmitters, the first of this order is its primary
``neurotransmitter`` (the convention of the WormAtlas tables: ACh over co-released amines, the
amine over co-expressed glutamate); all of them are listed in ``neurotransmitters``."""

_NUMBERED_CLASSES = re.compile(r"^(AS|DA|DB|DD|VA|VB|VC|VD)\d+$")


def normalize_neurotransmitter(value) -> str:
    """Canonical spelling of one neurotransmitter name (``Ach`` -> ``ACh``, NaN -> unknown).

    Raises ValueError for a spelling not in :data:`NT_SPELLINGS`.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "unknown"
    key = str(value).strip().lower()
    if key not in NT_SPELLINGS:
        raise ValueError(
            f"unknown neurotransmitter spelling '{value}'; known: {sorted(set(NT_SPELLINGS.values()))}"
        )
    return NT_SPELLINGS[key]


def neuron_class(label: str) -> str:
    """Anatomical class of a canonical neuron (``AVAL`` -> ``AVA``, ``VB2`` -> ``VB``)."""
    match = _NUMBERED_CLASSES.match(label)
    if match:
        return match.group(1)
    stem = label
    if stem[-1] in "LR" and stem[:-1] + {"L": "R", "R": "L"}[stem[-1]] in NEURON_INDEX:
        stem = stem[:-1]
    if len(stem) > 3 and stem[-1] in "DV":
        other = stem[:-1] + {"D": "V", "V": "D"}[stem[-1]]
        if any(n == other or n in (other + "L", other + "R") for n in NEURON_INDEX):
            stem = stem[:-1]
    return stem


def wormneuroatlas_file(name: str) -> Path | None:
    """Path of a data file shipped in the installed ``wormneuroatlas`` package (GPLv3, read as
    data only: the package is located without importing any of its code); None if absent."""
    spec = importlib.util.find_spec("wormneuroatlas")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    return path if path.is_file() else None


def _cect_data() -> Path:
    try:
        import cect
    except ImportError as err:  # pragma: no cover - cect is a core dependency
        raise ImportError("the neuron table needs the cect package: pip install cect") from err
    return Path(cect.__file__).parent / "data"


def _types() -> pd.Series:
    from cect import Cells

    groups = {
        "pharyngeal": Cells.PHARYNGEAL_NEURONS,
        "sensory": Cells.SENSORY_NEURONS_NONPHARYNGEAL_COOK,
        "inter": Cells.INTERNEURONS_NONPHARYNGEAL_COOK,
        "motor": Cells.MOTORNEURONS_NONPHARYNGEAL_COOK,
    }
    types = {}
    for kind, cells in groups.items():
        for cell in cells:
            types.setdefault(cell, kind)
    return pd.Series({n: types.get(n, "unknown") for n in NEURONS}, name="type")


def _wang2024_transmitters() -> dict[str, set[str]]:
    """Transmitters per neuron from the Wang et al. 2024 atlas as parsed by cect (a neuron
    expresses NT when it has an outgoing connection of synclass NT)."""
    atlas = cect_dataset("Wang2024HermReader")
    found: dict[str, set[str]] = {}
    for synclass, matrix in atlas.connections.items():
        sends = np.asarray(matrix).any(axis=1)
        for label, sending in zip(atlas.nodes, sends, strict=True):
            if sending and label in NEURON_INDEX:
                found.setdefault(label, set()).add(normalize_neurotransmitter(synclass))
    return found


def _wormatlas_transmitters() -> dict[str, set[str]]:
    """Transmitters per neuron from the OpenWorm/WormAtlas database dump shipped in cect."""
    table = pd.read_csv(_cect_data() / "Modified celegans db dump.csv")
    table = table[table["Relationship"] == "Neurotransmitter"]
    return {
        label: {normalize_neurotransmitter(n) for n in names}
        for label, names in table.groupby("Entity1")["Entity2"]
        if label in NEURON_INDEX
    }


def _neurotransmitters() -> pd.DataFrame:
    wang, wormatlas = _wang2024_transmitters(), _wormatlas_transmitters()
    rows = {}
    for label in NEURONS:
        transmitters, source = wang.get(label), "Wang2024"
        if not transmitters:
            transmitters, source = wormatlas.get(label), "WormAtlas"
        if not transmitters:
            rows[label] = ("unknown", "unknown", "none")
            continue
        ordered = [nt for nt in NT_PRIORITY if nt in transmitters]
        rows[label] = (ordered[0], "+".join(ordered), source)
    return pd.DataFrame.from_dict(
        rows, orient="index", columns=["neurotransmitter", "neurotransmitters", "nt_source"]
    )


def _positions() -> pd.DataFrame:
    frame = pd.DataFrame(np.nan, index=pd.Index(NEURONS), columns=["x", "y", "z"])
    path = wormneuroatlas_file("anatlas_neuron_positions.txt")
    if path is None:
        log.warning(
            "wormneuroatlas not installed: neuron positions are NaN "
            "(pip install wormneuroatlas, or set connectomes.neuron_sheet)"
        )
        return frame
    with open(path) as handle:
        names = handle.readline().lstrip("#").split()
    xyz = np.loadtxt(path, ndmin=2)
    if xyz.shape != (len(names), 3):
        raise InputError(path, f"expected {len(names)} rows of x y z, found shape {xyz.shape}")
    atlas = pd.DataFrame(xyz, index=names, columns=["x", "y", "z"])
    atlas = atlas[~atlas.index.duplicated()]  # the file lists PVCL twice, same coordinates
    return atlas.reindex(frame.index)


@cache
def _package_table() -> pd.DataFrame:
    table = pd.DataFrame(
        {"class": [neuron_class(n) for n in NEURONS], "type": _types().to_numpy()},
        index=pd.Index(NEURONS, name="label"),
    )
    table = table.join(_neurotransmitters()).join(_positions())
    return table[list(COLUMNS) + ["neurotransmitters", "nt_source"]]


def read_neuron_sheet(path: str | os.PathLike) -> pd.DataFrame:
    """A user neuron sheet (CSV with ``label`` and any of class/type/neurotransmitter/x/y/z),
    indexed by canonical label, neurotransmitters normalized. Rows outside the canonical set
    are dropped with a warning."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "neuron sheet not found; fix connectomes.neuron_sheet in the config")
    sheet = pd.read_csv(path)
    if "label" not in sheet.columns:
        raise InputError(path, f"needs a 'label' column (has {list(sheet.columns)})")
    columns = [c for c in COLUMNS if c in sheet.columns]
    if not columns:
        raise InputError(path, f"has none of the columns {list(COLUMNS)}")
    sheet = sheet.set_index(sheet["label"].astype(str).str.strip())[columns]
    outside = sorted(set(sheet.index) - set(NEURONS))
    if outside:
        log.warning(
            "%s: %d labels outside the canonical 300 ignored: %s", path, len(outside), outside[:10]
        )
    sheet = sheet.loc[[n for n in sheet.index if n in NEURON_INDEX]]
    if "neurotransmitter" in sheet:
        try:
            sheet["neurotransmitter"] = sheet["neurotransmitter"].map(normalize_neurotransmitter)
        except ValueError as err:
            raise InputError(path, str(err)) from err
    if "type" in sheet:
        sheet["type"] = sheet["type"].str.strip().str.lower()
    return sheet


def neuron_table(sheet: str | os.PathLike | None = None) -> pd.DataFrame:
    """The per-neuron table, indexed by canonical label in canonical order.

    Parameters
    ----------
    sheet
        Optional user CSV whose non-empty values override the package-derived ones.

    Returns
    -------
    DataFrame (300 rows) with columns class, type, neurotransmitter (str), x, y, z (float,
    atlas units; NaN where unknown), neurotransmitters (all, ``+``-joined) and nt_source.
    """
    table = _package_table().copy()
    if sheet is not None:
        user = read_neuron_sheet(sheet)
        for column in user.columns:
            values = user[column].dropna()
            table.loc[values.index, column] = values
            if column == "neurotransmitter":  # the user's value replaces the whole list
                table.loc[values.index, "neurotransmitters"] = values
                table.loc[values.index, "nt_source"] = "user"
    return table
