"""One reader per input format; each returns a list of :class:`~..worm.WormRecording`.

Every reader module exposes ``PATTERNS`` (file globs of its format) and
``read(path, **options) -> list[WormRecording]`` for one file. :func:`read_file` wraps them so
that any failure becomes an :class:`~pipelines.common.InputError` naming the file, and
:func:`input_files` lists a recording's files keyed by batch id (the file stem).
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.common import InputError, get_logger

from ..worm import WormRecording, file_stem
from . import csv_table, flavell, hub_parquet, nwb, zimmer

log = get_logger(__name__)

READERS = {
    "flavell-h5": flavell,
    "simulated": flavell,
    "nwb": nwb,
    "zimmer-mat": zimmer,
    "csv": csv_table,
    "hf": hub_parquet,
}
"""Reader module of each config ``format``."""


def input_files(fmt: str, path: str | os.PathLike) -> dict[str, Path]:
    """Files of one recording keyed by batch id (file stem), sorted.

    ``path`` is a folder (searched with the format's patterns) or a single file.
    """
    reader = _reader(fmt)
    path = Path(path)
    if path.is_file():
        return {file_stem(path): path}
    if not path.is_dir():
        raise InputError(path, "no such file or folder")
    files = sorted({f for pattern in reader.PATTERNS for f in path.glob(pattern) if f.is_file()})
    batches = {file_stem(f): f for f in files}
    if len(batches) != len(files):
        raise InputError(path, "two files share a stem; batch ids must be unique")
    return batches


def read_file(fmt: str, path: str | os.PathLike, worms: list[str] | None = None,
              **options) -> list[WormRecording]:
    """Read one input file, validate every worm, and keep only ``worms`` (all when None).

    Raises
    ------
    InputError
        naming the file and the problem (corrupt, truncated, missing dataset or column,
        labels past the last column, bad timestamps, mismatched lengths, empty).
    """
    reader = _reader(fmt)
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    try:
        recordings = reader.read(path, **options)
    except InputError:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError) as error:
        raise InputError(path, f"cannot read as {fmt}: {type(error).__name__}: {error}") from error
    if not recordings:
        raise InputError(path, "no worm found in the file")
    kept = [r for r in recordings if worms is None or r.worm in worms]
    log.info("%s: read %d worm(s), kept %d", path, len(recordings), len(kept))
    return [r.validate() for r in kept]


def read_files(fmt: str, files, *, worms: list[str] | None = None, labels: str | None = None,
               sources: list[str] | None = None, source: str | None = None
               ) -> list[WormRecording]:
    """Read several files of one format (format-specific options applied where they exist);
    worms without a source name get ``source``."""
    options = {}
    if labels and fmt in ("flavell-h5", "simulated"):
        options["labels"] = labels
    if sources is not None and fmt == "hf":
        options["sources"] = sources
    recordings = [w for f in files for w in read_file(fmt, f, worms=worms, **options)]
    for recording in recordings:
        recording.source = recording.source or source or ""
    return recordings


def _reader(fmt: str):
    if fmt not in READERS:
        raise ValueError(f"unknown recording format '{fmt}' (choose from {', '.join(READERS)})")
    return READERS[fmt]
