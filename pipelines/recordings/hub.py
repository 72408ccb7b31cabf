"""The published corpus on the HuggingFace Hub: pull once, cache, manifest, split by source.

``repo_id`` is a Hub dataset id (``qsimeon/celegans_neural_data``) or a local folder laid out
like the Hub repo (``README.md`` whose YAML ``configs:`` maps each config to its parquet
``data_files``). A Hub snapshot is downloaded with ``huggingface_hub.snapshot_download`` into
a persistent cache folder and described by a cache manifest (revision, files, sizes,
sha256). When the Hub cannot be reached (or ``HF_HUB_OFFLINE=1``) a complete cached snapshot
is used, with a warning; with neither, :class:`InputError` says how to get the data. The
parquet shards of the chosen config are resolved with ``datasets.load_dataset_builder`` (no
Arrow-cache copy, no remote code) and streamed into one parquet file per source experiment,
so every source is one homogenization batch (only the columns the homogenization reads are
copied; the manifest checksums the original shards).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.common import InputError, file_checksum, get_logger, write_json

from .readers.hub_parquet import REQUIRED

log = get_logger(__name__)

DEFAULT_REPO = "qsimeon/celegans_neural_data"
DEFAULT_CONFIG = "worm_data_short"
CACHE_MANIFEST = "cache-manifest.json"
EXTRA_COLUMNS = ("raw_data_file", "slot")
"""Columns kept in the per-source files besides those the reader needs (the published
``calcium_data`` / ``time_in_seconds`` are recomputed, so they are not copied)."""
ALLOW_PATTERNS = ["README.md", "*.parquet", "**/*.parquet"]
HOW_TO_GET = (
    "get the data once with network access, e.g. `hf download {repo} --repo-type dataset "
    "--local-dir DIR` (or run this rule online), then set the recording's repo_id: DIR")


def describe_files(folder: Path) -> list[dict]:
    """Path (relative), bytes and sha256 of every README/parquet file below ``folder``."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts
                   and (p.suffix == ".parquet" or p.name == "README.md"))
    return [{"path": str(p.relative_to(folder)), "bytes": p.stat().st_size,
             "sha256": file_checksum(p)} for p in files]


def cached_snapshot_ok(folder: Path) -> bool:
    """True when ``folder`` holds a snapshot whose files match its cache manifest."""
    manifest = folder / CACHE_MANIFEST
    if not manifest.is_file():
        return False
    expected = json.loads(manifest.read_text())["files"]
    return all((folder / f["path"]).is_file()
               and (folder / f["path"]).stat().st_size == f["bytes"] for f in expected)


def snapshot(repo_id: str, revision: str, cache_dir: str | os.PathLike) -> tuple[Path, str]:
    """Folder holding the repo files and how it was obtained (local/downloaded/cache)."""
    if Path(repo_id).is_dir():
        return Path(repo_id), "local folder"
    target = Path(cache_dir) / repo_id.replace("/", "__") / revision
    try:
        from huggingface_hub import constants, snapshot_download

        if constants.HF_HUB_OFFLINE:
            raise ConnectionError("HF_HUB_OFFLINE is set")
        folder = Path(snapshot_download(repo_id, repo_type="dataset", revision=revision,
                                        local_dir=target, allow_patterns=ALLOW_PATTERNS))
    except Exception as error:  # any network/Hub failure falls back to the cache
        if cached_snapshot_ok(target):
            log.warning("the Hub cannot be reached (%s): using the cached snapshot %s", error,
                        target)
            return target, "cache"
        raise InputError(repo_id, f"the Hub cannot be reached ({error}) and there is no cached "
                         f"snapshot at {target}; " + HOW_TO_GET.format(repo=repo_id)) from error
    write_json({"repo_id": repo_id, "revision": revision, "commit": resolved_commit(folder),
                "files": describe_files(folder)}, folder / CACHE_MANIFEST)
    return folder, "downloaded"


def resolved_commit(folder: Path) -> str | None:
    """The commit sha a ``snapshot_download(local_dir=...)`` folder was downloaded at.

    huggingface_hub keeps ``.cache/huggingface/download/<file>.metadata`` (commit sha on the
    first line); None for folders that were not downloaded that way.
    """
    for metadata in sorted((folder / ".cache" / "huggingface" / "download").rglob("*.metadata")):
        lines = metadata.read_text().splitlines()
        if lines and len(lines[0].strip()) == 40:
            return lines[0].strip()
    return None


def data_files(folder: Path, config: str = DEFAULT_CONFIG, cache_dir=None) -> list[Path]:
    """Parquet shards of ``config`` (split ``train``) as declared by the folder's README."""
    import datasets

    try:
        builder = datasets.load_dataset_builder(str(folder), config, cache_dir=cache_dir)
        files = [Path(f) for split in builder.config.data_files.values() for f in split]
    except Exception as error:
        raise InputError(folder, f"not a Hub-layout folder with config '{config}' "
                         f"(README.md YAML configs: + parquet data_files): {error}") from error
    if not files:
        raise InputError(folder, f"config '{config}' lists no data files")
    return files


def split_sources(shards: list[Path], out_dir: Path, sources: list[str] | None = None,
                  batch_rows: int = 1024) -> dict[str, dict]:
    """Stream ``shards`` into ``out_dir/{source}.parquet``; returns per-source row/worm counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    counts: dict[str, dict] = {}
    try:
        for shard in shards:
            try:
                handle = pq.ParquetFile(shard)
            except (pa.ArrowInvalid, OSError) as error:
                raise InputError(shard, f"corrupt or truncated parquet: {error}") from error
            missing = [c for c in REQUIRED if c not in handle.schema_arrow.names]
            if missing:
                raise InputError(shard, f"missing column(s): {', '.join(missing)}")
            for table in _tables(handle, shard, batch_rows):
                for source in sorted(set(table["source_dataset"].to_pylist())):
                    if sources is not None and source not in sources:
                        continue
                    part = table.filter(pa.compute.equal(table["source_dataset"], source))
                    if source not in writers:
                        writers[source] = pq.ParquetWriter(out_dir / f"{source}.parquet",
                                                           part.schema)
                        counts[source] = {"rows": 0, "worms": set()}
                    writers[source].write_table(part)
                    counts[source]["rows"] += part.num_rows
                    counts[source]["worms"].update(part["worm"].to_pylist())
    finally:
        for writer in writers.values():
            writer.close()
    if sources is not None and (absent := sorted(set(sources) - set(counts))):
        raise InputError(shards[0], f"source(s) {', '.join(absent)} not in the corpus")
    return {s: {"rows": c["rows"], "worms": len(c["worms"]), "file": f"sources/{s}.parquet"}
            for s, c in sorted(counts.items())}


def _tables(handle: pq.ParquetFile, shard: Path, batch_rows: int):
    columns = [c for c in (*REQUIRED, *EXTRA_COLUMNS) if c in handle.schema_arrow.names]
    try:
        for batch in handle.iter_batches(batch_size=batch_rows, columns=columns):
            yield pa.Table.from_batches([batch])
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(shard, f"corrupt or truncated parquet: {error}") from error


def pull(repo_id: str, out_dir: str | os.PathLike, *, revision: str = "main",
         cache_dir: str | os.PathLike = "data/cache/hub", sources: list[str] | None = None,
         config: str = DEFAULT_CONFIG) -> dict:
    """Pull (or reuse) the corpus and write ``out_dir/sources/*.parquet`` + ``manifest.json``.

    Returns the manifest: repo, revision, how the snapshot was obtained, its files (bytes,
    sha256) and the rows/worms of every source kept.
    """
    out_dir = Path(out_dir)
    folder, status = snapshot(repo_id, revision, cache_dir)
    shards = data_files(folder, config, cache_dir=Path(cache_dir) / "datasets")
    per_source = split_sources(shards, out_dir / "sources", sources)
    manifest = {"repo_id": repo_id, "revision": revision, "commit": resolved_commit(folder),
                "config": config, "status": status,
                "snapshot": str(folder), "files": describe_files(folder),
                "sources": per_source}
    write_json(manifest, out_dir / "manifest.json")
    log.info("pulled %s (%s): %d sources, %d rows", repo_id, status, len(per_source),
             sum(s["rows"] for s in per_source.values()))
    return manifest


def manifest_sources(out_dir: str | os.PathLike) -> list[str]:
    """The sources (batches) of a pulled corpus, from its manifest."""
    return sorted(json.loads((Path(out_dir) / "manifest.json").read_text())["sources"])
