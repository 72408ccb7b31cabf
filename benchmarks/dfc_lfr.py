"""Repaired Table 1 of Dyballa et al. 2024: community detection on 9 weighted LFR settings.

Repairs (spec dynamic-connectome.md §8-9): degenerate graphs (one community, or no link
between communities) are discarded and regenerated until every setting has ``--graphs`` valid
graphs; every method is scored on one partition: the SBM at its DL-selected level (the
oracle level, best NMI over the hierarchy, is reported separately and labelled as such).
Anchor: per setting, the best modularity baseline's mean NMI (Leiden or Louvain), run here on
the same graphs; the paper's NWSBM NMIs were mostly 0.28-0.65.

    nice python benchmarks/dfc_lfr.py [--graphs 10] [--settings 1 2 ...] [--restarts 10]
                                      [--degree-corrected false|true|auto]

Prints a table and writes benchmarks/results/dfc_lfr_dc_<false|true|auto>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import normalized_mutual_info_score as nmi

from pipelines.dfc.communities import fit_sbm, leiden_communities, lfr, louvain_communities

RESULTS = Path(__file__).parent / "results" / "dfc_lfr_{}.json"


def score_graph(graph: dict, restarts: int, seed: int, degree_corrected,
                weight_model: str = "exponential") -> dict:
    truth = graph["labels"]
    start = time.perf_counter()
    fit = fit_sbm(graph["weights"], seed=seed, restarts=restarts,
                  degree_corrected=degree_corrected, weight_model=weight_model)
    sbm_time = time.perf_counter() - start
    start = time.perf_counter()
    leiden = leiden_communities(graph["weights"], seed=seed)
    leiden_time = time.perf_counter() - start
    louvain = louvain_communities(graph["weights"], seed=seed)
    return {
        "seed": graph["seed"], "mu_t": graph["mu_t"], "mu_w": graph["mu_w"],
        "n_communities": int(np.unique(truth).size),
        "sbm": nmi(truth, fit.labels),
        "sbm_oracle_level": max(nmi(truth, level) for level in fit.levels),
        "sbm_blocks": fit.n_blocks, "sbm_levels": len(fit.levels),
        "sbm_degree_corrected": bool(fit.degree_corrected),
        "sbm_lognormal": fit.weight_model == "lognormal",
        "leiden": nmi(truth, leiden), "leiden_blocks": int(leiden.max()) + 1,
        "louvain": nmi(truth, louvain),
        "sbm_seconds": sbm_time, "leiden_seconds": leiden_time,
    }


def summarise(rows: list[dict]) -> dict:
    out = {}
    for key in ("sbm", "sbm_oracle_level", "leiden", "louvain", "mu_t", "mu_w", "sbm_blocks",
                "n_communities", "sbm_seconds"):
        values = np.array([r[key] for r in rows], float)
        out[key] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1))}
    out["dc_fraction"] = float(np.mean([r["sbm_degree_corrected"] for r in rows]))
    out["lognormal_fraction"] = float(np.mean([r["sbm_lognormal"] for r in rows]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=10)
    parser.add_argument("--settings", type=int, nargs="*", default=sorted(lfr.SETTINGS))
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--degree-corrected", choices=["false", "true", "auto"], default="false")
    parser.add_argument("--weight-model", choices=["exponential", "lognormal", "auto"],
                        default="exponential")
    args = parser.parse_args()
    degree_corrected = {"false": False, "true": True, "auto": "auto"}[args.degree_corrected]

    report = {"graphs_per_setting": args.graphs, "restarts": args.restarts,
              "degree_corrected": args.degree_corrected, "weight_model": args.weight_model,
              "n_nodes": lfr.N_NODES,
              "max_degree": lfr.MAX_DEGREE, "tau1": lfr.TAU1, "tau2": lfr.TAU2, "settings": {}}
    header = (f"{'set':>3} {'mu_t':>5} {'mu_w':>5} {'beta':>4} {'<k>':>3} | {'got mu_t':>8} "
              f"{'got mu_w':>8} {'skip':>5} | {'SBM (DL level)':>14} {'SBM oracle':>11} "
              f"{'Leiden':>11} {'Louvain':>11} | {'B sbm/true':>10} {'s/graph':>7}")
    print(header)
    print("-" * len(header))
    for key in args.settings:
        setting = lfr.SETTINGS[key]
        start = time.perf_counter()
        graphs, skipped = lfr.weighted_lfr(setting, args.graphs)
        generation = time.perf_counter() - start
        rows = [score_graph(g, args.restarts, args.seed, degree_corrected, args.weight_model)
                for g in graphs]
        summary = summarise(rows)
        anchor = max(summary["leiden"]["mean"], summary["louvain"]["mean"])
        report["settings"][str(key)] = {
            "setting": setting.__dict__, "skipped": skipped, "generation_seconds": generation,
            "summary": summary, "anchor_best_baseline": anchor, "graphs": rows}
        def cell(name, summary=summary):
            return f"{summary[name]['mean']:.2f} ± {summary[name]['sd']:.2f}"

        print(f"{key:>3} {setting.mu_t:>5} {setting.mu_w:>5} {setting.beta:>4} "
              f"{setting.average_degree:>3} | {summary['mu_t']['mean']:>8.2f} "
              f"{summary['mu_w']['mean']:>8.2f} {skipped['failed'] + skipped['degenerate']:>5} | "
              f"{cell('sbm'):>14} {cell('sbm_oracle_level'):>11} {cell('leiden'):>11} "
              f"{cell('louvain'):>11} | {summary['sbm_blocks']['mean']:>4.1f}/"
              f"{summary['n_communities']['mean']:<4.1f} {summary['sbm_seconds']['mean']:>7.2f}",
              flush=True)
    overall = {m: float(np.mean([s["summary"][m]["mean"] for s in report["settings"].values()]))
               for m in ("sbm", "sbm_oracle_level", "leiden", "louvain")}
    wins = sum(s["summary"]["sbm"]["mean"] > s["anchor_best_baseline"]
               for s in report["settings"].values())
    report["overall_mean_nmi"] = overall
    report["sbm_beats_best_baseline_in"] = int(wins)
    print(f"mean over settings: SBM {overall['sbm']:.3f}, SBM oracle level "
          f"{overall['sbm_oracle_level']:.3f}, Leiden {overall['leiden']:.3f}, Louvain "
          f"{overall['louvain']:.3f}; SBM beats the best baseline in {wins}/"
          f"{len(report['settings'])} settings")
    path = Path(str(RESULTS).format(f"dc_{args.degree_corrected}_{args.weight_model}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
