"""Stability of communities across resampled or restarted partitions.

Given a reference partition and S other partitions of the same N nodes (bootstrap over worms,
other restarts, or other seeds), the co-membership probability P_ij is the fraction of
partitions putting i and j together, and a neuron's stability is the mean Jaccard overlap of
its reference community with its community in each partition (1: always the same members;
singletons included). A community's stability is the mean over its members.
"""

from __future__ import annotations

import numpy as np


def _check(partitions) -> np.ndarray:
    partitions = np.asarray(partitions)
    if partitions.ndim != 2 or partitions.shape[0] < 1:
        raise ValueError(f"partitions must be (S, N) with S ≥ 1, got shape {partitions.shape}")
    return partitions


def comembership(partitions) -> np.ndarray:
    """Co-membership probabilities (N, N) in [0, 1] from partitions (S, N) (labels ≥ 0)."""
    partitions = _check(partitions)
    together = np.zeros((partitions.shape[1],) * 2)
    for labels in partitions:
        together += labels[:, None] == labels[None, :]
    return together / partitions.shape[0]


def neuron_stability(reference, partitions) -> np.ndarray:
    """Mean Jaccard overlap (N,) in [0, 1] of each node's reference community with its
    community in each of the partitions (S, N)."""
    reference = np.asarray(reference)
    partitions = _check(partitions)
    if partitions.shape[1] != reference.size:
        raise ValueError("reference and partitions cover different numbers of nodes")
    same_ref = reference[:, None] == reference[None, :]
    score = np.zeros(reference.size)
    for labels in partitions:
        same = labels[:, None] == labels[None, :]
        score += (same & same_ref).sum(1) / (same | same_ref).sum(1)
    return score / partitions.shape[0]


def community_stability(reference, stability) -> np.ndarray:
    """Mean node stability per community (B,), for reference labels 0..B−1."""
    reference = np.asarray(reference)
    counts = np.bincount(reference)
    return np.bincount(reference, weights=np.asarray(stability, float)) / np.maximum(counts, 1)
