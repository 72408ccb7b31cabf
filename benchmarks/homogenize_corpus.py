"""Benchmark: homogenize a corpus the size of the published one (919 worms, 12 sources,
~42,800 rows, Hub parquet schema, one row group) with the published preset, on 2 workers.

Phases mirror the workflow rules: pull_hub (manifest + split by source), homogenize_batch
(one job per source, 2 in parallel), homogenize (streaming merge). Each measured run is a
child process whose whole process tree is polled for resident memory; beside it, the anchor:
a bare ``pyarrow.parquet.read_table`` of the same file.

    nice python benchmarks/homogenize_corpus.py [--scale 1.0] [--workdir /tmp/corpus-bench]

Prints a table and writes benchmarks/results/homogenize_corpus.json. Targets: < 90 s wall,
< 6 GB peak on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "results" / "homogenize_corpus.json"
PUBLISHED = {"dt": 0.333, "smooth": {"method": "moving", "window": 15, "sigma": 5.0,
                                     "alpha": 0.5},
             "normalize": "standard", "min_timepoints": 600, "min_labeled": 1}


def _batch(args) -> tuple[str, float]:
    from pipelines.recordings.homogenize import Settings, build_batch

    source, parquet, out = args
    start = time.perf_counter()
    build_batch("hf", [parquet], out, "corpus", Settings.from_config(PUBLISHED), source=source)
    return source, time.perf_counter() - start


def stage_homogenize(corpus: Path, work: Path, workers: int) -> dict:
    """pull -> batches (parallel, largest first) -> merge; returns phase times (s)."""
    from pipelines.recordings import hub
    from pipelines.recordings.homogenize import merge_batches

    times = {}
    start = time.perf_counter()
    manifest = hub.pull(str(corpus), work / "hub", cache_dir=work / "cache")
    times["pull_hub"] = time.perf_counter() - start
    sources = sorted(manifest["sources"], key=lambda s: -manifest["sources"][s]["rows"])
    jobs = [(s, work / "hub" / "sources" / f"{s}.parquet", work / "batches" / f"{s}.nc")
            for s in sources]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        per_batch = dict(pool.map(_batch, jobs))
    times["homogenize_batch"] = time.perf_counter() - start
    start = time.perf_counter()
    merge_batches([j[2] for j in jobs], work / "corpus.nc")
    times["homogenize"] = time.perf_counter() - start
    times["per_batch"] = per_batch
    times["store_bytes"] = (work / "corpus.nc").stat().st_size
    times["rows"] = sum(s["rows"] for s in manifest["sources"].values())
    times["worms"] = sum(s["worms"] for s in manifest["sources"].values())
    return times


def stage_read(corpus: Path) -> dict:
    import pyarrow.parquet as pq

    start = time.perf_counter()
    table = pq.read_table(corpus / "worm_data_short.parquet")
    return {"rows": table.num_rows, "read_s": time.perf_counter() - start}


def measure(argv: list[str]) -> dict:
    """Run this script's ``argv`` stage in a child; wall time, CPU time (user + system of the
    whole tree, less sensitive than wall time to other load on the machine), peak tree RSS."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, *argv], stdout=subprocess.PIPE, text=True)
    proc, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    out, _ = child.communicate()
    if child.returncode:
        raise SystemExit(f"stage {argv} failed ({child.returncode})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_gb": peak / 1e9,
            **json.loads(out.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the worms")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/corpus-bench"))
    parser.add_argument("--stage", choices=["read", "homogenize"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    corpus = args.workdir / f"corpus-scale{args.scale}"
    if args.stage == "read":
        print(json.dumps(stage_read(corpus)))
        return
    if args.stage == "homogenize":
        print(json.dumps(stage_homogenize(corpus, args.workdir / "run", args.workers)))
        return

    if not (corpus / "worm_data_short.parquet").is_file():
        from pipelines.simulate.corpus import write_corpus

        start = time.perf_counter()
        write_corpus(corpus, seed=0, scale=args.scale)
        print(f"generated corpus in {time.perf_counter() - start:.1f} s")
    shutil.rmtree(args.workdir / "run", ignore_errors=True)
    common = ["--scale", str(args.scale), "--workdir", str(args.workdir),
              "--workers", str(args.workers)]
    read = measure([*common, "--stage", "read"])
    run = measure([*common, "--stage", "homogenize"])
    size = (corpus / "worm_data_short.parquet").stat().st_size
    result = {
        "corpus": {"rows": run["rows"], "worms": run["worms"], "parquet_mb": size / 1e6,
                   "scale": args.scale},
        "homogenize": run, "bare_pyarrow_read": read, "workers": args.workers,
        "cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0],
        "machine": platform.machine(), "python": platform.python_version(),
        "targets": {"wall_s": 90, "peak_rss_gb": 6},
    }
    print(f"corpus: {run['worms']} worms, {run['rows']} rows, {size / 1e6:.0f} MB parquet")
    print(f"{'step':<34}{'wall s':>10}{'CPU s':>10}{'peak GB':>10}")
    print(f"{'bare pyarrow read_table':<34}{read['wall_s']:>10.1f}{read['cpu_s']:>10.1f}"
          f"{read['peak_rss_gb']:>10.2f}   (read call itself {read['read_s']:.1f} s)")
    print(f"{'homogenize (pull+batches+merge)':<34}{run['wall_s']:>10.1f}{run['cpu_s']:>10.1f}"
          f"{run['peak_rss_gb']:>10.2f}")
    for phase in ("pull_hub", "homogenize_batch", "homogenize"):
        print(f"  {phase:<32}{run[phase]:>10.1f}")
    print(f"store: {run['store_bytes'] / 1e9:.2f} GB; load average {result['load_avg_1min']:.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
