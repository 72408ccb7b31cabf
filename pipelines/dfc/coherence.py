"""Coherence: how closely each neuron moves with a component's core while the component is on.

Activation (:mod:`.activation`) ranks the neurons whose activity departs from its usual
course when a component is on. A neuron that the component's members drive through the
wiring departs too, but it follows them late and low-passed by its own dynamics; the members
share their input and move together. A neuron's coherence with a component is the Pearson
correlation, at the calcium's frame rate, of its standardized trace with the mean trace of the
component's core (the other neurons of its activation motif), over the time bins where the
component is on (time factor above its median), per worm, averaged over the worms that
record it. It is computed exactly from the per-bin moments (:mod:`.moments`):

    cov(i, j) = mean_on(z_i z_j) − mean_on(z_i) mean_on(z_j)
    coherence_i = Σ_{j∈C∖i} cov(i, j) / sqrt(var(i) · Σ_{j,k∈C∖i} cov(j, k))

``dfc.communities.motif_rule: coherence`` cuts its square, the share of the neuron's
variance that moves with the core (:func:`pipelines.dfc.communities.motif.coherence_motif`).
"""

from __future__ import annotations

import numpy as np

from pipelines.common import neuron_pairs

from .activation import MIN_BINS


def coherence(level: np.ndarray, deviation: np.ndarray, comoment: np.ndarray,
              time_factor: np.ndarray, core: np.ndarray) -> np.ndarray:
    """Coherence of every neuron with every component's core.

    Parameters
    ----------
    level, deviation : (worm, time, neuron) per-bin mean and RMS of the standardized calcium
        (:func:`~.moments.binned_moments`), NaN = not recorded.
    comoment : (worm, time, pair) per-bin mean of z_i z_j, pairs i < j over the neurons in
        the order of :func:`pipelines.common.neuron_pairs`.
    time_factor : (component, time) the components' time courses.
    core : (component, neuron) bool, each component's core (its activation motif).

    Returns
    -------
    (component, neuron) float64 in [-1, 1]; NaN where no worm has at least ``MIN_BINS`` on
    bins with the neuron and another core neuron recorded, with some variance in both.
    """
    level = np.asarray(level, dtype=np.float64)
    power = np.asarray(deviation, dtype=np.float64) ** 2
    comoment = np.asarray(comoment, dtype=np.float64)
    course = np.asarray(time_factor, dtype=np.float64)
    core = np.asarray(core, dtype=bool)
    n_worms, n_time, n_neurons = level.shape
    first, second = neuron_pairs(range(n_neurons))
    if (power.shape != level.shape or comoment.shape != (n_worms, n_time, first.size)
            or course.shape[1:] != (n_time,) or core.shape != (course.shape[0], n_neurons)):
        raise ValueError(f"level {level.shape}, deviation {power.shape}, comoment "
                         f"{comoment.shape}, time factor {course.shape} and core {core.shape} "
                         "do not share worms, time and neurons")
    on = course > np.median(course, axis=1, keepdims=True)  # (component, time)
    usable = np.flatnonzero((on.sum(axis=1) >= MIN_BINS) & (core.sum(axis=1) >= 2))
    on = on.astype(np.float64)
    total = np.zeros(core.shape)
    count = np.zeros(core.shape)
    for w in range(n_worms):  # masked sums over the on bins of all components at once
        mean = _on_mean(on, level[w])  # (component, neuron)
        square = _on_mean(on, power[w])
        product = _on_mean(on, comoment[w])  # (component, pair)
        bins = on @ np.isfinite(level[w])  # (component, neuron)
        for c in usable:
            cov = np.full((n_neurons, n_neurons), np.nan)
            cov[first, second] = product[c] - mean[c, first] * mean[c, second]
            cov[second, first] = cov[first, second]
            cov[np.diag_indices(n_neurons)] = square[c] - mean[c] ** 2
            recorded = bins[c] >= MIN_BINS
            r = _with_core(cov, core[c] & recorded)
            valid = np.isfinite(r) & recorded
            total[c] += np.where(valid, r, 0.0)
            count[c] += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _on_mean(on: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(component, K) mean of ``values`` (time, K) over each component's on bins ``on``
    (component, time) of 0/1, ignoring NaN; NaN where there is none."""
    seen = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (on @ np.where(seen, values, 0.0)) / (on @ seen)


def _with_core(cov: np.ndarray, core: np.ndarray) -> np.ndarray:
    """(N,) correlation of each neuron with the sum of the core's other neurons, from the
    covariance ``cov`` (N, N) (NaN rows: not recorded)."""
    block = np.nan_to_num(cov[np.ix_(core, core)])
    within = block.sum()
    variance = np.diag(cov)
    to_core = np.nan_to_num(cov[:, core]).sum(axis=1)  # includes the neuron itself if in core
    mine = np.where(core, variance, 0.0)
    shared = to_core - mine
    rest = within - np.where(core, 2 * shared + mine, 0.0)  # the core's sum without it
    others = core.sum() - core.astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = shared / np.sqrt(variance * rest)
    return np.where((others > 0) & (variance > 0) & (rest > 0), r, np.nan)
