"""Switching GLM on the simulator's calcium worms: state recovery and shared-interaction overlap.

Fits the stage's own entry point (``pipelines.glmhmm.pipeline.fit_recording``) on
``data/homogenized/sim.nc`` (build it with ``snakemake data/homogenized/sim.nc``) and compares
with the simulator's ground truth (``data/raw/sim/truth/*.nc``, ``data/raw/sim/model.nc``):

- states: Hungarian-matched accuracy, NMI and ARI of the argmax posterior vs the planted
  hidden state (planted states are at native frames; each homogenized frame takes the state of
  the last native frame at or before it);
- wiring: AUROC of |shared interaction| and of P(not none) against the planted state-constant
  wiring (pairs non-zero in every state's planted interaction) and against any-state wiring.

    nice /work/venv/bin/python benchmarks/glmhmm_simulated.py [--states 1 2 3 4 5 6] [--prior onehot]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import xarray as xr

from pipelines.glmhmm.evaluate import connectivity_auroc, state_agreement
from pipelines.glmhmm.pipeline import fit_recording

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def planted_states(truth_dir: Path, store: xr.Dataset) -> np.ndarray:
    """(worm, time) planted state on the homogenized grid (-1 where absent)."""
    out = np.full((store.sizes["worm"], store.sizes["time"]), -1)
    grid = store["time"].values
    for w, worm in enumerate(store["worm"].values):
        truth = xr.open_dataset(truth_dir / f"{worm}.nc")
        state = truth["hidden_state"].values[0]
        times = truth["state_time"].values[0]
        ok = state >= 0
        idx = np.searchsorted(times[ok], grid, side="right") - 1
        valid = (idx >= 0) & (grid <= times[ok].max())
        out[w, valid] = state[ok][idx[valid]]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO / "data"))
    parser.add_argument("--states", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--prior", default="onehot")
    parser.add_argument("--min-worm-fraction", type=float, default=0.5)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--prior-scale", type=float, default=0.1, help="SD of W_k around W0 (gaussian prior)")
    parser.add_argument("--out", default="glmhmm_simulated.json")
    args = parser.parse_args(argv)
    data = Path(args.data)
    store_path = data / "homogenized" / "sim.nc"
    if not store_path.exists():
        print(f"{store_path} not found: run `snakemake data/homogenized/sim.nc` first")
        return 0
    store = xr.open_dataset(store_path).load()
    model_truth = xr.open_dataset(data / "raw" / "sim" / "model.nc").load()
    truth = planted_states(data / "raw" / "sim" / "truth", store)
    rows = {}
    for label, n_states in (("sweep", args.states), ("K=4 (planted)", [4])):
        settings = {"n_states": n_states, "prior": args.prior, "restarts": args.restarts,
                    "min_worm_fraction": args.min_worm_fraction, "prior_scale": args.prior_scale}
        start = time.perf_counter()
        summary, _ = fit_recording(store_path, settings)
        seconds = time.perf_counter() - start
        post = summary["state_posterior"].values
        ok = (truth >= 0) & np.isfinite(post).all(-1)
        agreement = state_agreement(truth[ok], post.argmax(-1)[ok])
        neurons = list(summary["post"].values)
        planted = model_truth["interaction"].sel(post=neurons, pre=neurons).values
        constant = (planted != 0).all(axis=0)
        anywhere = (planted != 0).any(axis=0)
        shared = np.abs(summary["shared_interaction"].values)
        p_conn = 1.0 - summary["type_probability"].sel(type="none").values
        row = {
            "chosen_K": int(summary.attrs["chosen_n_states"]),
            "k_curve": dict(zip(map(int, summary["n_states"].values), map(float, summary["k_curve"].values), strict=True)),
            "n_neurons": len(neurons),
            "state_accuracy": agreement["accuracy"],
            "state_nmi": agreement["nmi"],
            "state_ari": agreement["ari"],
            "permutation": agreement["permutation"],
            "auroc_abs_shared_vs_constant_wiring": connectivity_auroc(shared, constant),
            "auroc_abs_shared_vs_any_wiring": connectivity_auroc(shared, anywhere),
            "auroc_p_connected_vs_constant_wiring": connectivity_auroc(p_conn, constant),
            "sign_agreement_on_constant_wiring": float(np.mean(np.sign(summary["shared_interaction"].values[constant & ~np.eye(len(neurons), dtype=bool)])
                                                               == np.sign(planted.mean(0)[constant & ~np.eye(len(neurons), dtype=bool)]))),
            "seconds": seconds,
        }
        rows[label] = row
        print(f"{label}: K={row['chosen_K']} accuracy {row['state_accuracy']:.3f} NMI {row['state_nmi']:.3f} "
              f"AUROC |W0| vs constant wiring {row['auroc_abs_shared_vs_constant_wiring']:.3f} "
              f"(any-state {row['auroc_abs_shared_vs_any_wiring']:.3f}), P(connected) {row['auroc_p_connected_vs_constant_wiring']:.3f}, "
              f"sign agreement {row['sign_agreement_on_constant_wiring']:.3f}, {seconds:.0f} s")
        print("  held-out curve (nats/value):", {k: round(v, 4) for k, v in row["k_curve"].items()})
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps({"settings": vars(args), "results": rows}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
