"""Consensus across electron-microscopy connectomes: mean weight, agreement and spread.

For every (layer, pre, post) pair only the sources that cover both neurons take part
(NaN entries are "not covered", never "no synapse"):

- ``weight``: mean of the covering sources' weights (raw synapse counts, as upstream);
- ``n_sources``: how many sources cover the pair;
- ``n_agree``: how many covering sources report a connection (weight > 0);
- ``spread``: standard deviation (ddof=0) of the covering sources' weights, the uncertainty
  of the mean; 0 with a single covering source, NaN with none.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr


def consensus(weights: xr.DataArray, dim: str = "source") -> xr.Dataset:
    """Consensus of stacked connectomes.

    Parameters
    ----------
    weights
        float (source, layer, pre, post) (any extra dims are kept), NaN where not covered.
    dim
        The dimension to reduce.

    Returns
    -------
    Dataset with ``weight`` and ``spread`` (float32) and ``n_sources``, ``n_agree`` (int16),
    each with ``weights``' dims minus ``dim``.
    """
    if weights.sizes.get(dim, 0) == 0:
        raise ValueError(f"consensus needs at least one source along '{dim}'")
    covered = weights.notnull()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN pairs -> NaN
        mean = weights.mean(dim, skipna=True)
        spread = weights.std(dim, skipna=True, ddof=0)
    return xr.Dataset(
        {
            "weight": mean.astype(np.float32),
            "spread": spread.astype(np.float32),
            "n_sources": covered.sum(dim).astype(np.int16),
            "n_agree": (weights > 0).sum(dim).astype(np.int16),
        }
    )
