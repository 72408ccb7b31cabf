"""Dynamic connectome atlases: one self-describing file, graphs and a report per recording.

``assemble`` joins the stage outputs into an ``xarray.DataTree`` (``atlas.nc``), every functional
matrix is scored against the wiring (``pipelines.connectome.compare``), ``graphs`` writes GraphML per
component and per state, ``figures`` and ``report`` make the self-contained HTML page.
"""

from .assemble import ATLAS_GROUPS, activity_summary, build_atlas

__all__ = [
    "ATLAS_GROUPS",
    "activity_summary",
    "build_atlas",
]
