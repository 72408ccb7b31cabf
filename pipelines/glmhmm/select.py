"""Choice of the number of states K by held-out marginal log-likelihood.

Two splits, both scored per observed value (frame × neuron, nats):

- held-out time blocks: each worm is cut into blocks of ``block`` frames; a random
  ``heldout_fraction`` of the blocks (at least one per worm) is held out. Every contiguous run
  of blocks becomes its own sequence, so the model never sees held-out frames, not even as
  history. With ``folds`` > 1 this is cross-validation instead: every block is held out once
  (blocks dealt to folds at random per worm) and the curve pools all folds, so rare states
  that fall in few blocks weigh less on the choice.
- held-out worms: leave-one-worm-out, each worm scored by a model fitted on the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

from pipelines.common import get_logger

log = get_logger(__name__)

__all__ = ["block_split", "block_folds", "segments", "split_worms", "heldout_curve", "choose_k"]


def block_split(length: int, block: int, heldout_fraction: float, rng) -> np.ndarray:
    """(length,) bool, True on training frames: contiguous blocks assigned at random."""
    n_blocks = max(-(-length // block), 2)
    n_test = int(np.clip(round(heldout_fraction * n_blocks), 1, n_blocks - 1))
    test_blocks = rng.choice(n_blocks, n_test, replace=False)
    train = np.ones(n_blocks, bool)
    train[test_blocks] = False
    return np.repeat(train, -(-length // n_blocks))[:length]


def block_folds(length: int, block: int, folds: int, rng) -> np.ndarray:
    """(length,) int fold of every frame: contiguous blocks dealt to ``folds`` folds at random,
    as evenly as the number of blocks allows (every fold gets a block when there are enough)."""
    n_blocks = max(-(-length // block), folds)
    fold_of_block = rng.permutation(n_blocks) % folds
    return np.repeat(fold_of_block, -(-length // n_blocks))[:length]


def segments(y: np.ndarray, keep: np.ndarray, min_length: int = 2) -> list[np.ndarray]:
    """Contiguous runs of frames where ``keep`` is True, as separate (T_s, N) arrays."""
    edges = np.flatnonzero(np.diff(np.r_[0, keep.astype(int), 0]))
    return [y[a:b] for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= min_length]


def split_worms(worms, recorded, train_masks):
    """Train and test segment lists (with their recorded masks) from per-worm train masks."""
    train, train_rec, test, test_rec = [], [], [], []
    for y, rec, mask in zip(worms, recorded, train_masks, strict=True):
        for seg in segments(y, mask):
            train.append(seg)
            train_rec.append(rec)
        for seg in segments(y, ~mask):
            test.append(seg)
            test_rec.append(rec)
    return train, np.array(train_rec), test, np.array(test_rec)


def heldout_curve(
    worms: Sequence[np.ndarray],
    recorded: np.ndarray,
    n_states: Sequence[int],
    make_model: Callable[[int], object],
    block: int = 100,
    heldout_fraction: float = 0.2,
    heldout_worms: bool = True,
    seed: int = 0,
    folds: int = 1,
) -> xr.Dataset:
    """Held-out log-likelihood of each K on time blocks and (optionally) left-out worms.

    Parameters
    ----------
    worms : list of (T_w, N) z-scored arrays; recorded : (W, N) bool.
    make_model : K -> unfitted estimator with ``fit(worms, recorded)`` and ``loglik``.
    folds : 1 holds out ``heldout_fraction`` of the blocks once; more cross-validates over
        that many folds of blocks (``heldout_fraction`` is then unused).

    Returns
    -------
    Dataset over ``n_states``: ``heldout_loglik`` (time blocks, pooled over folds),
    ``heldout_fold_loglik`` (n_states, fold), ``heldout_worm_loglik`` (leave-one-worm-out;
    NaN when off or with one worm), ``train_objective`` (first fold), ``n_unused`` (states
    below the occupancy threshold in any fold), all per observed value in nats.
    """
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    rng = np.random.default_rng(seed)
    if folds == 1:
        splits = [[block_split(len(y), block, heldout_fraction, rng) for y in worms]]
    else:
        fold_of = [block_folds(len(y), block, folds, rng) for y in worms]
        splits = [[f != fold for f in fold_of] for fold in range(folds)]
    splits = [split_worms(worms, recorded, masks) for masks in splits]
    values = {name: np.full(len(n_states), np.nan) for name in
              ("heldout_loglik", "heldout_worm_loglik", "train_objective", "n_unused")}
    per_fold = np.full((len(n_states), folds), np.nan)
    for i, k in enumerate(n_states):
        total, count, unused = 0.0, 0, 0
        try:
            for f, (train, train_rec, test, test_rec) in enumerate(splits):
                model = make_model(k).fit(train, train_rec)
                marginal, n_obs = model.loglik(test, test_rec)
                per_fold[i, f] = marginal.sum() / n_obs.sum()
                total, count = total + marginal.sum(), count + n_obs.sum()
                unused = max(unused, model.unused_states_.size)
                if f == 0:
                    values["train_objective"][i] = model.objective_[-1] / max(sum(np.isfinite(s).sum() for s in train), 1)
        except ValueError as err:  # K not supported by this much data: a gap in the curve
            log.warning("K=%d skipped: %s", k, err)
            per_fold[i] = np.nan
            continue
        values["heldout_loglik"][i] = total / count
        values["n_unused"][i] = unused
        if heldout_worms and len(worms) > 1:
            total, count = 0.0, 0
            for w in range(len(worms)):
                rest = [y for j, y in enumerate(worms) if j != w]
                fitted = make_model(k).fit(rest, np.delete(recorded, w, axis=0))
                marginal, n_obs = fitted.loglik([worms[w]], recorded[w : w + 1])
                total += marginal.sum()
                count += n_obs.sum()
            values["heldout_worm_loglik"][i] = total / count
        log.info("K=%d: held-out loglik %.4f (blocks), %.4f (worms) nats per value", k,
                 values["heldout_loglik"][i], values["heldout_worm_loglik"][i])
    ds = xr.Dataset({name: ("n_states", v) for name, v in values.items()},
                    coords={"n_states": np.asarray(n_states)})
    ds["heldout_fold_loglik"] = (("n_states", "fold"), per_fold)
    ds["heldout_fold_loglik"].attrs.update(units="nats per observed value",
                                           description="held-out time-block log-likelihood of each fold")
    ds["heldout_loglik"].attrs.update(units="nats per observed value",
                                      description="marginal log-likelihood of held-out time blocks")
    ds["heldout_worm_loglik"].attrs.update(units="nats per observed value",
                                           description="leave-one-worm-out marginal log-likelihood")
    ds["train_objective"].attrs.update(units="nats per observed value",
                                       description="final penalised training objective (log-lik + log-prior)")
    ds["n_unused"].attrs["description"] = "states with occupancy below min_occupancy"
    ds.attrs.update(block=block, heldout_fraction=heldout_fraction, seed=seed, folds=folds)
    return ds


def choose_k(curve: xr.Dataset, tolerance: float = 0.005) -> int:
    """Smallest K whose held-out time-block log-likelihood is within ``tolerance`` (nats per
    value) of the best, among fits without unused states (parsimony over noise-level gains)."""
    ok = np.isfinite(curve["heldout_loglik"].values) & (curve["n_unused"].values == 0)
    if not ok.any():
        raise ValueError("no K in the sweep gave a usable fit; lower the smallest n_states")
    scores = np.where(ok, curve["heldout_loglik"].values, -np.inf)
    good = ok & (scores >= scores.max() - tolerance)
    return int(curve["n_states"].values[np.flatnonzero(good)[0]])
