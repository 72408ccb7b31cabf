"""Provenance carried by every output: inputs with checksums, settings, versions, time.

NetCDF attributes cannot hold dicts, None or bools, so the record is stored as one JSON
string attribute (``provenance``) next to a few flat attributes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

_CHUNK = 1 << 20


def file_checksum(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (or of every file below a folder, in sorted order)."""
    path = Path(path)
    digest = hashlib.new(algorithm)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def provenance(
    stage: str,
    inputs: dict[str, str | os.PathLike] | list | None = None,
    settings: dict | None = None,
    checksums: bool = True,
) -> dict:
    """A provenance record: stage name, inputs (path, size, sha256), settings and versions.

    Returns a dict; ``provenance_attrs`` turns it into NetCDF-safe attributes.
    """
    from pipelines import __version__

    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        inputs = {str(i): p for i, p in enumerate(inputs)}
    described = {}
    for key, value in inputs.items():
        values = value if isinstance(value, list | tuple) else [value]
        entries = []
        for item in values:
            item = Path(item)
            entry = {"path": str(item)}
            if item.exists() and checksums:
                entry["sha256"] = file_checksum(item)
                if item.is_file():
                    entry["bytes"] = item.stat().st_size
            entries.append(entry)
        described[key] = entries if isinstance(value, list | tuple) else entries[0]
    return {
        "stage": stage,
        "pipelines_version": __version__,
        "python": platform.python_version(),
        "packages": _package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": described,
        "settings": settings or {},
    }


def provenance_attrs(record: dict) -> dict:
    """Flat, NetCDF-safe attributes for a provenance record."""
    return {
        "provenance": json.dumps(record, sort_keys=True, default=str),
        "pipelines_version": record["pipelines_version"],
        "stage": record["stage"],
    }


def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("numpy", "scipy", "pandas", "xarray", "h5netcdf", "tensorly", "scikit-learn",
                 "networkx", "torch", "datasets", "cect"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out
