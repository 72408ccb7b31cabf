"""Readers of published wiring diagrams, each returning one matrix over the canonical neurons.

Every reader returns an ``xarray.DataArray`` ``weight`` with dims (layer, pre, post), layer in
``LAYERS`` = (chemical, gap), coords in canonical order (``pipelines.common.NEURONS``), float32:

- a number (synapse count, or the source's weight) where the source covers both neurons,
  0 where it covers both and reports no connection;
- NaN where the source does not cover the pre or the post neuron (never 0);
- chemical synapses directed (pre sends to post); gap junctions symmetric.

Sources (:func:`available_sources` lists the ones importable here):

- ``cook2019``, ``varshney2011``, ``white1986_whole``, ``white1986_n2u``, ``white1986_jsh``,
  ``witvliet2021_1`` .. ``witvliet2021_8``: the readers of the ``cect`` package (MIT), loaded
  from the caches shipped in its wheel (``get_instance(from_cache=True)``).
- ``randi2023``: the signal-propagation atlas ``funatlas.h5`` of the optional ``wormneuroatlas``
  package (GPLv3, read as a data file, none of its code is imported): wild-type ``dFF``
  where ``q < max_q``, 0 where tested and not significant, NaN for untested pairs and the
  diagonal. Functional, directed: stored in the ``chemical`` layer; its ``gap`` layer is NaN.
- a Hub / local consensus-connectome folder (:func:`read_hub_consensus`) and a user edge list
  (:func:`read_edge_list`), given as config entries (dicts) rather than names.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from pipelines.common import NEURON_INDEX, NEURONS, ConfigError, InputError, get_logger

log = get_logger(__name__)

LAYERS = ("chemical", "gap")

CECT_READERS = {
    "cook2019": "Cook2019HermReader",
    "varshney2011": "VarshneyDataReader",
    "white1986_whole": "White_whole",
    "white1986_n2u": "DurbinN2UDataReader",
    "white1986_jsh": "DurbinJSHDataReader",
    **{f"witvliet2021_{i}": f"WitvlietDataReader{i}" for i in range(1, 9)},
}
"""Source name -> cect reader module (``cect.readers.<module>``)."""

EM_SOURCES = tuple(CECT_READERS)
FUNCTIONAL_SOURCES = ("randi2023",)

CITATIONS = {
    "cook2019": "Cook SJ et al. (2019) Whole-animal connectomes of both Caenorhabditis elegans "
    "sexes. Nature 571:63-71. doi:10.1038/s41586-019-1352-7 (SI 5, corrected July 2020)",
    "varshney2011": "Varshney LR, Chen BL, Paniagua E, Hall DH, Chklovskii DB (2011) Structural "
    "properties of the Caenorhabditis elegans neuronal network. PLoS Comput Biol 7:e1001066. "
    "doi:10.1371/journal.pcbi.1001066",
    "white1986": "White JG, Southgate E, Thomson JN, Brenner S (1986) The structure of the "
    "nervous system of the nematode Caenorhabditis elegans. Phil Trans R Soc B 314:1-340. "
    "doi:10.1098/rstb.1986.0056 (N2U/JSH series as curated by Durbin 1987)",
    "witvliet2021": "Witvliet D et al. (2021) Connectomes across development reveal principles "
    "of brain maturation. Nature 596:257-261. doi:10.1038/s41586-021-03778-8",
    "randi2023": "Randi F, Sharma AK, Dvali S, Leifer AM (2023) Neural signal propagation atlas "
    "of Caenorhabditis elegans. Nature 623:406-414. doi:10.1038/s41586-023-06683-4",
    "cect": "Gleeson P et al., C. elegans Connectome Toolbox (cect), OpenWorm, MIT licence. "
    "https://github.com/openworm/ConnectomeToolbox",
    "hub": "Simeon Q et al. (2024) Homogenized C. elegans neural activity and connectivity "
    "data. arXiv:2411.12091 (Hub dataset qsimeon/celegans_connectome_data)",
}


def citation(source: str) -> str:
    """Citation of a source name (family prefix for White 1986 / Witvliet 2021)."""
    for key in (source, source.split("_")[0]):
        if key in CITATIONS:
            return CITATIONS[key]
    return "user-provided"


def wormneuroatlas_installed() -> bool:
    """True if the optional ``wormneuroatlas`` package is installed (not imported)."""
    return importlib.util.find_spec("wormneuroatlas") is not None


def available_sources() -> list[str]:
    """Named sources readable in this environment (randi2023 only with wormneuroatlas)."""
    return list(EM_SOURCES) + (["randi2023"] if wormneuroatlas_installed() else [])


def empty_weight(name: str) -> xr.DataArray:
    """An all-NaN (layer, pre, post) float32 weight array over the canonical neurons."""
    n = len(NEURONS)
    return xr.DataArray(
        np.full((len(LAYERS), n, n), np.nan, dtype=np.float32),
        dims=("layer", "pre", "post"),
        coords={"layer": list(LAYERS), "pre": list(NEURONS), "post": list(NEURONS)},
        name="weight",
        attrs={"source": name, "citation": citation(name)},
    )


def symmetrize_gap(gap: np.ndarray) -> np.ndarray:
    """Symmetric gap-junction matrix from one that may list a junction in one or both
    directions: a value given in one direction is copied to the other, two values are
    averaged (the upstream convention). NaN stays NaN. Shape (N, N) -> (N, N)."""
    transposed = gap.T
    return np.where(
        gap == 0, transposed, np.where(transposed == 0, gap, (gap + transposed) / 2)
    ).astype(gap.dtype)


def from_matrices(
    name: str, labels, chemical: np.ndarray, gap: np.ndarray | None, covered=None
) -> xr.DataArray:
    """Put a source's (pre x post) matrices over its own ``labels`` on the canonical neurons.

    Labels outside the canonical 300 (muscles, other cells, CANL/R) are dropped; canonical
    neurons not in ``covered`` (default: ``labels``) get NaN rows and columns. ``gap=None``
    leaves the gap layer NaN (a source without gap junctions).
    """
    labels = [str(label) for label in labels]
    covered = set(labels if covered is None else covered)
    keep = [i for i, label in enumerate(labels) if label in NEURON_INDEX and label in covered]
    slots = np.array([NEURON_INDEX[labels[i]] for i in keep], dtype=int)
    weight = empty_weight(name)
    values = weight.values
    for layer, matrix in enumerate((chemical, gap)):
        if matrix is None:
            continue
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape != (len(labels), len(labels)):
            raise InputError(name, f"matrix shape {matrix.shape} != {len(labels)} labels")
        sub = matrix[np.ix_(keep, keep)]
        if layer == 1:
            sub = symmetrize_gap(sub)
        values[layer][np.ix_(slots, slots)] = sub
    return weight


def cect_dataset(reader: str):
    """A cect connectome dataset (``cect.readers.<reader>``) from the cache in the cect wheel."""
    try:
        module = importlib.import_module(f"cect.readers.{reader}")
    except ImportError as err:
        raise ImportError(
            f"cect reader {reader} is not importable ({err}); install cect with "
            "`pip install cect` (or `pip install --no-deps cect networkx openpyxl xlrd`)"
        ) from err
    return module.get_instance(from_cache=True)


def read_cect(name: str) -> xr.DataArray:
    """One cect source (a key of :data:`CECT_READERS`) on the canonical neurons."""
    reader = CECT_READERS[name]
    dataset = cect_dataset(reader)
    connections = dataset.connections
    missing = {"Generic_CS", "Generic_GJ"} - set(connections)
    if missing:
        raise InputError(f"cect:{reader}", f"no {sorted(missing)} connections in the dataset")
    weight = from_matrices(
        name, dataset.nodes, connections["Generic_CS"], connections["Generic_GJ"]
    )
    weight.attrs.update(reader=f"cect.readers.{reader}", cect_version=_version("cect"))
    return weight


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


# --- Randi et al. 2023 functional atlas (wormneuroatlas, read as data) ----------------------

AWC_NAMES = {"AWCON": "AWCR", "AWCOFF": "AWCL", "AWCOF": "AWCL"}
"""wormneuroatlas names AWC by its ON/OFF identity (``S5`` storage truncates AWCOFF to AWCOF);
cect maps OFF -> AWCL and ON -> AWCR by convention, and so do we."""


def funatlas_path() -> Path:
    """Path of ``funatlas.h5`` in the installed wormneuroatlas package.

    Raises ImportError with the install command when the package is missing.
    """
    spec = importlib.util.find_spec("wormneuroatlas")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "connectome source 'randi2023' needs the optional wormneuroatlas package (GPLv3): "
            "`pip install wormneuroatlas` or `pip install .[atlas]`, or remove randi2023 from "
            "connectomes.sources"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "funatlas.h5"
    if not path.is_file():
        raise InputError(
            path,
            "wormneuroatlas is installed but its funatlas.h5 is missing; "
            "reinstall it (pip install --force-reinstall wormneuroatlas)",
        )
    return path


def funatlas_labels(raw_ids) -> list[str]:
    """Decode funatlas ``neuron_ids`` (bytes) and rename AWCON/AWCOFF to AWCR/AWCL."""
    labels = [i.decode() if isinstance(i, bytes | np.bytes_) else str(i) for i in raw_ids]
    return [AWC_NAMES.get(label.strip(), label.strip()) for label in labels]


def read_randi2023(
    path: str | os.PathLike | None = None, max_q: float = 0.05, strain: str = "wt"
) -> xr.DataArray:
    """The Randi 2023 signal-propagation atlas as a directed functional weight.

    ``funatlas.h5`` stores (responding, stimulated) matrices: the stimulated neuron is ``pre``.
    Weight = mean post-stimulus dF/F of ``post`` where ``q < max_q``, 0 where the pair was
    tested and is not significant, NaN where untested (q is NaN) and on the diagonal.
    """
    import h5py

    path = funatlas_path() if path is None else Path(path)
    with h5py.File(path, "r") as handle:
        if strain not in handle:
            raise InputError(path, f"no strain group '{strain}' (have {sorted(handle)})")
        labels = funatlas_labels(handle["neuron_ids"][()])
        dff = handle[f"{strain}/dFF"][()].T  # -> (stimulated = pre, responding = post)
        q = handle[f"{strain}/q"][()].T
    tested = np.isfinite(q)
    significant = tested & (q < max_q) & np.isfinite(dff)
    chemical = np.where(significant, dff, np.where(tested, 0.0, np.nan))
    np.fill_diagonal(chemical, np.nan)
    weight = from_matrices("randi2023", labels, chemical, None)
    weight.attrs.update(
        kind="functional",
        max_q=max_q,
        strain=strain,
        file=str(path),
        wormneuroatlas_version=_version("wormneuroatlas"),
        note="directed functional weights (dF/F) in the chemical layer; gap layer not measured",
    )
    return weight


# --- User edge lists ------------------------------------------------------------------------

EDGE_COLUMNS = ("pre", "post", "type", "weight")
EDGE_TYPES = {
    "chemical": "chemical",
    "chem": "chemical",
    "send": "chemical",
    "cs": "chemical",
    "gap": "gap",
    "electrical": "gap",
    "gapjunction": "gap",
    "gap_junction": "gap",
    "gj": "gap",
    "ej": "gap",
}


def read_edge_list(path: str | os.PathLike, name: str = "user", covered=None) -> xr.DataArray:
    """A user's edge list: CSV with columns pre, post, type (chemical|gap), weight (>= 0).

    Repeated (pre, post, type) rows are summed. Gap junctions listed in one direction are
    mirrored; listed in both, the two values are averaged. Labels outside the canonical 300
    are dropped with a warning. ``covered`` (list of labels) names the neurons the list
    covers (default: every canonical neuron; all other pairs then read as 0, not NaN).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            path, "edge list not found; fix the 'path' of this connectomes.sources entry"
        )
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputError(path, f"not a readable CSV ({err})") from err
    table.columns = [str(c).strip().lower() for c in table.columns]
    absent = [c for c in EDGE_COLUMNS if c not in table.columns]
    if absent:
        raise InputError(
            path, f"missing columns {absent}; an edge list needs the header pre,post,type,weight"
        )
    kinds = table["type"].astype(str).str.strip().str.lower().map(EDGE_TYPES)
    if kinds.isna().any():
        bad = sorted(set(table.loc[kinds.isna(), "type"].astype(str)))
        raise InputError(path, f"unknown edge type(s) {bad}; use 'chemical' or 'gap'")
    weights = pd.to_numeric(table["weight"], errors="coerce")
    if weights.isna().any() or (weights < 0).any():
        rows = list(table.index[weights.isna() | (weights < 0)][:5] + 2)
        raise InputError(path, f"weight must be a number >= 0 (bad lines {rows})")
    pre, post = table["pre"].astype(str).str.strip(), table["post"].astype(str).str.strip()
    known = pre.isin(NEURON_INDEX) & post.isin(NEURON_INDEX)
    if not known.any():
        raise InputError(path, "no edge between canonical neuron labels (e.g. AVAL, VB2)")
    if not known.all():
        outside = sorted((set(pre) | set(post)) - set(NEURONS))
        log.warning(
            "%s: %d edges touch labels outside the canonical 300, dropped: %s",
            path,
            int((~known).sum()),
            outside[:10],
        )
    n = len(NEURONS)
    matrices = {layer: np.zeros((n, n)) for layer in LAYERS}
    for layer in LAYERS:
        rows = known & (kinds == layer)
        np.add.at(
            matrices[layer],
            (pre[rows].map(NEURON_INDEX).to_numpy(), post[rows].map(NEURON_INDEX).to_numpy()),
            weights[rows].to_numpy(),
        )
    if covered is not None:
        unknown = sorted(set(covered) - set(NEURONS))
        if unknown:
            raise InputError(path, f"'covered' lists non-canonical labels {unknown[:10]}")
        listed = set(pre[known]) | set(post[known])
        outside = sorted(listed - set(covered))
        if outside:
            raise InputError(
                path,
                f"edges touch neurons missing from 'covered': {outside[:10]}; "
                "add them to 'covered' or leave 'covered' empty",
            )
    weight = from_matrices(name, NEURONS, matrices["chemical"], matrices["gap"], covered)
    weight.attrs.update(kind="user", file=str(path))
    return weight


# --- Hub consensus connectome ---------------------------------------------------------------

HUB_COLUMNS = ("from_neuron", "to_neuron", "mean_chem_weight", "mean_gap_weight")


def parse_position(text) -> tuple[float, float, float]:
    """An upstream position tuple written as text, ``"(x, y, z)"``, parsed safely
    (``ast.literal_eval``, never ``eval``); NaNs when empty or malformed."""
    try:
        value = ast.literal_eval(str(text).strip())
        x, y, z = (float(v) for v in value)
    except (ValueError, SyntaxError, TypeError):
        return (np.nan, np.nan, np.nan)
    return (x, y, z)


def read_consensus_csv(path: str | os.PathLike, name: str = "hub") -> xr.DataArray:
    """One upstream consensus-connectome CSV (schema: from_neuron, to_neuron,
    mean_chem_weight, mean_gap_weight, ...) as a (layer, pre, post) weight.

    Pairs the file does not list (``trimmed`` files) and NaN means are NaN; neurons with no
    listed pair are uncovered.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(path, f"not a readable consensus CSV ({err})") from err
    absent = [c for c in HUB_COLUMNS if c not in table.columns]
    if absent:
        raise InputError(
            path,
            f"missing columns {absent}; expected the consensus schema "
            f"{list(HUB_COLUMNS)} (see docs/connectomes.md)",
        )
    table = table[table["from_neuron"].isin(NEURON_INDEX) & table["to_neuron"].isin(NEURON_INDEX)]
    weight = empty_weight(name)
    pre = table["from_neuron"].map(NEURON_INDEX).to_numpy()
    post = table["to_neuron"].map(NEURON_INDEX).to_numpy()
    weight.values[0][pre, post] = pd.to_numeric(table["mean_chem_weight"], errors="coerce")
    weight.values[1][pre, post] = pd.to_numeric(table["mean_gap_weight"], errors="coerce")
    weight.values[1] = symmetrize_gap(weight.values[1])
    weight.attrs.update(kind="consensus", file=str(path))
    return weight


def read_source(spec: str | Mapping, **options) -> xr.DataArray:
    """Read one connectome source onto the canonical neurons.

    Parameters
    ----------
    spec
        A source name (``cook2019``, ``witvliet2021_3``, ``randi2023``, ...; see
        :data:`CECT_READERS`) or a config entry (dict) with ``kind: edgelist`` (``path``,
        optional ``covered``) or ``kind: hub`` (``repo_id``, ``revision``, ``file``).
    options
        Passed to the reader (e.g. ``max_q`` for randi2023).

    Returns
    -------
    DataArray ``weight`` float32 (layer: 2, pre: 300, post: 300), NaN for uncovered neurons.
    """
    if isinstance(spec, Mapping):
        return _read_entry(spec)
    if spec in CECT_READERS:
        return read_cect(spec)
    if spec == "randi2023":
        return read_randi2023(**options)
    raise ConfigError(
        "connectomes.sources",
        f"unknown connectome source '{spec}'; known names: {sorted(CECT_READERS) + ['randi2023']}"
        ", or an entry {name, kind: edgelist, path} / {name, kind: hub, repo_id}",
    )


def _read_entry(entry: Mapping) -> xr.DataArray:
    kind, name = entry.get("kind"), entry.get("name")
    if not name:
        raise ConfigError("connectomes.sources", f"entry {dict(entry)} needs a 'name'")
    if kind == "edgelist":
        if "path" not in entry:
            raise ConfigError(f"connectomes.sources.{name}", "an edgelist entry needs 'path'")
        return read_edge_list(entry["path"], name=name, covered=entry.get("covered"))
    if kind == "hub":
        from .hub import hub_consensus_file

        path = hub_consensus_file(
            entry.get("repo_id", "qsimeon/celegans_connectome_data"),
            revision=entry.get("revision", "main"),
            filename=entry.get("file", "consensus_connectome_full_nofunc.csv"),
            cache_dir=entry.get("cache_dir"),
        )
        weight = read_consensus_csv(path, name=name)
        weight.attrs["citation"] = CITATIONS["hub"]
        return weight
    raise ConfigError(
        f"connectomes.sources.{name}", f"unknown kind '{kind}'; use 'edgelist' or 'hub'"
    )


def covered_neurons(weight: xr.DataArray) -> xr.DataArray:
    """(neuron,) bool: neurons with at least one non-NaN entry in any layer, row or column."""
    finite = np.isfinite(weight.values)
    covered = finite.any(axis=(0, 2)) | finite.any(axis=(0, 1))
    return xr.DataArray(covered, dims=("neuron",), coords={"neuron": list(NEURONS)})
