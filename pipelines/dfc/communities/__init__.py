"""Communities of dynamic-connectome components: a weighted stochastic block model with
minimum-description-length model selection (pip-only stand-in for graph-tool's nested weighted
SBM), a Leiden/Louvain modularity baseline, stability scores, and a weighted LFR benchmark
generator. See ``docs/dfc_communities.md``.
"""

from .components import (
    component_communities,
    detect_communities,
    present_neurons,
    run_communities,
)
from .leiden import leiden_communities, louvain_communities
from .motif import (
    Motif,
    activation_motif,
    coherence_motif,
    motif_community,
    motif_gain,
    participation_motif,
)
from .participation import participation
from .sbm import SBMFit, description_length, fit_sbm
from .stability import comembership, community_stability, neuron_stability

__all__ = [
    "Motif",
    "SBMFit",
    "activation_motif",
    "coherence_motif",
    "comembership",
    "community_stability",
    "component_communities",
    "description_length",
    "detect_communities",
    "fit_sbm",
    "leiden_communities",
    "louvain_communities",
    "motif_community",
    "motif_gain",
    "neuron_stability",
    "participation",
    "participation_motif",
    "present_neurons",
    "run_communities",
]
