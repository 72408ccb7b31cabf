"""Plain tables: one time column in seconds plus one column per neuron label.

The time column is the first column named ``time``, ``time_s``, ``time_in_seconds``, ``t``
or ``seconds`` (case-insensitive). Behaviour columns named as in
:data:`~..worm.BEHAVIOURS` are carried along; every other column is a ROI whose header is its
raw label. ``.tsv`` files are tab-separated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.common import InputError

from ..worm import BEHAVIOURS, WormRecording, file_stem

PATTERNS = ("*.csv", "*.tsv")
TIME_COLUMNS = ("time", "time_s", "time_in_seconds", "t", "seconds")


def read(path: Path) -> list[WormRecording]:
    """One worm from one table."""
    try:
        table = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    except pd.errors.EmptyDataError as error:
        raise InputError(path, "empty file (no header)") from error
    except pd.errors.ParserError as error:
        raise InputError(path, f"corrupt table: {error}") from error
    time_column = next((c for c in table.columns if str(c).strip().lower() in TIME_COLUMNS), None)
    if time_column is None:
        raise InputError(path, f"missing time column (one of {', '.join(TIME_COLUMNS)})")
    if table.empty:
        raise InputError(path, "empty file (header only)")
    behaviour_columns = [c for c in table.columns if c in BEHAVIOURS]
    rois = [c for c in table.columns if c != time_column and c not in behaviour_columns]
    try:
        values = table[rois].to_numpy(dtype=np.float64)
        t = table[time_column].to_numpy(dtype=np.float64)
    except ValueError as error:
        raise InputError(path, f"non-numeric values: {error}") from error
    behaviour = {c: table[c].to_numpy(dtype=np.float64) for c in behaviour_columns}
    return [WormRecording(worm=file_stem(path), traces=values, timestamps=t,
                          labels=[str(c) for c in rois], path=str(path), behaviour=behaviour)]
