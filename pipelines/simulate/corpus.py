"""A full-scale synthetic stand-in for the published corpus, in the Hub parquet schema.

Shapes follow ``qsimeon/celegans_neural_data`` (homogenized-data.md §7 and §10): 919 worms
from 12 sources with the published per-source worm counts, labelled/recorded neuron counts,
native frame rates and recording lengths (1,400 to over 3,000 samples at 0.333 s), about
42,800 rows, one row group. Traces are smooth random signals (no biology): the corpus exists
to benchmark and test the homogenization path at the published scale, offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.common import NEURONS

GRID_DT = 0.333


@dataclass(frozen=True)
class SourceSpec:
    """One source experiment: worms, mean labelled/recorded neurons, frame step, length."""

    name: str
    worms: int
    labelled: int
    recorded: int
    native_dt: float
    duration_s: float


SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("Kato2015", 12, 42, 135, 0.344, 1080.0),
    SourceSpec("Nichols2017", 44, 34, 112, 0.344, 1080.0),
    SourceSpec("Skora2018", 12, 46, 135, 0.344, 1080.0),
    SourceSpec("Kaplan2020", 19, 36, 118, 0.344, 1080.0),
    SourceSpec("Nejatbakhsh2020", 21, 173, 177, 0.25, 600.0),
    SourceSpec("Yemini2021", 49, 110, 111, 0.25, 480.0),
    SourceSpec("Uzel2022", 6, 50, 138, 0.326, 1080.0),
    SourceSpec("Dag2023", 7, 100, 143, 0.6, 480.0),
    SourceSpec("Leifer2023", 103, 63, 69, 0.167, 480.0),
    SourceSpec("Lin2023", 584, 8, 9, 0.5, 480.0),
    SourceSpec("Flavell2023", 40, 88, 136, 0.6, 960.0),
    SourceSpec("Venkatachalam2024", 22, 187, 187, 0.375, 480.0),
)
"""Per-source shapes (919 worms; upstream README counts, Lin2023 padded to the parquet's 919)."""

README = """---
configs:
- config_name: worm_data_short
  data_files:
  - split: train
    path: worm_data_short.parquet
license: mit
---
# Synthetic corpus in the schema of qsimeon/celegans_neural_data (seed {seed}, scale {scale})
"""


def _worm_rows(spec: SourceSpec, w: int, rng: np.random.Generator) -> dict[str, list]:
    """Rows of one worm: native traces, grid traces (z-scored), labels, slots."""
    n_frames = int(spec.duration_s / spec.native_dt * rng.uniform(0.97, 1.03))
    steps = spec.native_dt * (1 + rng.uniform(-0.03, 0.03, n_frames - 1))
    t = np.concatenate([[0.0], np.cumsum(steps)])
    n_recorded = max(1, int(rng.normal(spec.recorded, 0.1 * spec.recorded)))
    n_labelled = int(np.clip(rng.normal(spec.labelled, 0.1 * spec.labelled), 1, n_recorded))
    n_labelled = min(n_labelled, len(NEURONS))
    slots = rng.choice(len(NEURONS), size=n_labelled, replace=False)
    free = np.setdiff1d(np.arange(len(NEURONS)), slots)
    unlabelled_slots = rng.choice(free, size=n_recorded - n_labelled, replace=True)
    # smooth random signals: cumulative sums of noise, exponentially filtered
    noise = rng.normal(size=(n_frames, n_recorded)).astype(np.float32)
    native = 1.0 + 0.05 * np.cumsum(noise, axis=0) / np.sqrt(n_frames)
    native += 0.1 * noise
    grid = np.arange(0.0, t[-1], GRID_DT)
    left = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, n_frames - 2)
    weight = ((grid - t[left]) / (t[left + 1] - t[left]))[:, None]
    resampled = native[left] * (1 - weight) + native[left + 1] * weight
    resampled = (resampled - resampled.mean(0)) / resampled.std(0)
    names = [NEURONS[s] for s in slots] + [str(i) for i in range(n_recorded - n_labelled)]
    return {
        "source_dataset": [spec.name] * n_recorded,
        "raw_data_file": [f"opensource_neural_data/{spec.name}/worm{w}.raw"] * n_recorded,
        "worm": [f"worm{w}"] * n_recorded,
        "neuron": names,
        "slot": np.concatenate([slots, unlabelled_slots]).astype(np.int32).tolist(),
        "is_labeled_neuron": [True] * n_labelled + [False] * (n_recorded - n_labelled),
        "original_calcium_data": list(native.T.astype(np.float32)),
        "calcium_data": list(resampled.T.astype(np.float32)),
        "original_time_in_seconds": [t.astype(np.float32)] * n_recorded,
        "time_in_seconds": [grid.astype(np.float32)] * n_recorded,
        "original_max_timesteps": [n_frames] * n_recorded,
        "max_timesteps": [len(grid)] * n_recorded,
    }


def corpus_table(spec: SourceSpec, n_worms: int, rng: np.random.Generator) -> pa.Table:
    """The rows of ``n_worms`` worms of one source, in the Hub schema."""
    from pipelines.recordings.export import SCHEMA

    columns: dict[str, list] = {field.name: [] for field in SCHEMA}
    for w in range(n_worms):
        rows = _worm_rows(spec, w, rng)
        n = len(rows["neuron"])
        rows.update(smooth_method=["moving"] * n, interpolate_method=["linear"] * n,
                    normalization_method=["standard"] * n)
        for key, values in rows.items():
            columns[key].extend(values)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def write_corpus(folder: str | os.PathLike, seed: int = 0, scale: float = 1.0,
                 sources: tuple[SourceSpec, ...] = SOURCES) -> Path:
    """Write a Hub-layout folder (README.md + ``worm_data_short.parquet``, one row group).

    ``scale`` shrinks every source's worm count (at least one worm each) for quick tests.
    Returns the parquet path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tables = [corpus_table(s, max(1, round(s.worms * scale)), rng) for s in sources]
    table = pa.concat_tables(tables)
    del tables
    path = folder / "worm_data_short.parquet"
    pq.write_table(table, path, row_group_size=table.num_rows)
    (folder / "README.md").write_text(README.format(seed=seed, scale=scale))
    return path
