"""Dynamic functional connectome (Dyballa et al. 2024): pairwise differential affinities,
a time x worm x pair tensor, masked non-negative CP decomposition with rank selection, and
the overlap of components with the anatomical connectome. Communities per component live in
``pipelines.dfc.communities``. See ``docs/dfc.md``.
"""

from .affinity import (
    AffinitySettings,
    batch_affinity,
    chance_affinity,
    differential_affinity,
    smoothed_derivative,
    windowed_correlation,
)
from .ntf import CPFit, NonNegativeCP, fit_ncp
from .pipeline import (
    affinity_from_store,
    assemble_tensor,
    components_from_calcium,
    fit_components,
    map_worms,
    pair_matrix,
)
from .rank import RankSettings, baseline_components, factor_similarity, rank_sweep, select_rank
from .structure import anatomy_overlap
from .tensor import align_offsets, align_schedule, bin_time, build_tensor, join_batches

__all__ = [
    "AffinitySettings",
    "CPFit",
    "NonNegativeCP",
    "RankSettings",
    "affinity_from_store",
    "align_offsets",
    "align_schedule",
    "anatomy_overlap",
    "assemble_tensor",
    "baseline_components",
    "batch_affinity",
    "bin_time",
    "build_tensor",
    "chance_affinity",
    "components_from_calcium",
    "differential_affinity",
    "factor_similarity",
    "fit_components",
    "fit_ncp",
    "join_batches",
    "map_worms",
    "pair_matrix",
    "rank_sweep",
    "select_rank",
    "smoothed_derivative",
    "windowed_correlation",
]
