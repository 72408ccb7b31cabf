"""Switching GLM on the real Dag 2023 worms: held-out likelihood, one-step prediction, behaviour.

Reads the 5 NeuroPAL-labelled recordings in ../shared/data/dag2023/swf702_with_id through the
recordings stage's Flavell reader and label standardisation, at native frames (~0.6 s, no
resampling or smoothing), keeps the neurons labelled in >= --min-worm-fraction of the worms,
z-scores each worm with its training frames only, and reports:

1. held-out time blocks (100-frame blocks, 20% held out per worm): marginal log-likelihood per
   observed value (nats), one-step R² and one-step skill (1 − MSE / MSE of copy-last, pooled
   over neurons and frames, with a 95% bootstrap interval over the held-out blocks, and its
   gain over K = 1 paired block by block) for K = 1..6 against copy-last (ŷ_t = y_{t-1}; its
   likelihood is a Gaussian random walk with per-neuron variance fitted on training frames);
2. leave-one-worm-out: the same metrics for K = 1 and the chosen K, with the skill per worm;
3. states vs behaviour (fit on all worms): reversal fraction and mean velocity per state,
   per-state AUROC for reversals, balanced accuracy of the most reversal-rich state, η² of
   velocity by state, and NMI(state, reversal) and η² against a null of the state sequences
   circularly shifted in time per worm (``evaluate.behaviour_null``, p-values);
4. AUROC of |shared interaction| and P(connection) against the Cook 2019 adjacency, with a
   degree-preserving null (``connectome.compare.edge_auroc``).

The defaults are the stage's (shared noise, linear detrending, 3 own lags, one-hot prior);
``--noise state --detrend -1 --self-lags 1`` is the earlier model; ``--skip-lowo`` skips
section 2. The loader is the shared ``benchmarks/_dag2023.py``.

Prints tables, writes benchmarks/results/<--out>.json and .md (quoted in docs/glmhmm.md).

    nice .venv/bin/python benchmarks/glmhmm_dag2023.py [--self-lags 3] [--noise shared] [--detrend 1] [--out NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from _dag2023 import DATA, REPO, load_worms
from threadpoolctl import threadpool_limits

from pipelines.connectome.compare import edge_auroc
from pipelines.glmhmm.emissions import detrend, select_neurons, standardize
from pipelines.glmhmm.evaluate import (
    anatomical_adjacency,
    behaviour_null,
    copy_last,
    one_step_r2,
    one_step_skill,
    skill_interval,
    state_behaviour,
)
from pipelines.glmhmm.model import SwitchingGLM
from pipelines.glmhmm.select import block_split, segments

RESULTS = REPO / "benchmarks" / "results"


def common_space(worms: list[dict], min_fraction: float):
    """(T_w, N) arrays on the neurons labelled in >= min_fraction of worms, NaN where missing."""
    names = sorted({n for w in worms for n in w["neurons"]})
    index = {n: i for i, n in enumerate(names)}
    recorded = np.zeros((len(worms), len(names)), bool)
    for w, worm in enumerate(worms):
        recorded[w, [index[n] for n in worm["neurons"]]] = True
    keep = select_neurons(recorded, min_fraction)
    arrays = []
    for worm in worms:
        y = np.full((len(worm["calcium"]), len(names)), np.nan)
        y[:, [index[n] for n in worm["neurons"]]] = worm["calcium"]
        arrays.append(y[:, keep])
    return arrays, recorded[:, keep], [names[i] for i in keep]


def random_walk_loglik(train, test, recorded_train, recorded_test):
    """Held-out log-likelihood per value of y_t ~ N(y_{t-1}, σ_i²), σ_i² from training diffs."""
    diffs = np.concatenate([np.diff(np.where(r, y, np.nan), axis=0) for y, r in zip(train, recorded_train, strict=True)])
    var = np.nanmean(diffs**2, axis=0)
    total, count = 0.0, 0
    for y, r in zip(test, recorded_test, strict=True):
        d = np.diff(np.where(r, y, np.nan), axis=0)
        ok = np.isfinite(d)
        total += np.sum((-0.5 * (np.log(2 * np.pi * var) + d**2 / var))[ok])
        count += ok.sum()
    return total / count


def evaluate_split(train, rec_train, test, rec_test, n_states, options):
    """Fit on train; held-out loglik per value and one-step R² (per neuron) on test."""
    model = SwitchingGLM(n_states, **options).fit(train, rec_train)
    marginal, n_obs = model.loglik(test, rec_test)
    preds = model.predict(test, rec_test)
    truth = [np.where(r, y, np.nan) for y, r in zip(test, rec_test, strict=True)]
    # copy-last scored on exactly the frames the model predicts
    copies = [np.where(np.isfinite(p), c, np.nan) for p, c in zip(preds, map(copy_last, truth), strict=True)]
    return {
        "loglik": float(marginal.sum() / n_obs.sum()),
        "r2": one_step_r2(truth, preds),
        "r2_copy_last": one_step_r2(truth, copies),
        "skill_per_neuron": one_step_skill(truth, preds),
        "unused": int(model.unused_states_.size),
        "model": model,
        "truth": truth,
        "predictions": preds,
    }


def _plain(result: dict) -> dict:
    """JSON-ready copy of an ``evaluate_split`` result (no model, traces or predictions)."""
    return {key: (v.tolist() if isinstance(v, np.ndarray) else v) for key, v in result.items()
            if key not in ("model", "truth", "predictions")}


def fmt(x):
    return f"{x:.3f}" if np.isfinite(x) else "nan"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--prior", default="onehot")
    parser.add_argument("--min-worm-fraction", type=float, default=0.8)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--noise", default="shared", choices=["state", "shared"])
    parser.add_argument("--detrend", type=int, default=1,
                        help="polynomial trend removed per worm and neuron (-1: none)")
    parser.add_argument("--self-lags", type=int, default=3, help="own past frames per neuron (stage default 3)")
    parser.add_argument("--skip-lowo", action="store_true", help="skip the leave-one-worm-out section")
    parser.add_argument("--out", default="glmhmm_dag2023", help="results file stem in benchmarks/results/")
    args = parser.parse_args(argv)
    if not (DATA / "swf702_with_id").is_dir():
        print(f"Dag 2023 data not found at {DATA}; nothing to do")
        return 0
    start_all = time.perf_counter()
    raw = load_worms(DATA)
    arrays, recorded, neurons = common_space(raw, args.min_worm_fraction)
    if args.detrend >= 0:  # fitted on all frames: a low-order trend per (worm, neuron)
        arrays = detrend(arrays, args.detrend)
    options = {"prior": args.prior, "n_restarts": args.restarts, "seed": args.seed, "noise": args.noise,
               "self_lags": args.self_lags}
    print(f"{len(arrays)} worms, {len(neurons)} neurons labelled in >= {args.min_worm_fraction:.0%} of worms, "
          f"dt {np.median([w['dt'] for w in raw]):.3f} s, frames {[len(a) for a in arrays]}")
    out = {"settings": vars(args), "n_neurons": len(neurons), "neurons": neurons}
    lines = []
    with threadpool_limits(args.threads):
        # 1. held-out time blocks, train-only z-scoring
        rng = np.random.default_rng(args.seed)
        masks = [block_split(len(a), 100, 0.2, rng) for a in arrays]
        z, _, _ = standardize(arrays, masks)
        train, rec_tr, test, rec_te = [], [], [], []
        for y, r, m in zip(z, recorded, masks, strict=True):
            for seg in segments(y, m):
                train.append(seg)
                rec_tr.append(r)
            for seg in segments(y, ~m):
                test.append(seg)
                rec_te.append(r)
        rec_tr, rec_te = np.array(rec_tr), np.array(rec_te)
        rw = random_walk_loglik(train, test, rec_tr, rec_te)
        blocks = {}
        lines += ["### Held-out time blocks (20% of 100-frame blocks per worm)", "",
                  f"Skill = 1 − MSE / MSE(copy-last), pooled over neurons and frames, [95% bootstrap interval "
                  f"over the {len(test)} held-out blocks]; gain over K={args.states[0]} paired block by block.", "",
                  "| model | loglik (nats/value) | median one-step R² | median R² − copy-last | neurons above copy-last "
                  f"| skill | skill gain over K={args.states[0]} (p) | unused states |",
                  "|---|---|---|---|---|---|---|---|"]
        first = None
        for k in args.states:
            res = evaluate_split(train, rec_tr, test, rec_te, k, options)
            first = first or res
            interval = skill_interval(res["truth"], res["predictions"],
                                      None if res is first else first["predictions"], seed=args.seed)
            blocks[k] = _plain(res) | {"skill": interval}
            gain = np.nanmedian(res["r2"] - res["r2_copy_last"])
            above = float(np.nanmean(res["skill_per_neuron"] > 0))
            if k != args.states[0]:
                blocks[k]["median_r2_gain_vs_first_K"] = float(np.nanmedian(res["r2"] - first["r2"]))
            versus = ("–" if res is first else f"{interval['gain']:+.4f} [{interval['gain_low']:+.4f}, "
                      f"{interval['gain_high']:+.4f}] (p {interval['gain_p']:.3f})")
            lines.append(f"| K={k} | {fmt(res['loglik'])} | {fmt(np.nanmedian(res['r2']))} | {gain:+.4f} | {above:.2f} | "
                         f"{interval['skill']:.4f} [{interval['skill_low']:.4f}, {interval['skill_high']:.4f}] | "
                         f"{versus} | {res['unused']} |")
            print(lines[-1])
        copy_r2 = np.nanmedian(blocks[args.states[0]]["r2_copy_last"])
        lines.append(f"| copy-last (random walk) | {fmt(rw)} | {fmt(copy_r2)} | 0 | – | 0 | – | – |")
        print(lines[-1])
        out["time_blocks"] = {"per_K": blocks, "copy_last_loglik": rw, "copy_last_median_r2": copy_r2}
        usable = [k for k in args.states if blocks[k]["unused"] == 0]
        best = max(usable, key=lambda k: blocks[k]["loglik"])
        out["best_K_time_blocks"] = best
        print(f"best K on held-out blocks: {best}")

        # 2. leave-one-worm-out (each worm z-scored with its own statistics)
        zw, _, _ = standardize(arrays)
        lowo = {}
        lines += ["", f"### Leave-one-worm-out (K=1 vs K={best})", "",
                  "| model | loglik (nats/value) | median one-step R² | median R² − copy-last | skill (pooled) "
                  "| skill per worm | worms with skill above K=1 |", "|---|---|---|---|---|---|---|"]
        one_state_preds = None
        for k in ([] if args.skip_lowo else sorted({1, best})):
            logliks, r2s, copies, skills, preds, truths = [], [], [], [], [], []
            for w in range(len(zw)):
                rest = [a for j, a in enumerate(zw) if j != w]
                res = evaluate_split(rest, np.delete(recorded, w, 0), [zw[w]], recorded[w:w + 1], k, options)
                logliks.append(res["loglik"])
                r2s.append(res["r2"])
                copies.append(res["r2_copy_last"])
                preds += res["predictions"]
                truths += res["truth"]
                skills.append(skill_interval(res["truth"], res["predictions"], n_boot=1)["skill"])
            r2s, copies = np.concatenate(r2s), np.concatenate(copies)
            pooled = skill_interval(truths, preds, one_state_preds, n_boot=1)
            if k == 1:
                one_state_preds, one_state_skills = preds, skills
            lowo[k] = {"loglik_per_worm": logliks, "median_r2": float(np.nanmedian(r2s)),
                       "median_r2_gain_vs_copy_last": float(np.nanmedian(r2s - copies)),
                       "skill_per_worm": skills, "skill": pooled["skill"], "skill_gain_vs_K1": pooled.get("gain")}
            better = "–" if k == 1 else f"{sum(a > b for a, b in zip(skills, one_state_skills, strict=True))}/{len(skills)}"
            lines.append(f"| K={k} | {fmt(np.mean(logliks))} | {fmt(np.nanmedian(r2s))} | {np.nanmedian(r2s - copies):+.4f} | "
                         f"{pooled['skill']:.4f} | {', '.join(f'{v:.3f}' for v in skills)} | {better} |")
            print(lines[-1])
        rw_lowo = np.nan if args.skip_lowo else np.mean([random_walk_loglik([a for j, a in enumerate(zw) if j != w], [zw[w]],
                                              np.delete(recorded, w, 0), recorded[w:w + 1]) for w in range(len(zw))])
        if not args.skip_lowo:
            lines.append(f"| copy-last (random walk) | {fmt(rw_lowo)} | {fmt(np.nanmedian(copies))} | 0 | 0 | – | – |")
        print(lines[-1])
        out["leave_one_worm_out"] = {"per_K": lowo, "copy_last_loglik": rw_lowo}

        # 3. states vs behaviour, fit on all worms
        full = SwitchingGLM(best, **options).fit(zw, recorded)
        post = full.predict_proba(zw, recorded)
        have = all("reversal" in w and "velocity" in w for w in raw)
        rev = np.concatenate([w["reversal"] for w in raw]).astype(float) if have else None
        vel = np.concatenate([w["velocity"] for w in raw]) if have else None
        lines += ["", f"### States vs behaviour (K={best}, fit on all 5 worms)", ""]
        if rev is not None and vel is not None:
            beh = state_behaviour(np.concatenate(post), rev.astype(float), vel)
            out["behaviour"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in beh.items()}
            out["behaviour"]["occupancy"] = full.occupancy_.tolist()
            lines += ["| state | occupancy | reversal fraction | mean velocity | reversal AUROC |", "|---|---|---|---|---|"]
            for k in range(best):
                lines.append(f"| {k} | {full.occupancy_[k]:.3f} | {fmt(beh['reversal_fraction'][k])} | "
                             f"{fmt(beh['mean_velocity'][k])} | {fmt(beh['reversal_auroc'][k])} |")
            lines += ["", f"Overall reversal fraction {np.nanmean(rev):.3f}; balanced accuracy of the most "
                      f"reversal-rich state as a reversal detector {fmt(beh['reversal_balanced_accuracy'])}; "
                      f"η² of velocity by state {fmt(beh['velocity_eta2'])}; NMI(state, reversal) {fmt(beh['reversal_nmi'])}."]
            # states circularly shifted in time per worm: is the relation above chance?
            null = behaviour_null([p.argmax(1) for p in post], [w["reversal"].astype(float) for w in raw],
                                  [w["velocity"] for w in raw], n_shifts=200, seed=args.seed)
            out["behaviour_null"] = null
            lines += ["", "Against states circularly shifted in time per worm (200 shifts): "
                      + "; ".join(f"{name} {fmt(v['observed'])} (null mean {fmt(v['null_mean'])}, 95th pct "
                                  f"{fmt(v['null_q95'])}, p = {v['p_value']:.3f})" for name, v in null.items())]
            print("\n".join(lines[-(best + 6):]))

        # 4. connectivity vs Cook 2019
        try:
            adjacency, covered = anatomical_adjacency(neurons)
            wiring = np.where(covered, adjacency.astype(float), np.nan)
            scores = {"abs_shared": full.prior_.shared_interaction(full.params_.interaction),
                      "abs_mean_state_interaction": np.abs(full.params_.interaction).mean(0)}
            types = full.prior_.type_probability(None)
            if types is not None:
                scores["p_connected"] = 1 - types[..., 1]
            conn = {name: edge_auroc(score, wiring, n_null=100, seed=args.seed) for name, score in scores.items()}
            out["connectivity"] = conn
            lines += ["", "Connectivity vs Cook 2019 adjacency (chemical or gap, covered off-diagonal pairs; "
                      "null: 100 degree-preserving shuffles): "
                      + "; ".join(f"{k} AUROC {fmt(v['auroc'])} (null {fmt(v['null_mean'])}, p = {fmt(v['p_value'])})"
                                  for k, v in conn.items())]
            print(lines[-1])
        except Exception as err:  # the connectome stage is optional for this benchmark
            print(f"connectivity skipped: {err}")
    out["seconds"] = time.perf_counter() - start_all
    RESULTS.mkdir(exist_ok=True)
    out["load_average"] = os.getloadavg()
    (RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=2, default=float))
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print(f"total {out['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
