"""The time x worm x pair affinity tensor of one recording collection, with its mask.

Per-batch affinities (``batch_affinity``) are joined over worms on the union of their neuron
pairs (a pair absent from a batch is masked, not zero), optionally re-timed so that worms
sharing a protocol line up (a per-worm offset, or a stimulus schedule re-ordered into one
canonical epoch order), optionally binned in time, and flattened to ``(time, worm, pair)``
with the two sign channels of ``sign_mode="split"`` stacked along ``pair``.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from pipelines.common import NEURON_INDEX, get_logger

log = get_logger(__name__)

_TIME_DECIMALS = 6
MOMENTS = ("level", "deviation", "comoment")
"""Per-bin moments of the calcium that travel with the affinity (:mod:`.moments`)."""
PAIR_MOMENTS = ("comoment",)


def bin_time(affinity: xr.DataArray, width: float) -> xr.DataArray:
    """Average over consecutive time bins of ``width`` seconds (NaN-aware; trailing partial
    bin dropped). The new ``time`` coordinate is each bin's mean time. ``width`` at or below
    the grid step returns the input unchanged."""
    time = affinity["time"].values
    if width <= 0 or time.size < 2:
        return affinity
    n = int(round(width / float(np.median(np.diff(time)))))
    if n <= 1:
        return affinity
    binned = affinity.coarsen(time=n, boundary="trim").mean()  # NaN-aware for floats
    return binned.assign_coords(time=np.round(binned["time"].values, _TIME_DECIMALS))


def join_batches(batches: list[xr.Dataset]) -> xr.Dataset:
    """Concatenate per-batch affinity datasets over worms on the union of their pairs.

    Each batch has its own recorded neurons; the union is put in canonical neuron order and
    every batch is re-indexed onto its pairs (NaN where a batch lacks a neuron) and onto the
    union of time points (NaN after a worm's recording ends). The batches' moments
    (``MOMENTS``: per neuron or, ``comoment``, per pair) are joined the same way, each when
    every batch has it.
    """
    if not batches:
        raise ValueError("no affinity batches to join")
    names = sorted({str(n) for ds in batches for key in ("neuron_1", "neuron_2")
                    for n in ds[key].values}, key=NEURON_INDEX.get)
    rank = {n: k for k, n in enumerate(names)}
    first, second = np.triu_indices(len(names), k=1)
    index = {(int(a), int(b)): p for p, (a, b) in enumerate(zip(first, second, strict=True))}
    time = np.unique(np.concatenate([np.round(ds["time"].values, _TIME_DECIMALS)
                                     for ds in batches]))
    time_index = [np.searchsorted(time, np.round(ds["time"].values, _TIME_DECIMALS))
                  for ds in batches]
    where = [np.array([index[(rank[str(a)], rank[str(b)])] for a, b in
                       zip(ds["neuron_1"].values, ds["neuron_2"].values, strict=True)])
             for ds in batches]

    def onto_union(name: str) -> xr.DataArray:
        """One pair-indexed variable (worm, ..., time, pair) of every batch on the union of
        time points and pairs."""
        parts = []
        for ds, t, p in zip(batches, time_index, where, strict=True):
            da = ds[name].transpose("worm", ..., "time", "pair")
            values = np.full((*da.shape[:-2], time.size, first.size), np.nan, dtype=np.float32)
            values[..., t[:, None], p[None, :]] = da.values
            parts.append(xr.DataArray(values, dims=da.dims,
                                      coords={d: ds[d] for d in da.dims[:-2] if d in ds.coords}))
        return xr.concat(parts, dim="worm")

    affinity = onto_union("affinity")
    if len(set(affinity["worm"].values)) != affinity.sizes["worm"]:
        raise ValueError("the same worm id appears in several affinity batches")
    joined = xr.Dataset(
        {"affinity": affinity},
        coords={"time": time, "pair": np.arange(first.size),
                "neuron_1": ("pair", np.array(names)[first]),
                "neuron_2": ("pair", np.array(names)[second])},
        attrs=batches[0].attrs,
    )
    for name in MOMENTS:  # files written before the moments have none (or only deviation)
        if not all(name in ds for ds in batches):
            continue
        if name in PAIR_MOMENTS:
            joined[name] = onto_union(name)
        else:
            joined[name] = xr.concat(
                [ds[name].assign_coords(time=np.round(ds["time"].values, _TIME_DECIMALS))
                 .reindex(time=time, neuron=names) for ds in batches], dim="worm"
            ).transpose("worm", "time", "neuron").astype(np.float32)
    return joined


def align_offsets(affinity: xr.DataArray, offsets: dict[str, float]) -> xr.DataArray:
    """Shift each worm's time axis: time ``t`` of worm ``w`` becomes ``t - offsets[w]``
    (seconds, rounded to the grid step; worms not listed are not shifted). The result covers
    the union of the shifted axes, NaN where a worm has no data."""
    da = affinity.transpose("worm", "time", ...)
    time = da["time"].values
    step = float(np.median(np.diff(time)))
    shifts = [int(round(offsets.get(str(w), 0.0) / step)) for w in da["worm"].values]
    lo, hi = min(0, -max(shifts)), time.size + max(0, -min(shifts))
    values = np.full((da.sizes["worm"], hi - lo, *da.shape[2:]), np.nan, dtype=np.float32)
    for k, shift in enumerate(shifts):
        values[k, -shift - lo: -shift - lo + time.size] = da.values[k]
    new_time = np.round(time[0] + step * np.arange(lo, hi), _TIME_DECIMALS)
    out = xr.DataArray(values, dims=da.dims,
                       coords={**{d: da[d] for d in da.dims if d != "time" and d in da.coords},
                               "time": new_time})
    return out.transpose(*affinity.dims)


def align_schedule(affinity: xr.DataArray, schedule: dict[str, dict[str, list[float]]],
                   order: list[str], pre: float = 0.0, post: float = 0.0) -> xr.DataArray:
    """Re-order each worm's stimulus epochs into one canonical order.

    Parameters
    ----------
    affinity : DataArray with dims worm and time (seconds).
    schedule : worm -> epoch name -> [start, end] seconds in that worm's own time.
    order : canonical epoch order; every worm must list every epoch.
    pre, post : seconds kept before each epoch's start and after its end.

    Returns
    -------
    DataArray on a new time axis (seconds from the start of the canonical sequence) with an
    ``epoch`` coordinate along time. Each epoch window lasts the longest duration over worms
    plus ``pre + post``; shorter worms are NaN-padded.
    """
    time = affinity["time"].values
    step = float(np.median(np.diff(time)))
    worms = [str(w) for w in affinity["worm"].values]
    missing = [(w, e) for w in worms for e in order if e not in schedule.get(w, {})]
    if missing:
        raise ValueError(f"stimulus schedule lacks (worm, epoch) {missing[:5]}; "
                         "give every worm every epoch of tensor.align.order")
    pieces, labels = [], []
    for epoch in order:
        length = int(round((max(schedule[w][epoch][1] - schedule[w][epoch][0] for w in worms)
                            + pre + post) / step))
        window = np.full(affinity.transpose("worm", ...).shape[:1] + (length,)
                         + tuple(s for d, s in affinity.sizes.items() if d not in ("worm", "time")),
                         np.nan, dtype=np.float32)
        for k, worm in enumerate(worms):
            start = int(np.searchsorted(time, schedule[worm][epoch][0] - pre - 1e-9))
            chunk = affinity.isel(worm=k, time=slice(start, start + length)).transpose("time", ...)
            window[k, : chunk.sizes["time"]] = chunk.values
        pieces.append(window)
        labels += [epoch] * length
    others = [d for d in affinity.dims if d not in ("worm", "time")]
    values = np.concatenate(pieces, axis=1)
    out = xr.DataArray(values, dims=("worm", "time", *others),
                       coords={"worm": affinity["worm"].values,
                               **{d: affinity[d] for d in others},
                               "time": np.round(step * np.arange(values.shape[1]), _TIME_DECIMALS),
                               "epoch": ("time", labels)})
    return out.transpose(*affinity.dims)


def build_tensor(affinity: xr.Dataset, min_coverage: float = 0.5, min_worms: int = 2) -> xr.Dataset:
    """Flatten joined affinities into the NTF tensor.

    Parameters
    ----------
    affinity : Dataset from :func:`join_batches` (after alignment/binning): ``affinity``
        (worm, channel, time, pair).
    min_coverage : keep pairs observed (any finite time point) in at least this fraction of
        worms; pairs observed in no worm are always dropped, and reported.
    min_worms : fewest worms a tensor may have: 2 to fit components, 1 to map new worms onto
        fixed components.

    Returns
    -------
    Dataset with ``affinity`` (time, worm, pair) float32, NaN where masked (channels of
    ``split`` stacked along pair: coords ``channel``, ``neuron_1``, ``neuron_2`` on pair) and
    ``mask`` (time, worm, pair) bool, True where observed, and, those of ``MOMENTS`` that
    ``affinity`` has, over the tensor's time points and neurons: ``level``, ``deviation``
    (worm, time, neuron) and ``comoment`` (worm, time, neuron_pair), the pairs i < j of the
    tensor's neurons (``deviation``'s ``neuron``) in :func:`pipelines.common.neuron_pairs`
    order. Time points observed in no worm are dropped.

    Raises
    ------
    ValueError
        if no pair or fewer than ``min_worms`` worms remain.
    """
    da = affinity["affinity"].stack(cpair=("channel", "pair")).transpose("time", "worm", "cpair")
    observed = da.notnull()
    coverage = observed.any("time").mean("worm")
    never = int((coverage == 0).sum())
    keep = (coverage >= min_coverage) & (coverage > 0)
    if never:
        log.warning("tensor: dropping %d all-NaN pairs (no worm records both neurons)", never)
    log.info("tensor: keeping %d of %d pairs observed in >= %.0f%% of worms",
             int(keep.sum()), keep.size, 100 * min_coverage)
    if not bool(keep.any()):
        raise ValueError(f"no neuron pair is observed in >= {min_coverage:.0%} of the "
                         f"{da.sizes['worm']} worms; lower tensor.min_coverage or add worms")
    da = da.isel(cpair=np.flatnonzero(keep.values))
    da = da.isel(time=np.flatnonzero(da.notnull().any(("worm", "cpair")).values))
    if da.sizes["worm"] < min_worms:
        raise ValueError(f"the tensor needs at least {min_worms} worms, got {da.sizes['worm']}")
    pairs = da["cpair"].to_index()
    channel = pairs.get_level_values("channel")
    pair = pairs.get_level_values("pair")
    neuron_1 = affinity["neuron_1"].sel(pair=pair).values
    neuron_2 = affinity["neuron_2"].sel(pair=pair).values
    da = da.drop_vars(["cpair", "channel", "pair", "neuron_1", "neuron_2"], errors="ignore")
    values = da.values.astype(np.float32)
    out = xr.Dataset(
        {"affinity": (("time", "worm", "pair"), values),
         "mask": (("time", "worm", "pair"), np.isfinite(values))},
        coords={"time": da["time"].values, "worm": da["worm"].values,
                "pair": np.arange(values.shape[2]), "channel": ("pair", np.asarray(channel)),
                "neuron_1": ("pair", neuron_1), "neuron_2": ("pair", neuron_2)},
        attrs=affinity.attrs,
    )
    if "epoch" in da.coords:
        out = out.assign_coords(epoch=("time", da["epoch"].values))
    neurons = sorted(set(map(str, neuron_1)) | set(map(str, neuron_2)), key=NEURON_INDEX.get)
    for name in MOMENTS:
        if name not in affinity:
            continue
        moment = affinity[name].sel(time=out["time"].values, worm=out["worm"].values)
        if name in PAIR_MOMENTS:  # the pairs among the tensor's neurons, in their triu order
            among = (np.isin(affinity["neuron_1"].values, neurons)
                     & np.isin(affinity["neuron_2"].values, neurons))
            moment = moment.isel(pair=np.flatnonzero(among)).drop_vars(
                ["pair", "neuron_1", "neuron_2"], errors="ignore").rename(pair="neuron_pair")
            dims = ("worm", "time", "neuron_pair")
        else:
            moment = moment.sel(neuron=neurons)
            dims = ("worm", "time", "neuron")
        out[name] = moment.transpose(*dims).drop_vars("epoch", errors="ignore")
    return out


BASELINES = ("none", "pair_median", "pair_zscore")


def remove_pair_baseline(values: np.ndarray, mode: str = "pair_zscore") -> np.ndarray:
    """Keep each pair's time-varying excess affinity, per worm.

    Parameters
    ----------
    values : (time, worm, pair) affinities, NaN = masked.
    mode : ``none`` (the paper: raw affinities); ``pair_median``: minus the pair's median
        over time in that worm; ``pair_zscore``: minus the pair's mean over time in that
        worm, divided by its SD over time in that worm (a constant pair scores 0). Both are
        clipped at 0, so the tensor stays non-negative.

    Returns
    -------
    (time, worm, pair) float32, NaN where ``values`` is NaN.

    Why: pairs of state-driven neurons (e.g. the reversal circuit) fluctuate far more than
    any other pair, but on each worm's own clock; in the raw tensor they dominate the squared
    error and the NTF spends its components on them. In SD units every pair weighs the same,
    and only changes shared across worms at the same time form a low-rank structure.
    """
    if mode not in BASELINES:
        raise ValueError(f"unknown tensor.baseline '{mode}' ({', '.join(BASELINES)})")
    if mode == "none":
        return values
    observed = np.isfinite(values)
    data = values.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # fibres of unrecorded pairs: all NaN
        if mode == "pair_median":
            excess = data - np.nanmedian(np.where(observed, data, np.nan), axis=0,
                                         keepdims=True)
        else:
            spread = np.nanstd(data, axis=0, keepdims=True)
            excess = (data - np.nanmean(data, axis=0, keepdims=True)) / spread
            excess = np.where(spread > 0, excess, 0.0)
    out = np.clip(excess, 0.0, None).astype(np.float32)
    out[~observed] = np.nan
    return out


def pair_matrix(pair_factor: np.ndarray, neuron_1, neuron_2) -> xr.DataArray:
    """(component, pre, post) symmetric matrix from (component, P) pair weights; repeated
    pairs (sign channels) are summed; diagonal 0, NaN for pairs absent."""
    names = sorted(set(map(str, neuron_1)) | set(map(str, neuron_2)), key=NEURON_INDEX.get)
    index = {n: k for k, n in enumerate(names)}
    i = np.array([index[str(n)] for n in neuron_1])
    j = np.array([index[str(n)] for n in neuron_2])
    out = np.full((pair_factor.shape[0], len(names), len(names)), np.nan, dtype=np.float32)
    out[:, i, j] = 0.0
    np.add.at(out, (slice(None), i, j), pair_factor)
    out[:, j, i] = out[:, i, j]
    out[:, np.arange(len(names)), np.arange(len(names))] = 0.0
    return xr.DataArray(out, dims=("component", "pre", "post"),
                        coords={"pre": names, "post": names})
