"""Zimmer-lab MATLAB structs (Kato 2015, Nichols 2017, Skora 2018, Uzel 2022).

A file holds one top-level struct (e.g. ``WT_NoStim``) whose fields are cell arrays with one
entry per worm (or plain arrays for a single worm):

- labels: ``IDs`` (per neuron a cell of candidate names; first non-empty wins) or
  ``NeuronNames``;
- traces: ``traces`` or ``deltaFOverF_bc``, (T, N) per worm;
- time: ``timeVectorSeconds`` or ``tv``, (T,) seconds per worm.

MATLAB v7.3 files are HDF5 (cells are object references, chars uint16, arrays transposed);
older files are read with ``scipy.io.loadmat``. Worm ids are ``{file stem}/worm{i}``.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import scipy.io

from pipelines.common import InputError

from ..worm import WormRecording, file_stem

PATTERNS = ("*.mat",)
LABEL_FIELDS = ("IDs", "NeuronNames")
TRACE_FIELDS = ("traces", "deltaFOverF_bc")
TIME_FIELDS = ("timeVectorSeconds", "tv")


def read(path: Path) -> list[WormRecording]:
    """Every worm of one Zimmer-lab ``.mat`` file."""
    struct = _load_struct(path)
    traces = _field(struct, TRACE_FIELDS, path)
    times = _field(struct, TIME_FIELDS, path)
    ids = next((struct[k] for k in LABEL_FIELDS if k in struct), None)
    per_worm = isinstance(traces, list)
    traces, times = (traces, times) if per_worm else ([traces], [times])
    ids = ids if per_worm else [ids]
    if ids is None:
        ids = [None] * len(traces)
    if not len(traces) == len(times) == len(ids):
        raise InputError(path, f"mismatched lengths: {len(traces)} trace, {len(times)} time "
                         f"and {len(ids)} label entries")
    stem = file_stem(path)
    worms = []
    for i, (x, t, names) in enumerate(zip(traces, times, ids, strict=True)):
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        t = np.asarray(t, dtype=np.float64).ravel()
        if x.shape[0] != len(t) and x.shape[1] == len(t):
            x = x.T
        labels = [""] * x.shape[1] if names is None else _as_list(names)
        if len(labels) > x.shape[1]:
            raise InputError(path, f"worm {i}: {len(labels)} labels point past the last of "
                             f"{x.shape[1]} trace columns")
        labels += [""] * (x.shape[1] - len(labels))
        worms.append(WormRecording(worm=f"{stem}/worm{i}", traces=x, timestamps=t,
                                   labels=labels, path=str(path)))
    return worms


def _field(struct: dict, names, path):
    for name in names:
        if name in struct:
            return struct[name]
    raise InputError(path, f"missing field: none of {', '.join(names)} in the struct")


def _as_list(value) -> list:
    if isinstance(value, np.ndarray):
        return value.ravel().tolist()
    return list(value) if isinstance(value, list | tuple) else [value]


def _load_struct(path: Path) -> dict:
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as h5:
            names = [k for k in h5 if not k.startswith("#")]
            if not names:
                raise InputError(path, "no MATLAB variable in the file")
            return _decode_h5(h5[names[0]], h5)
    try:
        content = scipy.io.loadmat(path, simplify_cells=True)
    except (ValueError, OSError, TypeError) as error:
        raise InputError(path, f"corrupt or truncated MATLAB file: {error}") from error
    names = [k for k in content if not k.startswith("__")]
    if not names:
        raise InputError(path, "no MATLAB variable in the file")
    struct = content[names[0]]
    if not isinstance(struct, dict):
        raise InputError(path, f"variable '{names[0]}' is not a struct")
    return {k: _cells_to_lists(v) for k, v in struct.items()}


def _cells_to_lists(value):
    """scipy's cell arrays (object ndarrays) -> lists, like the v7.3 decoder returns."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return [_cells_to_lists(v) for v in value.ravel()]
    return value


def _decode_h5(node, h5: h5py.File):
    """MATLAB v7.3 value -> dict (struct), list (cell), str (char) or ndarray."""
    if isinstance(node, h5py.Group):
        return {k: _decode_h5(node[k], h5) for k in node}
    matlab_class = node.attrs.get("MATLAB_class", b"double")
    matlab_class = matlab_class.decode() if isinstance(matlab_class, bytes) else matlab_class
    if node.attrs.get("MATLAB_empty", 0):
        return [] if matlab_class == "cell" else None
    data = node[()]
    if matlab_class == "cell":
        return [_decode_h5(h5[ref], h5) for ref in np.asarray(data).T.ravel()]
    if matlab_class == "char":
        return "".join(map(chr, np.asarray(data).T.ravel()))
    return np.asarray(data).T
