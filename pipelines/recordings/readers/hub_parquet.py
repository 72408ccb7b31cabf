"""The published homogenized corpus in the Hub's long parquet schema (one row per
source x worm x neuron; see docs/recordings.md and homogenized-data.md section 2).

Each worm is rebuilt from its rows' native traces (``original_calcium_data`` at
``original_time_in_seconds``) so that it goes through the same processing as every other
format; labelled rows keep their canonical ``neuron`` name, unlabelled rows their local
integer id is dropped (ids are local to one recording). Worm ids are ``source/worm``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.common import InputError

from ..worm import WormRecording

PATTERNS = ("*.parquet",)
SCALAR_COLUMNS = ("source_dataset", "worm", "neuron", "is_labeled_neuron")
TRACE_COLUMN, TIME_COLUMN = "original_calcium_data", "original_time_in_seconds"
REQUIRED = (*SCALAR_COLUMNS, TRACE_COLUMN, TIME_COLUMN)


def read(path: Path, sources: list[str] | None = None) -> list[WormRecording]:
    """Every worm of one parquet shard (optionally only the given ``sources``)."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(path, f"corrupt or truncated parquet: {error}") from error
    missing = [c for c in REQUIRED if c not in schema.names]
    if missing:
        raise InputError(path, f"missing column(s): {', '.join(missing)}")
    table = pq.read_table(path, columns=list(REQUIRED))
    if sources is not None:
        table = table.filter(pc.is_in(table["source_dataset"], pa.array(sources)))
    return worms_from_table(table, str(path))


def worms_from_table(table: pa.Table, path: str) -> list[WormRecording]:
    """Group the rows of a long table into one :class:`WormRecording` per (source, worm)."""
    scalars = {c: table[c].to_numpy(zero_copy_only=False) for c in SCALAR_COLUMNS}
    traces = _ragged(table[TRACE_COLUMN])
    times = _ragged(table[TIME_COLUMN])
    keys = [f"{s}/{w}" for s, w in zip(scalars["source_dataset"], scalars["worm"], strict=True)]
    rows_of: dict[str, list[int]] = {}
    for row, key in enumerate(keys):
        rows_of.setdefault(key, []).append(row)
    worms = []
    for key in sorted(rows_of, key=_natural):
        rows = rows_of[key]
        lengths = {len(traces[r]) for r in rows} | {len(times[r]) for r in rows}
        if len(lengths) != 1:
            raise InputError(path, f"worm {key}: traces/timestamps of different lengths "
                             f"{sorted(lengths)}")
        worms.append(WormRecording(
            worm=key,
            traces=np.stack([traces[r] for r in rows], axis=1).astype(np.float64),
            timestamps=times[rows[0]].astype(np.float64),
            labels=[str(scalars["neuron"][r]) if scalars["is_labeled_neuron"][r] else ""
                    for r in rows],
            path=path, source=str(scalars["source_dataset"][rows[0]])))
    return worms


def _ragged(column: pa.ChunkedArray) -> list[np.ndarray]:
    """A list<float> column as one numpy view per row (no per-row Python conversion)."""
    array = column.combine_chunks()
    offsets = array.offsets.to_numpy()
    values = array.values.to_numpy(zero_copy_only=False)
    return [values[offsets[i]:offsets[i + 1]] for i in range(len(array))]


def _natural(key: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]
