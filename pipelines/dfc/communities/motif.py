"""The motif community of a component: the one group of neurons that carries it.

An NTF component's pair weights are close to a product u_i u_j of how strongly each neuron
takes part, so the SBM's minimum-DL blocks resolve *graded* participation: neurons that carry
the component strongly and those that carry it less can sit in separate dense blocks, which
the hierarchy joins one level up. The motif is grown from the SBM's blocks along the
hierarchy, with no look at any truth:

1. core: among the level-0 blocks of at least two nodes that are assortative (mean internal
   weight above both the block's mean weight to the rest and the rest's mean internal
   weight), the one whose split from the rest gains the most description length under the
   fit's own weight model;
2. walk up the hierarchy: the block T holding the motif S at the next level is taken when T
   is still assortative and the part it adds, R = T \\ S, with block means a_S and a_R inside
   and x between,

   * is one community with S up to strength, x² ≥ a_S a_R: in a degree-corrected SBM
     a = θ² ω_in and x = θ_S θ_R ω_out, so this is ω_out ≥ ω_in, no community boundary
     between S and R;
   * and takes part at least half as strongly, a_R ≥ a_S / 4 (u_R ≥ u_S / 2): on a
     near-rank-1 graph weakly co-fluctuating neurons pass the first test too, and a group
     whose participation is a fraction of the core's is its surround, not the motif.

   A one-node R (no internal pair) is taken to be like S (a_R = a_S: x ≥ a_S). The walk stops
   at the first refusal.

A group of near-zero weights splits off well but is not assortative (it is where the
component is absent), so it is never the motif.

:func:`participation_motif` is another rule (``dfc.communities.motif_rule:
participation``): the neurons that take part at least half as strongly as the strongest, by
the rank-1 participation of :mod:`.participation`. It looks at the order only, not at the
blocks. :func:`activation_motif` and :func:`coherence_motif` cut per-neuron scores computed
from the calcium with the component's time course (:mod:`pipelines.dfc.activation`,
:mod:`pipelines.dfc.coherence`), over every neuron of the tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .sbm import description_length

PARTICIPATION = 0.5
"""Least participation (u_R / u_S) of a group the motif takes in, relative to its core."""


@dataclass(frozen=True)
class Motif:
    """Result of :func:`motif_community`.

    Attributes
    ----------
    members : (N,) bool, the motif's nodes (all False when no block qualifies).
    gain : float, DL of one block minus DL of (motif, rest), nats (NaN: no motif).
    level : int, the highest hierarchy level at which the motif is one block (−1: no motif).
    """

    members: np.ndarray
    gain: float
    level: int


def motif_community(weights: np.ndarray, levels, *, degree_corrected: bool = False,
                    weight_model: str = "exponential") -> Motif:
    """The component's motif community (module doc).

    Parameters
    ----------
    weights : (N, N) float
        Symmetric non-negative pair weights of one component (NaN: unobserved pair).
    levels : sequence of (N,) int
        Nested partitions of the N nodes, finest first (``SBMFit.levels``, or ``[labels]``
        for a flat method).
    degree_corrected, weight_model
        The SBM variant whose description length chooses the core.

    Returns
    -------
    Motif
    """
    weights = np.asarray(weights, dtype=float)
    levels = [np.asarray(labels) for labels in levels]
    n = weights.shape[0]
    if not levels or any(labels.shape != (n,) for labels in levels):
        raise ValueError(f"every level must label the {n} nodes of the graph")

    one_block = description_length(weights, np.zeros(n, int), degree_corrected, weight_model)

    def gain(group):
        return _gain(weights, group, one_block, degree_corrected, weight_model)

    blocks = [levels[0] == b for b in np.unique(levels[0])]
    cores = [(gain(b), i) for i, b in enumerate(blocks)
             if 2 <= b.sum() < n and _assortative(weights, b)]
    if not cores:
        return Motif(np.zeros(n, bool), np.nan, -1)
    motif, reached = blocks[max(cores)[1]], 0
    node = int(np.flatnonzero(motif)[0])
    for level in range(1, len(levels)):
        group = levels[level] == levels[level][node]
        if group.all():
            break
        if group.sum() > motif.sum():
            if not (_assortative(weights, group)
                    and _one_community(weights, motif, group & ~motif)):
                break
            motif = group
        reached = level
    return Motif(motif, float(gain(motif)), reached)


def motif_gain(weights: np.ndarray, members: np.ndarray, *, degree_corrected: bool = False,
               weight_model: str = "exponential") -> float:
    """DL of one block minus DL of the two blocks (``members``, rest), nats; NaN when
    ``members`` is empty or everything."""
    members = np.asarray(members, dtype=bool)
    if not members.any() or members.all():
        return np.nan
    one_block = description_length(weights, np.zeros(members.size, int), degree_corrected,
                                   weight_model)
    return _gain(weights, members, one_block, degree_corrected, weight_model)


def _gain(weights, members, one_block, degree_corrected, weight_model) -> float:
    """``one_block`` (the DL of one block, computed once per graph) minus the DL of the two
    blocks (``members``, rest), nats."""
    return float(one_block - description_length(weights, members.astype(int), degree_corrected,
                                                weight_model))


def participation_motif(share: np.ndarray) -> np.ndarray:
    """(N,) bool: the nodes whose participation ``share`` (N,) (NaN: absent) is at least
    ``PARTICIPATION`` times the largest, u_i ≥ max(u) / 2; all False without participation."""
    share = np.nan_to_num(np.asarray(share, dtype=float))
    if share.max(initial=0.0) <= 0:
        return np.zeros(share.shape, bool)
    return share >= PARTICIPATION * share.max()


def activation_motif(activation: np.ndarray) -> np.ndarray:
    """(N,) bool: the nodes whose ``activation`` (N,) (NaN: not estimated) rises above the
    median of the finite values by at least ``PARTICIPATION`` times the largest rise,
    a_i − med(a) ≥ (max(a) − med(a)) / 2 (:mod:`pipelines.dfc.activation`). The median is the
    floor of the neurons the component does not involve (a component whose time course
    tracks a slow trend lifts them all); all False when nothing rises above it."""
    values = np.asarray(activation, dtype=float)
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return np.zeros(values.shape, bool)
    floor = np.median(values[finite])
    top = values[finite].max()
    if top <= floor:
        return np.zeros(values.shape, bool)
    return finite & (np.where(finite, values, floor) - floor >= PARTICIPATION * (top - floor))


def coherence_motif(coherence: np.ndarray) -> np.ndarray:
    """(N,) bool: the nodes whose squared ``coherence`` (N,) with the component's core
    (:mod:`pipelines.dfc.coherence`; NaN: not estimated), the share of their variance that
    moves with it, sign kept, clears the half-way cut of :func:`activation_motif`."""
    values = np.asarray(coherence, dtype=float)
    return activation_motif(np.sign(values) * values * values)


def _one_community(weights: np.ndarray, motif: np.ndarray, added: np.ndarray) -> bool:
    """``added`` is not assortative against ``motif`` after degree correction and takes
    part at least half as strongly (module doc)."""
    inside = _mean(weights, motif, motif)
    between = _mean(weights, motif, added)
    other = _mean(weights, added, added) if added.sum() > 1 else inside
    return bool(between * between >= inside * other and other >= inside * PARTICIPATION ** 2)


def _assortative(weights: np.ndarray, group: np.ndarray) -> bool:
    inside = _mean(weights, group, group)
    between = _mean(weights, group, ~group)
    rest = _mean(weights, ~group, ~group)
    return bool(inside > between and (inside > rest or np.isnan(rest)))


def _mean(weights: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> float:
    """Mean observed weight over the node pairs of rows × cols (each node's own entry left
    out when the two sets are the same); NaN when there is none."""
    block = weights[np.ix_(rows, cols)]
    if np.array_equal(rows, cols):
        block = block[~np.eye(block.shape[0], dtype=bool)]
    values = block[np.isfinite(block)]
    return float(values.mean()) if values.size else np.nan
