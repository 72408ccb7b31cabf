"""End-to-end evidence on the simulator's planted time-varying communities.

Simulates a recording (``pipelines.simulate``, default settings unless overridden), homogenizes
every worm with the recordings stage, runs affinity -> tensor -> rank sweep -> NTF
(:func:`pipelines.dfc.pipeline.components_from_calcium`) and scores how the component time
courses match the planted community windows: for every community, the AUROC of each
component's time factor for "inside a window of this community" and the best one; plus the
AUROC of the best component's pair weights for "both neurons in this community" (a first
check of the pair factor; community NMI is computed by the communities part). Prints a table
and writes ``benchmarks/results/dfc_simulated.json``.

    nice /work/venv/bin/python benchmarks/dfc_simulated.py [--worms 6] [--sign-mode abs]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from pipelines.connectome.compare import auroc
from pipelines.dfc.pipeline import components_from_calcium, limit_threads

RESULTS = Path(__file__).parent / "results" / "dfc_simulated.json"


def simulate_and_homogenize(folder: Path, worms: int, seed: int) -> tuple[xr.Dataset, xr.Dataset]:
    """(homogenized store of all worms, simulator model)."""
    from pipelines.recordings.homogenize import Settings, build_batch
    from pipelines.simulate import SimulationSettings, simulate_recording

    settings = SimulationSettings.from_config({"worms": worms}, seed=seed)
    simulate_recording(settings, folder)
    stores = []
    for k in range(worms):
        uid = f"worm{k:02d}"
        stores.append(build_batch("flavell-h5", [folder / f"{uid}-data.h5"],
                                  folder / "batches" / f"{uid}.nc", "sim",
                                  Settings.from_config(None),
                                  labels=str(folder / f"{uid}-labels.csv")))
    store = xr.concat([s[["calcium"]] for s in stores], dim="worm", join="outer")
    store.attrs["dt"] = stores[0].attrs["dt"]
    model = xr.open_dataset(folder / "model.nc", engine="h5netcdf").load()
    return store, model


def window_scores(out: xr.Dataset, model: xr.Dataset) -> list[dict]:
    """Per planted community: AUROC of every component's time factor for its windows, and of
    the best component's pair weights for within-community pairs."""
    time = out["time"].values
    rows = []
    for c in model["community"].values:
        starts = model["window_start"].sel(community=c).values
        ends = model["window_end"].sel(community=c).values
        inside = np.zeros(time.size, bool)
        for lo, hi in zip(starts, ends, strict=True):
            if np.isfinite(lo):
                inside |= (time >= lo) & (time < hi)
        scores = [float(auroc(out["time_factor"].values[k], inside))
                  for k in out["component"].values]
        best = int(np.argmax(scores))
        members = set(map(str, model["neuron"].values[model["membership"].sel(
            community=c).values]))
        both = np.array([str(a) in members and str(b) in members for a, b in
                         zip(out["neuron_1"].values, out["neuron_2"].values, strict=True)])
        pair_auc = float(auroc(out["pair_factor"].values[best], both)) if both.any() else None
        in_tensor = set(map(str, out["neuron_1"].values)) | set(map(str, out["neuron_2"].values))
        rows.append({"community": int(c), "members": len(members),
                     "members_in_tensor": len(members & in_tensor),
            "best_component": best, "time_auroc": round(scores[best], 3),
            "time_auroc_all": [round(s, 3) for s in scores],
            "pair_auroc_best": None if pair_auc is None else round(pair_auc, 3),
            "best_is_baseline": bool(out["is_baseline"].values[best])})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worms", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sign-mode", default="abs", choices=["abs", "same", "split"])
    parser.add_argument("--method", default="differential", choices=["differential",
                                                                        "correlation"])
    parser.add_argument("--time-bin", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rank", type=int, default=None,
                        help="fixed rank (default: automatic selection over 2-8)")
    parser.add_argument("--subtract-null", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, limit_threads(args.threads):
        start = time.perf_counter()
        store, model = simulate_and_homogenize(Path(tmp), args.worms, args.seed)
        simulated = time.perf_counter() - start
        start = time.perf_counter()
        null = {"null_shifts": 2, "subtract_null": True} if args.subtract_null else {}
        config = {"affinity": {"sign_mode": args.sign_mode, "method": args.method, **null},
                  "tensor": {"time_bin": args.time_bin},
                  "ntf": {"ranks": [2, 8], "rank": args.rank}}
        out = components_from_calcium(store, config, seed=args.seed)
        fitted = time.perf_counter() - start
    rows = window_scores(out, model)
    result = {"settings": vars(args), "load": os.getloadavg(), "simulate_s": round(simulated, 1),
              "dfc_s": round(fitted, 1), "selected_rank": out.attrs["selected_rank"],
              "reason": out.attrs["reason"], "n_baseline": int(out["is_baseline"].sum()),
              "tensor_shape": out.attrs["tensor_shape"],
              "best_error": [round(float(e), 4) for e in out["best_error"].values],
              "similarity": [round(float(e), 3) for e in out["similarity"].values],
              "heldout_error": [round(float(e), 4) for e in out["heldout_error"].values],
              "communities": rows}
    print(json.dumps(result, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    key = f"{args.method}-{args.sign_mode}-rank{args.rank or 'auto'}" + (
        "-null" if args.subtract_null else "")
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous[key] = result
    RESULTS.write_text(json.dumps(previous, indent=2) + "\n")


if __name__ == "__main__":
    main()
