"""Directed connectivity read from attention and scored against the anatomical connectome
(Cook 2019) and the functional atlas (Randi 2023).

Attention of a receiving neuron's token (query, ``post``) to a sending neuron's token (key,
``pre``) is averaged over heads, layers and windows. It is scored as a ranking of edges:
AUROC of the attention weight for "pre -> post is an edge of the reference", over ordered
pairs of distinct neurons recorded together and covered by the reference, against a null of
degree-preserving shuffles of the reference graph (in- and out-degrees kept), which removes
the credit a hub-heavy score gets for free.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from pipelines.common import NEURON_INDEX, NEURONS, get_logger
from pipelines.connectome.compare import STATISTICS, edge_auroc

log = get_logger(__name__)

REFERENCES = {
    "cook2019_chemical": ("cook2019", "chemical"),
    "cook2019_gap": ("cook2019", "gap"),
    "randi2023": ("randi2023", "chemical"),
}
"""Reference name -> (connectome source, layer)."""



def attention_matrix(total: np.ndarray, count: np.ndarray, neurons) -> xr.DataArray:
    """Mean attention (post, pre) on the canonical 300 neurons; NaN where never recorded
    together (and on the diagonal, which is self-attention, not connectivity)."""
    n = len(NEURONS)
    out = np.full((n, n), np.nan, np.float32)
    slots = np.array([NEURON_INDEX[x] for x in neurons])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    out[np.ix_(slots, slots)] = mean
    np.fill_diagonal(out, np.nan)
    return xr.DataArray(out, dims=("post", "pre"), coords={"post": list(NEURONS), "pre": list(NEURONS)},
                        name="attention", attrs={"description": "mean attention of the receiving "
                        "neuron's token (post) to the sending neuron's token (pre)"})


def reference_matrices(connectomes_path: str | os.PathLike | None = None) -> dict:
    """Reference name -> (post, pre) float matrix on the canonical neurons (NaN = uncovered).

    Reads the connectome stage's store when given and it holds the source, else
    ``pipelines.connectome.read_source``; a source that cannot be read is skipped with a
    warning (e.g. randi2023 without the optional wormneuroatlas package).
    """
    store = None
    if connectomes_path and Path(connectomes_path).is_file():
        with xr.open_dataset(connectomes_path) as ds:
            store = ds["weight"].load()
    out, cache = {}, {}
    for name, (source, layer) in REFERENCES.items():
        if store is not None and source in store["source"].values:
            weight = store.sel(source=source)
        else:
            if source not in cache:
                try:
                    from pipelines.connectome import read_source

                    cache[source] = read_source(source)
                except Exception as error:  # optional sources may be unavailable
                    log.warning("connectivity reference %s unavailable: %s", source, error)
                    cache[source] = None
            weight = cache[source]
        if weight is None:
            continue
        matrix = weight.sel(layer=layer).transpose("post", "pre").reindex(
            post=list(NEURONS), pre=list(NEURONS)).values.astype(float)
        if np.isfinite(matrix).any():
            out[name] = matrix
    return out


def score_against_references(attention: xr.DataArray, connectomes_path=None, n_null: int = 100,
                             seed: int = 0, label: str = "attention") -> dict:
    """:func:`edge_auroc` of a (post, pre) map against every available reference."""
    score = attention.transpose("post", "pre").values.astype(float)
    scores = {}
    for name, matrix in reference_matrices(connectomes_path).items():
        scores[name] = edge_auroc(score, matrix, n_null=n_null, seed=seed)
        log.info("%s vs %s: AUROC %.3f (null %.3f +- %.3f, p %.3f, %d pairs)", label, name,
                 scores[name]["auroc"], scores[name]["null_mean"], scores[name]["null_sd"],
                 scores[name]["p_value"], scores[name]["n_pairs"])
    return scores


def correlation_sums(activity: np.ndarray, present: np.ndarray, blocks: np.ndarray):
    """|Pearson r| between frame-to-frame changes of co-recorded neurons within ``blocks``,
    summed over worms, with counts: the baseline map attention is compared with.

    activity (W, T, N), present (W, N), blocks (W, 2) -> (sum (N, N), count (N, N)).
    """
    n = activity.shape[2]
    total, count = np.zeros((n, n)), np.zeros((n, n))
    for w, (start, stop) in enumerate(blocks):
        keep = np.flatnonzero(present[w])
        if stop - start < 3 or len(keep) < 2:
            continue
        change = np.diff(activity[w, start:stop][:, keep], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.abs(np.corrcoef(change.T))
        total[np.ix_(keep, keep)] += np.nan_to_num(r)
        count[np.ix_(keep, keep)] += np.isfinite(r)
    return total, count


def as_variables(scores: dict, prefix: str = "attention") -> dict:
    """``{prefix}_auroc`` (reference) and ``{prefix}_auroc_stats`` (reference, statistic)."""
    names = list(scores) or ["none"]
    table = np.array([[scores.get(n, {}).get(s, np.nan) for s in STATISTICS] for n in names], float)
    stats = xr.DataArray(table, dims=("reference", "statistic"),
                         coords={"reference": names, "statistic": list(STATISTICS)})
    return {f"{prefix}_auroc": stats.sel(statistic="auroc", drop=True),
            f"{prefix}_auroc_stats": stats}
