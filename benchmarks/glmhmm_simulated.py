"""Switching GLM on the simulator's calcium worms: state recovery and shared-interaction overlap.

Fits the stage's own entry point (``pipelines.glmhmm.pipeline.fit_recording``) on
``data/homogenized/sim.nc`` (build it with ``snakemake data/homogenized/sim.nc``) and compares
with the simulator's ground truth (``data/raw/sim/truth/*.nc``, ``data/raw/sim/model.nc``):

- states: Hungarian-matched accuracy, NMI and ARI of the argmax posterior vs the planted
  hidden state (planted states are at native frames; each homogenized frame takes the state of
  the last native frame at or before it);
- wiring: AUROC of |shared interaction| and of P(not none) against the planted state-constant
  wiring (pairs non-zero in every state's planted interaction) and against any-state wiring,
  each against a degree-preserving null (``pipelines.connectome.compare.edge_auroc``).

The settings start from the workflow's default config (``workflow/config/config.yaml``, glmhmm
section, over the stage defaults); the options override them.

    nice /work/venv/bin/python benchmarks/glmhmm_simulated.py [--states 1 2 3 4 5 6] [--noise state] [--detrend -1]

``--simulator-seed S`` simulates a fresh main-job recording (the workflow config's ``sim``
settings with seed S) into a temporary directory with the simulate and recordings stages' own
functions, instead of reading ``data/``.
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
import yaml
from sklearn.metrics import normalized_mutual_info_score
from threadpoolctl import threadpool_limits

from pipelines.connectome.compare import edge_auroc
from pipelines.glmhmm.evaluate import state_agreement
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


def stimulus_blocks(model_truth: xr.Dataset, grid: np.ndarray) -> np.ndarray:
    """(time,) community whose stimulus block is on at each grid time (-1: none on)."""
    out = np.full(len(grid), -1)
    for start, end, community in zip(model_truth["stimulus_start"].values, model_truth["stimulus_end"].values,
                                     model_truth["stimulus_community"].values, strict=True):
        out[(grid >= start) & (grid < end)] = community
    return out


def contingency(rows: np.ndarray, columns: np.ndarray, row_labels, n_columns: int) -> list[list[int]]:
    """Frame counts of every (row label, column 0..n_columns-1) pair, rows in ``row_labels`` order."""
    table = np.zeros((len(row_labels), n_columns), int)
    np.add.at(table, (np.searchsorted(row_labels, rows), columns), 1)
    return table.tolist()


def simulate_recording(config: dict, seed: int, root: Path) -> None:
    """Write ``root/raw/sim`` (model, worms, truths) and ``root/homogenized/sim.nc`` as the main job
    would with simulator seed ``seed``."""
    from pipelines.common import write_netcdf
    from pipelines.recordings.homogenize import Settings, build_batch, merge_batches
    from pipelines.simulate import SimulationSettings, build_model, worm_id, worm_index, write_worm

    recording = config["recordings"]["sim"]
    settings = SimulationSettings.from_config(recording.get("simulate", {}), seed=seed)
    homogenize = Settings.from_config({**config.get("homogenize", {}), **recording.get("homogenize", {})})
    raw, batches = root / "raw" / "sim", root / "homogenized" / "batches"
    (raw / "truth").mkdir(parents=True)
    batches.mkdir(parents=True)
    write_netcdf(build_model(settings), raw / "model.nc")
    model = xr.load_dataset(raw / "model.nc")
    paths = []
    for i in range(settings.worms):
        worm = worm_id(i)
        write_worm(model, worm_index(worm), raw / f"{worm}-data.h5", raw / f"{worm}-labels.csv",
                   raw / "truth" / f"{worm}.nc")
        paths.append(str(batches / f"{worm}.nc"))
        build_batch("flavell-h5", [str(raw / f"{worm}-data.h5")], paths[-1], "sim", homogenize,
                    labels=str(raw / f"{worm}-labels.csv"), worms=None, source=None)
    merge_batches(paths, str(root / "homogenized" / "sim.nc"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO / "data"))
    parser.add_argument("--states", type=int, nargs="+", help="K sweep (default: the workflow config's)")
    parser.add_argument("--noise", choices=["state", "shared"], help="override glmhmm.noise")
    parser.add_argument("--detrend", type=int, help="override glmhmm.detrend (-1: off)")
    parser.add_argument("--restarts", type=int, help="override glmhmm.restarts")
    parser.add_argument("--seed", type=int, help="override the pipeline seed")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override any glmhmm setting (YAML value), e.g. heldout_folds=3")
    parser.add_argument("--simulator-seed", type=int,
                        help="simulate a fresh recording with this simulator seed (temporary directory)")
    parser.add_argument("--no-planted-k", action="store_true", help="skip the fit at the planted K = 4")
    parser.add_argument("--out", default="glmhmm_simulated.json")
    args = parser.parse_args(argv)
    config = yaml.safe_load((REPO / "workflow" / "config" / "config.yaml").read_text())
    base = {**config.get("glmhmm", {}), "seed": config.get("seed", 0)}
    overrides = {"n_states": args.states, "noise": args.noise, "restarts": args.restarts, "seed": args.seed,
                 "detrend": args.detrend}
    base.update({k: v for k, v in overrides.items() if v is not None})
    base.update({k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)})
    if args.simulator_seed is not None:
        with tempfile.TemporaryDirectory() as tmp:
            simulate_recording(config, args.simulator_seed, Path(tmp))
            return run(args, base, Path(tmp))
    return run(args, base, Path(args.data))


def run(args, base: dict, data: Path) -> int:
    """Fit and score on ``data/homogenized/sim.nc`` against ``data/raw/sim`` truth; write the JSON."""
    store_path = data / "homogenized" / "sim.nc"
    if not store_path.exists():
        print(f"{store_path} not found: run `snakemake data/homogenized/sim.nc` first")
        return 0
    store = xr.open_dataset(store_path).load()
    model_truth = xr.open_dataset(data / "raw" / "sim" / "model.nc").load()
    truth = planted_states(data / "raw" / "sim" / "truth", store)
    stimulus = np.broadcast_to(stimulus_blocks(model_truth, store["time"].values), truth.shape)
    rows = {}
    print("settings:", base)
    fits = [("sweep", base.get("n_states", [1, 2, 3, 4, 5, 6]))] + ([] if args.no_planted_k else [("K=4 (planted)", [4])])
    for label, n_states in fits:
        settings = {**base, "n_states": n_states}
        start = time.perf_counter()
        with threadpool_limits(1):  # as the workflow rule (threads: 1); 2 BLAS threads oversubscribe
            summary, _ = fit_recording(store_path, settings)
        seconds = time.perf_counter() - start
        post = summary["state_posterior"].values
        ok = (truth >= 0) & np.isfinite(post).all(-1)
        n_values = float((np.isfinite(post[..., 0]).sum(1) * summary["recorded"].values.sum(1)).sum())
        agreement = state_agreement(truth[ok], post.argmax(-1)[ok])
        neurons = list(summary["post"].values)
        planted = model_truth["interaction"].sel(post=neurons, pre=neurons).values
        constant = (planted != 0).all(axis=0)
        anywhere = (planted != 0).any(axis=0)
        shared = summary["shared_interaction"].values
        p_conn = 1.0 - summary["type_probability"].sel(type="none").values
        off = ~np.eye(len(neurons), dtype=bool)
        wiring = {"constant": constant.astype(float), "any": anywhere.astype(float)}
        overlap = {f"{name}_vs_{ref}_wiring": edge_auroc(score, wiring[ref], n_null=100, seed=0)
                   for name, score in (("abs_shared", shared), ("p_connected", p_conn)) for ref in wiring
                   if np.isfinite(score).any()}
        row = {
            "chosen_K": int(summary.attrs["chosen_n_states"]),
            "k_curve": dict(zip(map(int, summary["n_states"].values), map(float, summary["k_curve"].values), strict=True)),
            "n_neurons": len(neurons),
            "state_accuracy": agreement["accuracy"],
            "state_nmi": agreement["nmi"],
            "state_ari": agreement["ari"],
            # a nuisance check: do the states stand for worms rather than brain states?
            "state_nmi_with_worm": float(normalized_mutual_info_score(
                np.broadcast_to(np.arange(ok.shape[0])[:, None], ok.shape)[ok], post.argmax(-1)[ok])),
            "permutation": agreement["permutation"],
            "occupancy": summary["occupancy"].values.tolist(),
            # planted state (rows: forward, reversal, turn, quiescence) x fitted state frame counts
            "planted_by_state": contingency(truth[ok], post.argmax(-1)[ok], [0, 1, 2, 3], post.shape[-1]),
            # stimulus block (rows: none on, community 0, 1, 2) x fitted state, planted forward frames only
            "forward_stimulus_by_state": contingency(stimulus[ok & (truth == 0)], post.argmax(-1)[ok & (truth == 0)],
                                                     [-1, 0, 1, 2], post.shape[-1]),
            # final objective of every restart of the kept fit, per observed value
            "restart_objective_per_value": (summary["restart_objective"].values / n_values).tolist(),
            "wiring_overlap": overlap,
            "sign_agreement_on_constant_wiring": float(np.mean(np.sign(shared[constant & off])
                                                               == np.sign(planted.mean(0)[constant & off]))),
            "seconds": seconds,
        }
        rows[label] = row
        print(f"{label}: K={row['chosen_K']} accuracy {row['state_accuracy']:.3f} NMI {row['state_nmi']:.3f} "
              f"ARI {row['state_ari']:.3f}, NMI with worm {row['state_nmi_with_worm']:.3f}, sign agreement {row['sign_agreement_on_constant_wiring']:.3f}, {seconds:.0f} s")
        for name, res in overlap.items():
            print(f"  {name}: AUROC {res['auroc']:.3f} (degree-preserving null {res['null_mean']:.3f} ± "
                  f"{res['null_sd']:.3f}, z {res['z']:.1f}, p {res['p_value']:.3f})")
        print("  held-out curve (nats/value):", {k: round(v, 4) for k, v in row["k_curve"].items()})
        print("  restart objectives (per value):", np.round(row["restart_objective_per_value"], 4).tolist())
        print("  planted (fwd, rev, turn, quiescence) x fitted state:", row["planted_by_state"])
        print("  forward frames, stimulus block (none, c0, c1, c2) x fitted state:", row["forward_stimulus_by_state"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps({"settings": base, "arguments": vars(args), "load_average": os.getloadavg(),
                                                "results": rows}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
