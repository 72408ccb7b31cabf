"""Dynamic connectome atlases: one self-describing file, graphs and a report per recording.

``assemble`` joins the stage outputs into an ``xarray.DataTree`` (``atlas.nc``), ``compare``
scores every functional matrix against the wiring diagram, ``graphs`` writes GraphML per
component and per state, ``figures`` and ``report`` make the self-contained HTML page.
"""

from .assemble import ATLAS_GROUPS, activity_summary, build_atlas
from .compare import anatomy_overlap, auroc, degree_preserving_shuffle

__all__ = [
    "ATLAS_GROUPS",
    "activity_summary",
    "anatomy_overlap",
    "auroc",
    "build_atlas",
    "degree_preserving_shuffle",
]
