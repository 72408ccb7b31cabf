"""Activation: how closely each neuron's departure from its usual activity follows each
component's time course.

The pair factor of a component says which pairs co-fluctuate when it is on; the affinity
behind it is built from co-monotonic segments of the derivatives, so it is blind to a change
of activity *level*: a neuron that a stimulus drives up and holds there, or into saturation,
changes level more than it co-fluctuates with the others. A neuron's deviation in a time bin
is the root-mean-square of its standardized calcium (distance from its own mean over the
recording, in SDs; :func:`~.moments.binned_moments`); it grows when the neuron rises, falls or
fluctuates more than usual. Its activation by a component is
the Pearson correlation of that deviation with the component's time factor, per worm,
averaged over the worms that record it: near 0 for a neuron the component does not involve,
positive for one that departs from its usual activity while the component is on.
``dfc.communities.motif_rule: activation`` cuts it into the component's motif
(:func:`pipelines.dfc.communities.motif.activation_motif`), and that cut is the core that
:mod:`.coherence` measures every neuron against.
"""

from __future__ import annotations

import warnings

import numpy as np

MIN_BINS = 3  # fewest finite time bins for a worm's correlation to count


def activation(activity: np.ndarray, time_factor: np.ndarray) -> np.ndarray:
    """Correlation of every neuron's activity (deviation) with every component's time course.

    Parameters
    ----------
    activity : (worm, time, neuron) a per-neuron signal on the tensor's time grid (the
        ``deviation`` of :func:`~.moments.binned_moments`), NaN = not recorded.
    time_factor : (component, time) the components' time courses.

    Returns
    -------
    (component, neuron) float64 in [-1, 1]: per worm, the Pearson correlation over the time
    bins where the neuron is recorded (at least ``MIN_BINS``, with some variance in both the
    neuron and the time course there), averaged over those worms; NaN where no worm
    qualifies.
    """
    activity = np.asarray(activity, dtype=np.float64)
    course = np.asarray(time_factor, dtype=np.float64)
    if activity.ndim != 3 or course.ndim != 2 or activity.shape[1] != course.shape[1]:
        raise ValueError(f"activity (worm, time, neuron) {activity.shape} and time factor "
                         f"(component, time) {course.shape} do not share the time axis")
    total = np.zeros((course.shape[0], activity.shape[2]))
    count = np.zeros_like(total)
    for level in activity:  # one worm: masked sums over the bins each neuron is recorded in
        seen = np.isfinite(level)
        x = np.where(seen, level, 0.0)
        n = seen.sum(axis=0).astype(float)
        sx, sxx = x.sum(axis=0), (x * x).sum(axis=0)
        sl, sll, sxl = course @ seen, (course * course) @ seen, course @ x
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = (n * sxl - sx * sl) / np.sqrt((n * sxx - sx * sx) * (n * sll - sl * sl))
        valid = (n >= MIN_BINS) & np.isfinite(r)  # (component, neuron)
        total += np.where(valid, r, 0.0)
        count += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)
