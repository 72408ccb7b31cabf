"""Metrics of fitted switching GLMs: states vs truth and behaviour, prediction, connectivity."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (
    adjusted_rand_score,
    balanced_accuracy_score,
    normalized_mutual_info_score,
    roc_auc_score,
)

__all__ = [
    "state_agreement",
    "state_behaviour",
    "one_step_r2",
    "one_step_skill",
    "skill_interval",
    "copy_last",
    "connectivity_auroc",
    "behaviour_statistics",
    "behaviour_null",
    "anatomical_adjacency",
]


def state_agreement(truth: np.ndarray, labels: np.ndarray) -> dict:
    """Hungarian-matched accuracy, NMI and ARI of decoded vs planted states (1-D int arrays).

    Returns accuracy, nmi, ari and ``permutation``: fitted state -> matched true state
    (-1 for fitted states left unmatched when K differs).
    """
    truth = np.asarray(truth).ravel()
    labels = np.asarray(labels).ravel()
    t_ids, t_idx = np.unique(truth, return_inverse=True)
    l_ids, l_idx = np.unique(labels, return_inverse=True)
    counts = np.zeros((l_ids.size, t_ids.size))
    np.add.at(counts, (l_idx, t_idx), 1)
    rows, cols = linear_sum_assignment(-counts)
    permutation = {int(state): -1 for state in l_ids}
    permutation.update({int(l_ids[r]): int(t_ids[c]) for r, c in zip(rows, cols, strict=True)})
    return {
        "accuracy": float(counts[rows, cols].sum() / counts.sum()),
        "nmi": float(normalized_mutual_info_score(truth, labels)),
        "ari": float(adjusted_rand_score(truth, labels)),
        "permutation": permutation,
    }


def state_behaviour(posterior: np.ndarray, reversal: np.ndarray, velocity: np.ndarray) -> dict:
    """How states relate to reversals and velocity (frames with NaN behaviour are skipped).

    Parameters
    ----------
    posterior : (T, K) state probabilities; reversal : (T,) 0/1; velocity : (T,) any unit.

    Returns
    -------
    dict with per-state ``reversal_fraction`` and ``mean_velocity`` (K,), ``reversal_auroc``
    (K,) of each state's probability as a reversal detector, the best state's balanced
    accuracy (``reversal_balanced_accuracy``: argmax-state == best state), ``velocity_eta2``
    (share of velocity variance explained by the decoded state) and ``reversal_nmi``.
    """
    ok = np.isfinite(reversal) & np.isfinite(velocity)
    post, rev, vel = posterior[ok], reversal[ok].astype(int), velocity[ok]
    labels = post.argmax(1)
    k_states = post.shape[1]
    occupied = np.array([(labels == k).any() for k in range(k_states)])
    frac = np.array([rev[labels == k].mean() if occupied[k] else np.nan for k in range(k_states)])
    mean_vel = np.array([vel[labels == k].mean() if occupied[k] else np.nan for k in range(k_states)])
    if 0 < rev.sum() < rev.size:
        auroc = np.array([roc_auc_score(rev, post[:, k]) for k in range(k_states)])
        best = int(np.nanargmax(frac))
        bal = float(balanced_accuracy_score(rev, labels == best))
    else:
        auroc, bal = np.full(k_states, np.nan), np.nan
    grand = vel.mean()
    between = sum((labels == k).sum() * (mean_vel[k] - grand) ** 2 for k in range(k_states) if occupied[k])
    eta2 = float(between / max(((vel - grand) ** 2).sum(), 1e-12))
    return {
        "reversal_fraction": frac,
        "mean_velocity": mean_vel,
        "reversal_auroc": auroc,
        "reversal_balanced_accuracy": bal,
        "velocity_eta2": eta2,
        "reversal_nmi": float(normalized_mutual_info_score(rev, labels)),
    }


def copy_last(y: np.ndarray) -> np.ndarray:
    """Persistence forecast ŷ_t = y_{t-1} (first frame NaN), (T, N)."""
    out = np.full_like(y, np.nan, dtype=float)
    out[1:] = y[:-1]
    return out


def one_step_r2(ys, yhats) -> np.ndarray:
    """Per-neuron R² of one-step predictions pooled over worms, (N,).

    ys, yhats : lists of (T_w, N); frames or neurons NaN in either are skipped. R² uses the
    pooled mean of the target, so a model no better than the mean scores 0.
    """
    y = np.concatenate(ys)
    yhat = np.concatenate(yhats)
    ok = np.isfinite(y) & np.isfinite(yhat)
    r2 = np.full(y.shape[1], np.nan)
    for i in range(y.shape[1]):
        t, p = y[ok[:, i], i], yhat[ok[:, i], i]
        if t.size > 2 and t.var() > 0:
            r2[i] = 1.0 - np.mean((t - p) ** 2) / t.var()
    return r2


def _squared_errors(ys, yhats):
    """Per sequence: (N,) sums of squared one-step errors of ``yhats`` and of copy-last, on the
    frames where the target, the prediction and the previous frame are all finite."""
    model, copy = [], []
    for y, yhat in zip(ys, yhats, strict=True):
        y = np.asarray(y, float)
        last = copy_last(y)
        ok = np.isfinite(y) & np.isfinite(yhat) & np.isfinite(last)
        model.append(np.where(ok, (y - yhat) ** 2, 0.0).sum(axis=0))
        copy.append(np.where(ok, (y - last) ** 2, 0.0).sum(axis=0))
    return np.array(model), np.array(copy)


def one_step_skill(ys, yhats) -> np.ndarray:
    """Per-neuron skill of one-step predictions against copy-last, pooled over sequences, (N,).

    skill = 1 − Σ(y_t − ŷ_t)² / Σ(y_t − y_{t−1})² over the frames where both are defined: 0 is
    persistence, 1 a perfect prediction, negative worse than persistence. Unlike R² of the
    levels (≈ 0.86 for persistence at 0.6 s), it measures how much of the frame-to-frame
    change is predicted. ys, yhats: lists of (T_w, N), NaN skipped.
    """
    model, copy = _squared_errors(ys, yhats)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - model.sum(0) / copy.sum(0)


def skill_interval(ys, yhats, baseline=None, n_boot: int = 2000, seed: int = 0) -> dict:
    """Pooled one-step skill (all neurons and frames) with a bootstrap over sequences.

    Parameters
    ----------
    ys, yhats : lists of (T_w, N) targets and predictions (held-out blocks or worms).
    baseline : optional list of (T_w, N) predictions of a competing model on the same frames;
        then also the skill gain of ``yhats`` over it, paired within each resampled sequence.
    n_boot, seed : bootstrap resamples of the sequences (with replacement).

    Returns
    -------
    dict: ``skill`` and its 95% percentile interval ``skill_low``, ``skill_high``; with a
    baseline also ``gain``, ``gain_low``, ``gain_high`` and ``gain_p`` (fraction of resamples
    with gain ≤ 0, a one-sided bootstrap p-value).
    """
    model, copy = (e.sum(axis=1) for e in _squared_errors(ys, yhats))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ys), size=(n_boot, len(ys)))
    skill = 1.0 - model.sum() / copy.sum()
    boot = 1.0 - model[draws].sum(1) / copy[draws].sum(1)
    out = {"skill": float(skill), "skill_low": float(np.quantile(boot, 0.025)),
           "skill_high": float(np.quantile(boot, 0.975))}
    if baseline is not None:
        other, copy_b = (e.sum(axis=1) for e in _squared_errors(ys, baseline))
        if not np.allclose(copy, copy_b):
            raise ValueError("the baseline predicts other frames than the model: score them on the same frames")
        gain = (other.sum() - model.sum()) / copy.sum()
        boot_gain = (other[draws].sum(1) - model[draws].sum(1)) / copy[draws].sum(1)
        out.update(gain=float(gain), gain_low=float(np.quantile(boot_gain, 0.025)),
                   gain_high=float(np.quantile(boot_gain, 0.975)),
                   gain_p=float(np.mean(boot_gain <= 0)))
    return out


def connectivity_auroc(score: np.ndarray, adjacency: np.ndarray, covered: np.ndarray | None = None) -> float:
    """AUROC of a (post, pre) connection score (|W0| or P(not none)) against anatomy.

    Off-diagonal pairs only; ``covered`` (post, pre) bool restricts to pairs the anatomy covers.
    The AUROC itself is the shared ``pipelines.connectome.compare.auroc``; for the comparison
    against a degree-preserving null use ``pipelines.connectome.compare.edge_auroc``.
    """
    from pipelines.connectome.compare import auroc

    n = score.shape[0]
    keep = ~np.eye(n, dtype=bool) & np.isfinite(score)
    if covered is not None:
        keep &= covered
    truth = np.asarray(adjacency, bool)[keep]
    if truth.all() or not truth.any():
        return float("nan")
    return float(auroc(score[keep], truth))


def behaviour_statistics(labels: np.ndarray, reversal: np.ndarray, velocity: np.ndarray) -> dict:
    """How much decoded states say about behaviour: NMI(state, reversal) and velocity η².

    labels, reversal, velocity : (T,) pooled frames without NaN behaviour.
    """
    grand = velocity.mean()
    between = sum((labels == k).sum() * (velocity[labels == k].mean() - grand) ** 2 for k in np.unique(labels))
    return {
        "reversal_nmi": float(normalized_mutual_info_score(reversal.astype(int), labels)),
        "velocity_eta2": float(between / max(((velocity - grand) ** 2).sum(), 1e-12)),
    }


def behaviour_null(labels, reversal, velocity, n_shifts: int = 200, min_shift: int = 50, seed: int = 0) -> dict:
    """Behaviour statistics of decoded states against a circular-shift null.

    Each worm's state sequence is rotated in time by an independent random offset (at least
    ``min_shift`` frames from either end), which keeps the states' dwell structure and
    occupancy but breaks their alignment with the worm's behaviour.

    Parameters
    ----------
    labels, reversal, velocity : lists of (T_w,) per worm (NaN behaviour frames are skipped).

    Returns
    -------
    dict per statistic of :func:`behaviour_statistics`: ``observed``, null ``null_mean``,
    ``null_q95`` and the one-sided ``p_value`` with the +1 correction.
    """
    rng = np.random.default_rng(seed)

    def pooled(shifts):
        lab, rev, vel = [], [], []
        for w, (z, r, v) in enumerate(zip(labels, reversal, velocity, strict=True)):
            z = np.roll(np.asarray(z), shifts[w])
            ok = np.isfinite(r) & np.isfinite(v)
            lab.append(z[ok])
            rev.append(np.asarray(r)[ok])
            vel.append(np.asarray(v)[ok])
        return behaviour_statistics(np.concatenate(lab), np.concatenate(rev), np.concatenate(vel))

    observed = pooled([0] * len(labels))
    null = [pooled([int(rng.integers(min(min_shift, len(z) // 2), max(len(z) - min_shift, len(z) // 2 + 1)))
                    for z in labels]) for _ in range(n_shifts)]
    out = {}
    for name, value in observed.items():
        values = np.array([n[name] for n in null])
        out[name] = {"observed": value, "null_mean": float(values.mean()),
                     "null_q95": float(np.quantile(values, 0.95)),
                     "p_value": float((1 + np.sum(values >= value)) / (1 + values.size))}
    return out


def anatomical_adjacency(neurons, source: str = "cook2019"):
    """(post, pre) bool adjacency (chemical or gap) and coverage for the given neuron labels.

    Reads the wiring through ``pipelines.connectome.read_source``.
    """
    from pipelines.connectome import read_source

    weight = read_source(source).sel(pre=list(neurons), post=list(neurons))
    chem = weight.sel(layer="chemical").transpose("post", "pre").values
    gap = weight.sel(layer="gap").transpose("post", "pre").values
    covered = np.isfinite(chem)
    adjacency = (np.nan_to_num(chem) > 0) | (np.nan_to_num(gap) > 0)
    return adjacency, covered
