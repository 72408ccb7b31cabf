"""Predictor on the real Dag 2023 worms: every model at every horizon, leave-one-worm-out.

Reads the 5 NeuroPAL-labelled recordings in ../shared/data/dag2023/swf702_with_id through the
recordings stage's Flavell reader and label standardisation, keeps them at their native frames
(~0.6 s, no resampling or smoothing), and runs the predictor stage's own entry points
(``train_recording`` then ``evaluate_recording``) on that store. Prints the table, writes JSON
to benchmarks/results/predictor_dag2023.json and the markdown table to
benchmarks/results/predictor_dag2023.md (pasted into docs/predictor.md).

Anchor (reference/predictor.md §7, same 5 worms, last 30% test, median R² within worm):
copy-last 0.72 / 0.32 / -0.47 and shared AR(8) on deltas 0.74 / 0.38 / -0.25 at 0.6/2.4/9.6 s.

    nice /work/venv/bin/python benchmarks/predictor_dag2023.py [--seeds 0 1 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _dag2023 import DATA, REPO, load_worms

RESULTS = REPO / "benchmarks" / "results"
ANCHOR = {"copy_last": [0.72, 0.32, -0.47], "shared_ar": [0.74, 0.38, -0.25]}


def markdown(summary: pd.DataFrame, split: str, metric: str, horizons) -> str:
    rows = summary[(summary["split"] == split) & (summary["metric"] == metric)]
    lines = ["| model | " + " | ".join(f"{h:g} s" for h in horizons) + " |",
             "|---|" + "---|" * len(horizons)]
    for model, group in rows.groupby("model", sort=False):
        cells = []
        for h in horizons:
            cell = group[group["horizon_s"] == h]
            cells.append("" if cell.empty else
                         f"{cell['median'].iloc[0]:.3f} ({cell['low'].iloc[0]:.2f} to {cell['high'].iloc[0]:.2f})")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired(table_rows: pd.DataFrame) -> pd.DataFrame:
    """Per horizon: how often the transformer's skill beats the best baseline's on the same
    held-out worm (the baseline is deterministic, so each seed is paired with it)."""
    rows = table_rows[(table_rows["table"] == "forecast") & (table_rows["split"] == "heldout_worm")
                      & (table_rows["metric"] == "skill")]
    baselines = rows[rows["model"].isin(["ridge_var", "shared_ar", "switching_glm"])]
    best = baselines.groupby(["worm", "horizon_s"])["value"].max().rename("best_baseline")
    mine = rows[rows["model"] == "transformer"].join(best, on=["worm", "horizon_s"])
    mine = mine.assign(difference=mine["value"] - mine["best_baseline"])
    return mine.groupby("horizon_s").agg(
        median_difference=("difference", "median"), wins=("difference", lambda d: int((d > 0).sum())),
        pairs=("difference", "size")).reset_index()


def table(frame: pd.DataFrame) -> str:
    """A pandas table as markdown (no tabulate dependency)."""
    frame = frame.round(3)
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-minutes", type=float, default=4.0,
                        help="wall-clock safety cap per model (minutes); epochs and early "
                             "stopping normally end training first")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is faster than 2 on a loaded shared machine)")
    parser.add_argument("--glm-states", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one held-out worm, one seed")
    args = parser.parse_args(argv)
    if not (DATA / "swf702_with_id").is_dir():
        print(f"Dag 2023 data not found at {DATA}; nothing to do")
        return 0
    from pipelines.common import setup_logging
    from pipelines.predictor import evaluate_recording, train_recording
    from pipelines.predictor.data import native_dataset
    from pipelines.predictor.evaluate import summarize

    setup_logging(RESULTS / "predictor_dag2023.log")
    RESULTS.mkdir(parents=True, exist_ok=True)
    worms = load_worms(DATA)
    settings = {"seeds": args.seeds[:1] if args.quick else args.seeds,
                "heldout_worms": 1 if args.quick else -1, "max_minutes": args.max_minutes,
                "heldout_max_minutes": args.max_minutes, "test_fraction": 0.3,
                "glm_states": args.glm_states}
    with tempfile.TemporaryDirectory() as tmp:
        store, model = Path(tmp, "dag2023.nc"), Path(tmp, "model.pt")
        native_dataset(worms, source="Dag2023").to_netcdf(store, engine="h5netcdf")
        start, cpu_start = time.perf_counter(), time.process_time()
        report = train_recording(store, model, settings, threads=args.threads)
        table = evaluate_recording(store, model, Path(tmp, "evaluation.csv"),
                                   Path(tmp, "predictor.nc"), settings, threads=args.threads)
        full = pd.read_csv(Path(tmp, "evaluation.csv"))
        full.to_csv(RESULTS / "predictor_dag2023_evaluation.csv", index=False)
        import xarray as xr

        with xr.open_dataset(Path(tmp, "predictor.nc")) as nc:
            timings = json.loads(nc.attrs["timings"])
            auroc = nc["attention_auroc_stats"].to_pandas()
            correlation = nc["correlation_auroc_stats"].to_pandas()
        total, total_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    summary = summarize(table)
    horizons = sorted(summary["horizon_s"].unique())
    out = {
        "worms": [w["worm"] for w in worms], "neurons_per_worm": [len(w["neurons"]) for w in worms],
        "frame_dt_s": float(np.median([w["dt"] for w in worms])), "settings": settings,
        "parameters": report["parameters"], "train_seconds_all_worms": report["train_seconds"],
        "heldout_train_seconds": timings.get("heldout_train_seconds", []),
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "total_seconds": round(total, 1), "total_cpu_seconds": round(total_cpu, 1),
        "train_cpu_seconds_all_worms": report["train_cpu_seconds"],
        "heldout_train_cpu_seconds": timings.get("heldout_train_cpu_seconds", []),
        "load_average": os.getloadavg(), "threads": args.threads, "torch": torch.__version__,
        "anchor_r2": ANCHOR, "summary": summary.to_dict("records"),
        "behaviour": summarize(full[full["table"] == "behaviour"],
                               by=("split", "model", "behaviour", "metric")).to_dict("records"),
        "sanity": summarize(full[full["table"] == "sanity"], by=("split", "model", "metric")).to_dict("records"),
        "attention_auroc": auroc.reset_index().to_dict("records"),
        "correlation_auroc": correlation.reset_index().to_dict("records"),
    }
    (RESULTS / "predictor_dag2023.json").write_text(json.dumps(out, indent=2, default=float) + "\n")
    text = []
    for split in ("heldout_worm", "within_worm"):
        for metric in ("skill", "r2", "r"):
            text.append(f"\n**{split}, {metric}** (median over worms x seeds, min to max)\n")
            text.append(markdown(summary, split, metric, horizons))
    text.append("\n**paired, held-out worms: transformer skill minus the best baseline's, per worm x seed**\n")
    text.append(table(paired(table_rows=full)))
    behaviour = pd.DataFrame(out["behaviour"])
    text.append("\n**behaviour decoding, one frame ahead** (median, min to max)\n")
    text.append(table(behaviour))
    text.append("\n**rollout sanity over the test block**\n")
    text.append(table(pd.DataFrame(out["sanity"])))
    text.append("\n**attention vs connectomes**\n")
    text.append(table(auroc.reset_index()))
    text.append("\n**|correlation of changes| vs connectomes** (the baseline map)\n")
    text.append(table(correlation.reset_index()))
    text.append(f"\nparameters {report['parameters']}; training on all worms {report['train_seconds']} s wall "
                f"({report['train_cpu_seconds']} s CPU); held-out folds wall {out['heldout_train_seconds']} s, "
                f"CPU {out['heldout_train_cpu_seconds']} s; peak memory {out['peak_memory_mb']} MB; "
                f"{args.threads} torch thread(s); whole benchmark {out['total_seconds']} s wall, "
                f"{out['total_cpu_seconds']} s CPU; load average at the end {out['load_average']}")
    (RESULTS / "predictor_dag2023.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    print(f"\nanchor (§7 R² within worm): {ANCHOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
