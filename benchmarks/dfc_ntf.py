"""Benchmark of the dfc stage against the published-method anchors (reference spec §10).

1. NTF on a planted 960 x 21 x 3,160 tensor (63.7 M entries), rank 10: ours (float32 batched
   HALS) vs tensortools 0.4 ``ncp_hals`` (the paper's tool; float64 as in the anchor, and on
   the same float32 data) vs tensorly ``non_negative_parafac_hals`` (random init).
2. Rank sweep 2-10 x 4 starts on a planted 240 x 21 x 1,830 tensor (9.2 M, rank 6): ours vs
   tensortools ``Ensemble(fit_method="ncp_hals")``.
3. Affinity of 150 neurons x 2,000 samples x 20 worms.

Same planted data for every method (Gaussian-bump time factors, Gamma(0.7) worm and
Gamma(0.3) pair loadings, unit SD, noise SD 0.5 clipped at 0). Prints a table and writes
``benchmarks/results/dfc_ntf.json``. Run once, late, with ``nice``; the machine is shared,
so the load average is recorded with the figures.

    nice /work/venv/bin/python benchmarks/dfc_ntf.py [--quick] [--skip-tensorly]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from pipelines.dfc.ntf import CPFit, fit_ncp
from pipelines.dfc.pipeline import limit_threads
from pipelines.dfc.rank import RankSettings, factor_similarity, rank_sweep
from pipelines.dfc.synthetic import planted_cp_tensor

RESULTS = Path(__file__).parent / "results" / "dfc_ntf.json"


def truth(factors) -> CPFit:
    return CPFit([np.asarray(f, np.float32) for f in factors], np.ones(factors[0].shape[1]),
                 np.zeros(1), True)


def as_fit(weights, factors, errors) -> CPFit:
    return CPFit([np.asarray(f, np.float32) for f in factors], np.asarray(weights, float),
                 np.asarray(errors, float), True)


def rel_error(tensor, fit: CPFit) -> float:
    """Exact relative error in float64, chunked over time (same for every method)."""
    a, b, c = (f.astype(np.float64) for f in fit.factors)
    a = a * fit.weights
    num = den = 0.0
    for lo in range(0, tensor.shape[0], 64):
        block = tensor[lo:lo + 64].astype(np.float64)
        est = np.einsum("tr,wr,pr->twp", a[lo:lo + 64], b, c, optimize=True)
        num += ((block - est) ** 2).sum()
        den += (block**2).sum()
    return float(np.sqrt(num / den))


def row(name, seconds, fit, tensor, planted):
    return {"method": name, "seconds": round(seconds, 2), "iterations": int(fit.error.size),
            "s_per_iter": round(seconds / max(fit.error.size, 1), 3),
            "rel_error": round(rel_error(tensor, fit), 5),
            "match": round(factor_similarity(fit, truth(planted))[0], 4)}


def bench_big(quick: bool, skip_tensorly: bool, seed: int = 0) -> list[dict]:
    shape, rank = ((240, 21, 1830), 6) if quick else ((960, 21, 3160), 10)
    tensor, planted = planted_cp_tensor(shape, rank, noise=0.5, seed=seed)
    rows = []

    fit_ncp(tensor[:20, :, :50], [2], seed=seed)  # numba compile outside the timing
    start = time.perf_counter()
    ours = fit_ncp(tensor, [rank], seed=seed)[0]
    rows.append(row("ours fit_ncp (float32, defaults)", time.perf_counter() - start,
                    ours, tensor, planted))

    from tensortools.optimize import ncp_hals

    ncp_hals(tensor[:20, :, :50].astype(np.float64), 2, random_state=seed, verbose=False)
    for dtype in (np.float64, np.float32):
        data = tensor.astype(dtype)
        start = time.perf_counter()
        res = ncp_hals(data, rank, random_state=seed, verbose=False)
        seconds = time.perf_counter() - start
        rows.append(row(f"tensortools 0.4 ncp_hals ({np.dtype(dtype).name})", seconds,
                        as_fit(np.ones(rank), res.factors.factors, res.obj_hist), tensor,
                        planted))
        del data

    if not skip_tensorly:
        import tensorly as tl
        from tensorly.decomposition import non_negative_parafac_hals

        data = tensor.astype(np.float64)
        start = time.perf_counter()
        cp, errors = non_negative_parafac_hals(tl.tensor(data), rank, init="random",
                                               random_state=seed, return_errors=True)
        rows.append(row("tensorly 0.10 non_negative_parafac_hals (float64, random)",
                        time.perf_counter() - start, as_fit(cp.weights, cp.factors, errors),
                        tensor, planted))
    for r in rows:
        r["shape"] = list(shape)
        r["rank"] = rank
    return rows


def bench_sweep(quick: bool, seed: int = 0) -> list[dict]:
    shape = (120, 21, 900) if quick else (240, 21, 1830)
    tensor, planted = planted_cp_tensor(shape, 6, noise=0.5, seed=seed + 1)
    ranks, starts = list(range(2, 11)), 4
    rows = []

    start = time.perf_counter()
    plan = [r for r in ranks for _ in range(starts)]
    fits = fit_ncp(tensor, plan, seed=seed)
    seconds = time.perf_counter() - start
    best = {r: min((f for f, p in zip(fits, plan, strict=True) if p == r), key=lambda f: f.final_error)
            for r in ranks}
    rows.append({"method": "ours fit_ncp batched sweep", "seconds": round(seconds, 2),
                 "best_error": [round(best[r].final_error, 4) for r in ranks]})

    start = time.perf_counter()
    evidence, _ = rank_sweep(tensor, RankSettings(ranks=tuple(ranks), n_starts=starts),
                             seed=seed)
    rows.append({"method": "ours rank_sweep (+ held-out fits, selection)",
                 "seconds": round(time.perf_counter() - start, 2),
                 "best_error": [round(float(e), 4) for e in evidence["best_error"].values],
                 "similarity": [round(float(s), 3) for s in evidence["similarity"].values],
                 "heldout_error": [round(float(e), 4) for e in evidence["heldout_error"].values],
                 "selected_rank": int(evidence.attrs["selected_rank"]),
                 "n_baseline": int(evidence["n_baseline"].sel(
                     rank=evidence.attrs["selected_rank"])),
                 "planted_rank": 6})

    import tensortools as tt

    ensemble = tt.Ensemble(nonneg=True, fit_method="ncp_hals",
                           fit_options={"random_state": seed})
    ensemble.fit(tensor[:10, :, :20].astype(np.float64), ranks=[2], replicates=1,
                 verbose=False)  # numba compile outside the timing
    ensemble = tt.Ensemble(nonneg=True, fit_method="ncp_hals")
    data = tensor.astype(np.float64)
    start = time.perf_counter()
    ensemble.fit(data, ranks=ranks, replicates=starts, verbose=False)
    rows.append({"method": "tensortools 0.4 Ensemble(ncp_hals) (float64)",
                 "seconds": round(time.perf_counter() - start, 2),
                 "best_error": [round(float(min(ensemble.objectives(r))), 4) for r in ranks],
                 "similarity": [round(float(np.mean(ensemble.similarities(r)[1:])), 3)
                                for r in ranks]})
    for r in rows:
        r["shape"] = list(shape)
    return rows


def bench_affinity(quick: bool, seed: int = 0) -> list[dict]:
    import xarray as xr

    from pipelines.common import NEURONS
    from pipelines.dfc.affinity import AffinitySettings, batch_affinity

    n_neurons, n_time, n_worms = (150, 2000, 4) if quick else (150, 2000, 20)
    rng = np.random.default_rng(seed)
    calcium = rng.standard_normal((n_worms, n_neurons, n_time)).cumsum(axis=2).astype(np.float32)
    calcium[rng.random((n_worms, n_neurons)) < 0.1] = np.nan  # neurons missing in some worms
    da = xr.DataArray(calcium, dims=("worm", "neuron", "time"),
                      coords={"worm": [f"w{k}" for k in range(n_worms)],
                              "neuron": list(NEURONS[:n_neurons]),
                              "time": np.arange(n_time) / 3.0})
    batch_affinity(da.isel(worm=[0], time=slice(0, 100)), 1 / 3, AffinitySettings())  # compile
    rows = []
    for label, s, time_bin in (("differential (default)", AffinitySettings(), 0.0),
                               ("differential, binned to 1 s", AffinitySettings(), 1.0),
                               ("differential, split channels", AffinitySettings(
                                   sign_mode="split"), 0.0),
                               ("windowed correlation baseline", AffinitySettings(
                                   method="correlation"), 0.0)):
        start = time.perf_counter()
        out = batch_affinity(da, 1 / 3, s, time_bin=time_bin)
        rows.append({"method": label, "seconds": round(time.perf_counter() - start, 2),
                     "shape": [n_neurons, n_time, n_worms],
                     "output": list(out["affinity"].shape)})
        del out
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--skip-tensorly", action="store_true")
    parser.add_argument("--only", choices=["big", "sweep", "affinity"], nargs="*")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS and numba threads for every method (default 1: on the "
                             "shared 2-core machine oversubscribed BLAS threads spin)")
    args = parser.parse_args()
    parts = args.only or ["affinity", "sweep", "big"]
    results = {"host": platform.node(), "cpus": os.cpu_count(), "quick": args.quick,
               "threads": args.threads, "load_before": os.getloadavg()}
    if RESULTS.exists() and args.only:
        results = {**json.loads(RESULTS.read_text()), **results}
    for part in parts:
        start_load = os.getloadavg()
        with limit_threads(args.threads):
            rows = {"big": lambda: bench_big(args.quick, args.skip_tensorly),
                    "sweep": lambda: bench_sweep(args.quick),
                    "affinity": lambda: bench_affinity(args.quick)}[part]()
        results[part] = {"rows": rows, "load_start": start_load, "load_end": os.getloadavg()}
        print(f"\n== {part} (load average {start_load[0]:.1f} -> {os.getloadavg()[0]:.1f})")
        for r in rows:
            print("  " + "  ".join(f"{k}={v}" for k, v in r.items() if k != "shape"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"\nwritten {RESULTS}")


if __name__ == "__main__":
    main()
