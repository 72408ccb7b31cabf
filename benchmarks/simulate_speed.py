"""Speed of the simulator: model build and per-worm simulation vs neurons and frame rate.

Anchor: the issue's target, "a 6-worm default in a few seconds" (default settings: 120 neurons,
6 worms x 480 s at 0.6 s frames), measured in the same run. Times exclude loading the wiring
(``cect``, once per process) and writing files.

    nice /work/venv/bin/python benchmarks/simulate_speed.py
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pipelines.connectome import neuron_table, read_source
from pipelines.simulate import SimulationSettings, build_model, simulate_worm

RESULTS = Path(__file__).parent / "results" / "simulate_speed.json"
CASES = [
    {"label": "default (anchor)", "settings": {}},
    {"label": "60 neurons", "settings": {"n_neurons": 60}},
    {"label": "180 neurons", "settings": {"n_neurons": 180}},
    {"label": "0.25 s frames, 16 min", "settings": {"native_dt": 0.25, "duration_s": 960.0}},
]


def main() -> int:
    start = time.perf_counter()
    wiring, table = read_source("cook2019"), neuron_table()
    load_s = time.perf_counter() - start
    rows = []
    for case in CASES:
        settings = SimulationSettings.from_config(case["settings"])
        start = time.perf_counter()
        model = build_model(settings, wiring, table)
        model_s = time.perf_counter() - start
        start = time.perf_counter()
        frames = sum(simulate_worm(model, i).sizes["frame"] for i in range(settings.worms))
        worms_s = time.perf_counter() - start
        rows.append({"case": case["label"], "neurons": settings.n_neurons,
                     "worms": settings.worms, "frames": frames, "model_s": round(model_s, 2),
                     "worms_s": round(worms_s, 2), "per_worm_s": round(worms_s / settings.worms, 3),
                     "total_s": round(model_s + worms_s, 2)})
    print(f"wiring + neuron table: {load_s:.1f} s; load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':<24}{'neurons':>8}{'worms':>6}{'frames':>8}{'model s':>9}{'worms s':>9}"
          f"{'per worm':>10}{'total s':>9}")
    for r in rows:
        print(f"{r['case']:<24}{r['neurons']:>8}{r['worms']:>6}{r['frames']:>8}{r['model_s']:>9}"
              f"{r['worms_s']:>9}{r['per_worm_s']:>10}{r['total_s']:>9}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"load_average": os.getloadavg(), "wiring_s": round(load_s, 2),
                                   "anchor": "6-worm default in a few seconds",
                                   "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
