# Python functions of the recordings stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/recordings.smk; functions stay here (snakemake --lint).
#
# Batches (one homogenize_batch job each): one input file (its stem) for file formats, one
# simulated worm (worm00, ...) for format: simulated, one source experiment for format: hf
# (known after the pull_hub checkpoint).

import os

from pipelines.recordings.hub import manifest_sources
from pipelines.recordings.readers import input_files


def recording_format(recording):
    """The input format of a recording (config key format)."""
    return recording_config(recording)["format"]


def hub_folder(recording):
    """The pulled corpus of an hf recording: sources/*.parquet + manifest.json."""
    return f"{DATA}/raw/{recording}/hub"


def recording_files(recording):
    """Input files of a file-format recording keyed by batch id (file stem)."""
    cfg = recording_config(recording)
    if "path" not in cfg:
        raise ConfigError(
            f"recordings.{recording}.path",
            f"format {cfg['format']} needs a path (a folder or one file)",
        )
    return {
        batch: str(path)
        for batch, path in input_files(cfg["format"], cfg["path"]).items()
    }


def batches(recording):
    """Batch ids of a recording (file stems, simulated worm ids, or Hub sources)."""
    fmt = recording_format(recording)
    if fmt == "simulated":
        return simulated_worms(recording)
    if fmt == "hf":
        checkpoints.pull_hub.get(recording=recording)
        return manifest_sources(hub_folder(recording))
    return sorted(recording_files(recording))


def batch_path(recording, batch):
    """The homogenized store of one batch."""
    return f"{DATA}/homogenized/{recording}/batches/{batch}.nc"


def batch_inputs(wildcards):
    """Input files of one homogenize_batch job: data (+ labels when there is a file)."""
    return batch_input_files(wildcards.recording, wildcards.batch)


def batch_input_files(recording, batch):
    """Input files of one batch: data (+ labels when there is a file)."""
    fmt = recording_format(recording)
    if fmt == "simulated":
        raw = f"{DATA}/raw/{recording}"
        return {"data": f"{raw}/{batch}-data.h5", "labels": f"{raw}/{batch}-labels.csv"}
    if fmt == "hf":
        folder = checkpoints.pull_hub.get(recording=recording).output.folder
        return {"data": f"{folder}/sources/{batch}.parquet"}
    inputs = {"data": recording_files(recording)[batch]}
    if "labels" in recording_config(recording):
        inputs["labels"] = recording_config(recording)["labels"]
    return inputs


def batch_stores(wildcards):
    """Every batch store of a recording (input of the merge)."""
    return [batch_path(wildcards.recording, b) for b in batches(wildcards.recording)]


def batch_params(wildcards):
    """Reader options of a batch: worm selection, Hub sources, source name."""
    cfg = recording_config(wildcards.recording)
    return {
        "format": "flavell-h5" if cfg["format"] == "simulated" else cfg["format"],
        "worms": cfg.get("worms"),
        "source": cfg.get("source"),
    }


def homogenize_params(wildcards):
    """Homogenize settings of a recording (global section + the recording's overrides)."""
    return homogenize_settings(wildcards.recording)


def hub_params(wildcards):
    """Where and what to pull for an hf recording."""
    cfg = recording_config(wildcards.recording)
    if "repo_id" not in cfg:
        raise ConfigError(
            f"recordings.{wildcards.recording}.repo_id",
            "format hf needs repo_id (qsimeon/celegans_neural_data or a local Hub-layout folder)",
        )
    return {
        "repo_id": cfg["repo_id"],
        "revision": cfg.get("revision", "main"),
        "sources": cfg.get("sources"),
        "cache_dir": f"{DATA}/cache/hub",
    }


def batch_mem_mb(wildcards, input):
    """Memory of a batch job: dense (worm, neuron, time) float32 arrays grow with the input;
    ~20x the input size covers the copies made while processing."""
    return int(1000 + 20 * input.size_mb)


def merge_mem_mb(wildcards, input):
    """Memory of the merge: one batch at a time (bounded by the largest batch)."""
    largest = max((os.path.getsize(f) for f in input), default=0) / 1e6
    return int(1000 + 30 * largest)


def export_inputs(wildcards):
    """The homogenized store plus the raw files (for the native original_* columns)."""
    recording = wildcards.recording
    raw = [batch_input_files(recording, batch)["data"] for batch in batches(recording)]
    inputs = {"store": homogenized(recording), "raw": raw}
    if "labels" in recording_config(recording):
        inputs["labels"] = recording_config(recording)["labels"]
    return inputs


def export_params(wildcards):
    """Reader options of the raw files re-read by export_hub."""
    return batch_params(wildcards)
