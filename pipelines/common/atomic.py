"""Atomic output: write to a temporary file beside the target, then rename.

A job killed half-way leaves only a ``.tmp-*`` file, never a truncated file under the final
name, so Snakemake (and users) never mistake a partial output for a complete one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    ``suffix`` defaults to the target's own suffix, so libraries that infer the format from
    the extension (matplotlib, pandas) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".tmp-{path.name}-", suffix=path.suffix if suffix is None else suffix,
        dir=path.parent,
    )
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(obj, path: str | os.PathLike, **kwargs) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    kwargs.setdefault("indent", 2)
    kwargs.setdefault("sort_keys", True)
    kwargs.setdefault("default", _json_default)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, **kwargs) + "\n")


def write_netcdf(obj, path: str | os.PathLike, **kwargs) -> None:
    """Write an xarray Dataset/DataArray/DataTree to NetCDF4 (h5netcdf engine), atomically."""
    kwargs.setdefault("engine", "h5netcdf")
    with atomic_path(path) as tmp:
        obj.to_netcdf(tmp, **kwargs)


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
