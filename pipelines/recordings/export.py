"""Export homogenized recordings to the Hub's long parquet schema (homogenized-data.md §2).

One row per source x worm x neuron (labelled neurons and unlabelled ROIs), the trace as a
``list<float32>`` column, plus a ``README.md`` whose YAML ``configs:`` makes the folder
loadable with ``datasets.load_dataset(folder, "worm_data_short", split="train")`` and ready to
upload. ``original_*`` columns come from the raw worms when given (else they are null).
Unlabelled ROIs are named by their input column position; their ``slot`` is the first slot
not used by a labelled neuron of that worm (upstream drew it at random, unseeded).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr

from pipelines.common import N_NEURONS, atomic_path, get_logger

from .worm import WormRecording

log = get_logger(__name__)

CONFIG = "worm_data_short"
FLOATS = pa.list_(pa.float32())
SCHEMA = pa.schema([
    ("source_dataset", pa.string()), ("raw_data_file", pa.string()), ("worm", pa.string()),
    ("neuron", pa.string()), ("slot", pa.int32()), ("is_labeled_neuron", pa.bool_()),
    ("smooth_method", pa.string()), ("interpolate_method", pa.string()),
    ("normalization_method", pa.string()), ("original_calcium_data", FLOATS),
    ("calcium_data", FLOATS), ("original_time_in_seconds", FLOATS),
    ("time_in_seconds", FLOATS), ("original_max_timesteps", pa.int32()),
    ("max_timesteps", pa.int32()),
])
README = """---
configs:
- config_name: {config}
  data_files:
  - split: train
    path: {config}.parquet
---
# Homogenized C. elegans calcium recordings

Exported by `pipelines` {version} in the schema of `qsimeon/celegans_neural_data`: one row per
source x worm x neuron; `calcium_data` on a uniform {dt} s grid. Sources: {sources}.
"""


def _split_worm_id(worm_id: str, source: str, counters: dict) -> tuple[str, str]:
    """(source, worm name within the source); Hub ids ``Source/wormK`` are kept."""
    head, _, tail = worm_id.rpartition("/")
    if head and tail.startswith("worm") and tail[4:].isdigit():
        return head, tail
    counters[source] = counters.get(source, -1) + 1
    return source, f"worm{counters[source]}"


def hub_table(ds: xr.Dataset, originals: dict[str, WormRecording] | None = None) -> pa.Table:
    """The long Hub table of a homogenized Dataset (all worms)."""
    smooth = ds.attrs.get("smooth_method", "none")
    smooth = "no smoothing" if smooth == "none" else smooth
    columns: dict[str, list] = {field.name: [] for field in SCHEMA}
    counters: dict[str, int] = {}
    time = ds["time"].values.astype(np.float32)
    for i, worm_id in enumerate(map(str, ds["worm"].values)):
        w = ds.isel(worm=i)
        default_source = str(w["source_dataset"].values) if "source_dataset" in w else ""
        default_source = default_source or ds.attrs.get("source") or ds.attrs["recording"]
        source, worm = _split_worm_id(worm_id, default_source, counters)
        n = int(w["n_timepoints"])
        calcium = w["calcium"].values[:, :n]
        labeled = np.flatnonzero(w["labeled"].values)
        roi = np.flatnonzero(w["roi_column"].values >= 0)
        free = np.setdiff1d(np.arange(N_NEURONS), labeled)
        original = originals.get(worm_id) if originals else None
        roi_column, unlabeled = w["roi_column"].values, w["unlabeled"].values[:, :n]
        rows = [(ds["neuron"].values[s], s, True, calcium[s], None) for s in labeled]
        rows += [(str(int(roi_column[r])), free[k % len(free)], False, unlabeled[r],
                  int(roi_column[r])) for k, r in enumerate(roi)]
        labels = _original_columns(original) if original else {}
        for name, slot, is_labeled, trace, column in rows:
            if not np.any(trace) or np.all(np.isnan(trace)):
                continue  # upstream drops all-zero traces
            native = None
            if original is not None:
                native = original.traces[:, column if column is not None else labels[name]]
            columns["source_dataset"].append(source)
            columns["raw_data_file"].append(str(w["source_file"].values))
            columns["worm"].append(worm)
            columns["neuron"].append(str(name))
            columns["slot"].append(int(slot))
            columns["is_labeled_neuron"].append(is_labeled)
            columns["smooth_method"].append(smooth)
            columns["interpolate_method"].append(ds.attrs.get("interpolate_method", "linear"))
            columns["normalization_method"].append(ds.attrs.get("normalize", "standard"))
            columns["original_calcium_data"].append(
                None if native is None else native.astype(np.float32))
            columns["calcium_data"].append(trace.astype(np.float32))
            columns["original_time_in_seconds"].append(
                None if original is None else
                (original.timestamps - original.timestamps[0]).astype(np.float32))
            columns["time_in_seconds"].append(time[:n])
            columns["original_max_timesteps"].append(
                None if original is None else len(original.timestamps))
            columns["max_timesteps"].append(n)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def _original_columns(original: WormRecording) -> dict[str, int]:
    """Canonical label -> input column, with the same standardization as homogenization."""
    from .labels import standardize_labels

    return {c: i for i, c in enumerate(standardize_labels(original.labels)) if c is not None}


def export_hub(stores: list[str | os.PathLike], folder: str | os.PathLike,
               originals: dict[str, WormRecording] | None = None) -> Path:
    """Write ``folder/{CONFIG}.parquet`` + ``README.md`` from homogenized stores."""
    from pipelines import __version__

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables, sources, dts = [], set(), set()
    for store in stores:
        with xr.open_dataset(store, engine="h5netcdf") as ds:
            tables.append(hub_table(ds, originals))
            dts.add(float(ds.attrs["dt"]))
    table = pa.concat_tables(tables)
    sources.update(table["source_dataset"].to_pylist())
    with atomic_path(folder / f"{CONFIG}.parquet") as tmp:
        pq.write_table(table, tmp)
    (folder / "README.md").write_text(README.format(
        config=CONFIG, version=__version__, dt="/".join(map(str, sorted(dts))),
        sources=", ".join(sorted(sources)) or "none"))
    log.info("exported %d rows (%d sources) to %s", table.num_rows, len(sources), folder)
    return folder
