"""Per-bin moments of each worm's standardized calcium, on the affinity's time grid.

A neuron's trace in one worm is standardized over the whole recording, z = (x − mean) / SD.
In every time bin of the affinity (:func:`~.tensor.bin_time`) the stage keeps

* ``level``: the bin mean of z (where the neuron sits relative to its usual activity);
* ``deviation``: the root-mean-square of z (how far it departs from its usual activity, by a
  level change or by larger fluctuation);
* ``comoment``: the bin mean of z_i z_j for every pair (how two neurons move together).

They are sums over frames, so the covariance of any two neurons over any union of bins (for
example the bins where a component is on) follows from them exactly, at the frame rate,
whichever bins are chosen later (:mod:`.coherence`). They travel with the affinity through
joining, alignment and the tensor.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from pipelines.common import neuron_pairs


def binned_moments(calcium: xr.DataArray, time_bin: float = 0.0,
                   time: np.ndarray | None = None) -> xr.Dataset:
    """Level, deviation and pair co-moments of the standardized calcium, per time bin.

    Parameters
    ----------
    calcium : (worm, neuron, time) homogenized calcium, NaN where not recorded.
    time_bin : bin width (s), as the affinity's; 0: per sample.
    time : the affinity's time points (s) when they are not the binned calcium's own
        (windowed correlation scores window centres): linear interpolation onto them.

    Returns
    -------
    Dataset on (worm, time, neuron) and (worm, time, pair), float32, in SD units of each
    worm's trace: ``level`` mean z, ``deviation`` sqrt(mean z²), ``comoment`` mean z_i z_j
    over the frames where both are recorded, pairs i < j in the order of
    :func:`pipelines.common.neuron_pairs` over ``calcium``'s neurons. NaN where a neuron is
    not recorded (or, for a constant trace, has no SD).
    """
    from .tensor import bin_time

    calcium = calcium.transpose("worm", "time", "neuron").astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # neurons never recorded
        spread = calcium.std("time")
        z = (calcium - calcium.mean("time")) / spread.where(spread > 0)
    level = bin_time(z, time_bin).astype(np.float32)
    deviation = np.sqrt(bin_time(z * z, time_bin)).astype(np.float32)
    comoment = np.empty((*level.shape[:2], len(neuron_pairs(calcium["neuron"].values)[0])),
                        np.float32)
    product = np.empty((z.sizes["time"], comoment.shape[2]), np.float32)
    for w in range(z.sizes["worm"]):  # one worm at a time: (time, pair) fits in memory
        worm = z.isel(worm=w).values.astype(np.float32)
        start = 0
        for i in range(worm.shape[1] - 1):  # row i of the upper triangle: pairs (i, i+1..)
            stop = start + worm.shape[1] - 1 - i
            np.multiply(worm[:, i:i + 1], worm[:, i + 1:], out=product[:, start:stop])
            start = stop
        comoment[w] = bin_time(xr.DataArray(product, dims=("time", "pair"),
                                            coords={"time": z["time"].values}), time_bin).values
    moments = xr.Dataset({"level": level, "deviation": deviation,
                          "comoment": (("worm", "time", "pair"), comoment)})
    if time is not None and not np.array_equal(moments["time"].values, time):
        moments = moments.interp(time=time).astype(np.float32)
    return moments
