"""Flavell-lab HDF5 files (Dag 2023 ``*-data.h5``; Atanas 2023 top-level layout).

Traces: ``gcamp/traces_array_F_F20`` (Dag; F/F20, what the published corpus uses), else
``gcamp/trace_array_original``, else top-level ``trace_array`` (Atanas; either orientation).
Timestamps: ``timing/timestamp_confocal`` or ``timestamp_confocal``, restricted to the
analysed frames of ``gcamp/idx_splits`` when the traces cover fewer frames. Behaviour at the
confocal rate from ``behavior/*`` (or top level). Labels (NeuroPAL) from, in order: the
``labels`` option, a per-file ``{stem}-labels.csv`` beside the file, or a labels file
(``*labels*.json``/``*labels*.csv``) in the file's folder or its parent. Both the JSON dict
(``dict_match_dict[uid]["1"][calnum]``, calnum 1-based) and the flat CSV (``uid``,
``column_0based``, ``label``) are understood.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from pipelines.common import InputError, get_logger

from ..worm import WormRecording, file_stem

log = get_logger(__name__)

PATTERNS = ("*.h5",)
TRACE_KEYS = ("gcamp/traces_array_F_F20", "gcamp/trace_array_original", "trace_array_original",
              "trace_array")
TIME_KEYS = ("timing/timestamp_confocal", "timestamp_confocal")
BEHAVIOUR_KEYS = {
    "velocity": ("behavior/velocity", "velocity"),
    "head_angle": ("behavior/head_angle", "head_angle", "head_curvature"),
    "angular_velocity": ("behavior/angular_velocity", "angular_velocity"),
    "pumping": ("behavior/pumping", "pumping"),
    "reversal": ("behavior/reversal_vec", "reversal_vec"),
}


def read(path: Path, labels: str | Path | None = None) -> list[WormRecording]:
    """One worm from one Flavell-lab HDF5 file (see module doc)."""
    uid = file_stem(path)
    with h5py.File(path, "r") as h5:
        t = _first(h5, TIME_KEYS, path)[()].astype(np.float64).ravel()
        traces = np.asarray(_first(h5, TRACE_KEYS, path)[()], dtype=np.float64)
        if traces.ndim == 2 and traces.shape[0] != len(t) and traces.shape[1] == len(t):
            traces = traces.T  # Julia-written arrays come transposed
        if len(t) != len(traces) and "gcamp/idx_splits" in h5:
            t = _analysed_frames(t, h5["gcamp/idx_splits"][()], len(traces), path)
        behaviour = {}
        for name, keys in BEHAVIOUR_KEYS.items():
            found = [k for k in keys if k in h5 and h5[k].shape == t.shape]
            if found:
                behaviour[name] = h5[found[0]][()].astype(np.float64)
    labels_path = Path(labels) if labels else find_labels_file(path)
    raw = ([""] * traces.shape[1] if labels_path is None
           else load_labels(labels_path, uid, traces.shape[1], path))
    if labels_path is None:
        log.warning("%s: no labels file found; every ROI is unlabelled", path)
    return [WormRecording(worm=uid, traces=traces, timestamps=t, labels=raw, path=str(path),
                          behaviour=behaviour)]


def _analysed_frames(t: np.ndarray, splits: np.ndarray, n: int, path) -> np.ndarray:
    """Timestamps of the frames the traces cover: ``idx_splits`` holds 1-based inclusive
    (start, stop) frame ranges (e.g. 2022-05-02-01: 1600 confocal frames, 1137 analysed)."""
    frames = np.concatenate([np.arange(a, b + 1) for a, b in zip(*splits, strict=True)]) - 1
    if len(frames) != n or frames.max() >= len(t):
        return t  # not explained by idx_splits: validation reports the mismatch
    log.info("%s: %d of %d confocal frames analysed (gcamp/idx_splits)", path, n, len(t))
    return t[frames]


def _first(h5: h5py.File, keys, path):
    for key in keys:
        if key in h5 and isinstance(h5[key], h5py.Dataset):
            return h5[key]
    raise InputError(path, f"missing dataset: none of {', '.join(keys)}")


def find_labels_file(path: Path) -> Path | None:
    """The labels file of an HDF5 file: ``{stem}-labels.csv`` beside it, else a shared one."""
    own = path.with_name(f"{file_stem(path)}-labels.csv")
    if own.is_file():
        return own
    for folder in (path.parent, path.parent.parent):
        for pattern in ("*labels*.json", "*labels*.csv"):
            shared = sorted(f for f in folder.glob(pattern) if not f.name.endswith("-labels.csv"))
            if shared:
                return shared[0]
    return None


def load_labels(labels_path: Path, uid: str, n_roi: int, data_path=None) -> list[str]:
    """Raw label of each of the ``n_roi`` columns of worm ``uid`` ('' where unlabelled)."""
    columns = _label_table(Path(labels_path), Path(labels_path).stat().st_mtime_ns).get(uid)
    out = [""] * n_roi
    if columns is None:
        log.info("%s: no labels for worm %s", labels_path, uid)
        return out
    for column, label in columns:
        if not 0 <= column < n_roi:
            raise InputError(labels_path, f"label '{label}' of worm {uid} points at column "
                             f"{column} (0-based), past the last of {n_roi} columns of "
                             f"{data_path or 'the traces'}")
        out[column] = label
    return out


@functools.lru_cache(maxsize=8)
def _label_table(labels_path: Path, _mtime: int) -> dict[str, list[tuple[int, str]]]:
    """uid -> [(0-based column, raw label)] from a labels JSON dict or flat CSV."""
    if labels_path.suffix == ".json":
        try:
            matches = json.loads(labels_path.read_text())["dict_match_dict"]
        except (json.JSONDecodeError, KeyError) as error:
            raise InputError(labels_path, f"not a NeuroPAL labels JSON ({error})") from error
        return {uid: [(int(calnum) - 1, str(rec.get("label") or ""))
                      for calnum, rec in entry["1"].items()]
                for uid, entry in matches.items()}
    try:
        table = pd.read_csv(labels_path, dtype={"uid": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise InputError(labels_path, f"cannot read labels CSV: {error}") from error
    if "column_0based" in table:
        column = table["column_0based"]
    elif "calnum_1based" in table:
        column = table["calnum_1based"] - 1
    else:
        raise InputError(labels_path, "missing column: column_0based or calnum_1based")
    if "label" not in table:
        raise InputError(labels_path, "missing column: label")
    uids = table["uid"] if "uid" in table else pd.Series([file_stem(labels_path).removesuffix(
        "-labels")] * len(table))
    out: dict[str, list[tuple[int, str]]] = {}
    for uid, col, label in zip(uids, column, table["label"].fillna(""), strict=True):
        out.setdefault(str(uid), []).append((int(col), str(label)))
    return out
