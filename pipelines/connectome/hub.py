"""The Hub consensus connectome (``qsimeon/celegans_connectome_data``): pull, cache, verify.

``repo_id`` is either a local folder laid out like the Hub dataset (used as is, no network)
or a Hub dataset id, pulled once with ``huggingface_hub.snapshot_download`` into
``cache_dir`` (default ``data/raw/hub/<repo_id>``). After the first successful pull a
manifest (``connectome_manifest.json``: file -> sha256) is written beside the files; later
runs verify the cached file against it, because ``snapshot_download`` returns an existing
folder offline without checking it is complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipelines.common import InputError, file_checksum, get_logger, write_json

log = get_logger(__name__)

MANIFEST = "connectome_manifest.json"
DEFAULT_REPO = "qsimeon/celegans_connectome_data"


def hub_consensus_file(
    repo_id: str = DEFAULT_REPO,
    revision: str = "main",
    filename: str = "consensus_connectome_full_nofunc.csv",
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Local path of one consensus CSV, pulling it from the Hub if ``repo_id`` is not a folder.

    Raises
    ------
    InputError
        when the file is absent from the folder, cannot be pulled (offline, unknown id), or
        no longer matches the manifest of the first pull.
    """
    local = Path(repo_id)
    if local.is_dir():
        path = local / filename
        if not path.is_file():
            raise InputError(
                path,
                f"consensus file not found in the local folder {local}; "
                "set 'file' of this connectomes.sources entry to one it holds",
            )
        return path
    folder = Path(cache_dir) if cache_dir else Path("data", "raw", "hub", repo_id)
    path = folder / filename
    manifest = folder / MANIFEST
    if path.is_file() and manifest.is_file():
        _verify(path, manifest)
        return path
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(
            repo_id,
            repo_type="dataset",
            revision=revision,
            local_dir=folder,
            allow_patterns=[filename],
        )
    except Exception as err:  # offline, unknown repo or revision: all end the same way
        raise InputError(
            f"hub:{repo_id}@{revision}",
            f"could not pull {filename} ({type(err).__name__}: {err}); without network, "
            "download the dataset folder elsewhere and set repo_id to that local folder",
        ) from err
    if not path.is_file():
        raise InputError(f"hub:{repo_id}@{revision}", f"the dataset has no file {filename}")
    write_json({filename: file_checksum(path), "repo_id": repo_id, "revision": revision}, manifest)
    log.info("pulled %s from %s@%s into %s", filename, repo_id, revision, folder)
    return path


def _verify(path: Path, manifest: Path) -> None:
    expected = json.loads(manifest.read_text()).get(path.name)
    if expected is not None and file_checksum(path) != expected:
        raise InputError(
            path,
            f"checksum differs from {manifest}; delete the folder {path.parent} to pull it again",
        )
