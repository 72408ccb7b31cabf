"""Synthetic whole-brain C. elegans recordings with known ground truth.

The default data of the pipeline and the yardstick of every model: brain states switching on
the real Cook 2019 wiring, planted stimulus-locked communities, GCaMP kinetics and noise,
non-uniform frames, partial and imperfect labels, behaviour tied to the state. Written in the
Flavell-lab HDF5 layout so simulated worms go through the same readers as real ones.
See ``docs/simulate.md``.
"""

from .model import STATE_DRIVE, build_model
from .run import simulate_recording, write_worm
from .settings import STATE_NAMES, SimulationSettings
from .truth import (
    community_active,
    merge_truth,
    state_on_grid,
    worm_truth,
    write_ground_truth,
    write_worm_truth,
)
from .worm import simulate_worm, worm_id, worm_index
from .write import write_flavell_h5, write_labels_csv

__all__ = [
    "STATE_DRIVE",
    "STATE_NAMES",
    "SimulationSettings",
    "community_active",
    "build_model",
    "merge_truth",
    "simulate_recording",
    "simulate_worm",
    "state_on_grid",
    "worm_id",
    "worm_index",
    "worm_truth",
    "write_flavell_h5",
    "write_ground_truth",
    "write_labels_csv",
    "write_worm",
    "write_worm_truth",
]
