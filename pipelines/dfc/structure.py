"""How a component's pair weights relate to the anatomical connectome.

For every component, the AUROC with which its pair weights separate anatomically connected
pairs (any chemical synapse or gap junction, either direction, in the chosen source, by
default Cook et al. 2019) from unconnected ones, over the pairs of the tensor whose two
neurons the source covers, against degree-preserving rewirings of the undirected anatomical
graph among those pairs. The statistic is the pipeline's one function-versus-structure score,
:func:`pipelines.connectome.compare.edge_auroc` (``symmetric=True``), so ``ntf.nc`` and the
atlas report the same numbers.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from pipelines.common import get_logger
from pipelines.connectome.compare import edge_auroc

from .tensor import pair_matrix

log = get_logger(__name__)


def anatomy_overlap(pair_weight: np.ndarray, neuron_1, neuron_2, weight: xr.DataArray,
                    n_shuffles: int = 100, seed: int = 0) -> xr.Dataset:
    """AUROC of each component's pair weights for anatomical edges, against a degree-preserving
    shuffle null.

    Parameters
    ----------
    pair_weight : (R, P) non-negative pair factor of each component.
    neuron_1, neuron_2 : (P,) pair neuron names (a pair may repeat across sign channels; its
        weights are summed).
    weight : connectome DataArray (layer, pre, post) from ``read_source``, NaN where the
        source does not cover a neuron.
    n_shuffles : rewirings of the anatomical graph for the null.

    Returns
    -------
    Dataset on ``component``: ``anatomy_auroc``, ``anatomy_null_mean``, ``anatomy_null_sd``,
    ``anatomy_p`` (one-sided, +1 corrected); attrs ``anatomy_pairs`` (pairs scored),
    ``anatomy_edges``, ``anatomy_shuffles``.
    """
    matrices = pair_matrix(np.asarray(pair_weight), neuron_1, neuron_2)
    names = [str(n) for n in matrices["pre"].values]
    wiring = weight.sum("layer", skipna=False).reindex(pre=names, post=names)
    reference = wiring.transpose("pre", "post").values  # NaN: a neuron the source lacks
    results = [edge_auroc(m, reference, n_null=n_shuffles, seed=seed, symmetric=True)
               for m in matrices.values]
    log.info("anatomy: %d covered pairs, %d edges, AUROC %s", results[0]["n_pairs"],
             results[0]["n_edges"], np.round([r["auroc"] for r in results], 3))
    return xr.Dataset(
        {f"anatomy_{name}": ("component", [r[key] for r in results])
         for name, key in (("auroc", "auroc"), ("null_mean", "null_mean"),
                           ("null_sd", "null_sd"), ("p", "p_value"))},
        attrs={"anatomy_pairs": int(results[0]["n_pairs"]),
               "anatomy_edges": int(results[0]["n_edges"]), "anatomy_shuffles": n_shuffles},
    )
