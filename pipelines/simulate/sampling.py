"""What one worm's recording contains: frame times, recorded and labelled neurons, labels.

- Frame times: intervals ``native_dt + e``, ``e ~ N(0, jitter_s)`` truncated at 3 sd (the Dag
  2023 files have sd 0.013 s around 0.6 s), until ``duration_s``.
- Recorded neurons: a per-worm fraction in ``recorded_fraction`` of the simulated neurons,
  drawn without replacement with weights ``detectability`` (Gumbel top-k), so some neurons are
  recorded in most worms and others rarely; a fraction in ``labelled_fraction`` of those is
  labelled (same weights). Recorded but unlabelled neurons are unlabelled ROIs; ``extra_rois``
  ROIs hold no simulated neuron (out-of-set cells, background).
- Label corruption, as in NeuroPAL label files: a labelled L/R neuron is written ``?``
  ambiguous (``RMDDL`` -> ``RMDD?``) with probability ``ambiguous_fraction``; a numbered
  ventral-cord neuron with one digit is zero-padded (``VB2`` -> ``VB02``) with probability
  ``zero_pad_fraction``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from pipelines.common import NEURON_INDEX

LABEL_COLUMNS = ("uid", "calnum_1based", "column_0based", "label", "neuron_class", "LR", "DV",
                 "confidence", "roi_id")
"""Columns of a per-worm labels CSV, as ``neuropal_labels_flat.csv`` of Dag 2023."""

CONFIDENCE_LEVELS = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
CONFIDENCE_WEIGHTS = np.array([0.03, 0.1, 0.2, 0.3, 0.37])
"""NeuroPAL confidence scores and roughly their frequency in the Dag 2023 labels."""

_PADDABLE = re.compile(r"^(AS|DA|DB|DD|VA|VB|VC|VD)([1-9])$")
_PADDED = re.compile(r"^(AS|DA|DB|DD|VA|VB|VC|VD)0[1-9]$")


def frame_times(duration_s: float, native_dt: float, jitter_s: float,
                rng: np.random.Generator) -> np.ndarray:
    """Non-uniform frame times (s) from 0, strictly increasing, last one <= ``duration_s``."""
    n = int(np.ceil(duration_s / native_dt)) + 8
    steps = native_dt + jitter_s * np.clip(rng.standard_normal(n), -3.0, 3.0)
    t = np.concatenate([[0.0], np.cumsum(steps)])
    return t[t <= duration_s]


def weighted_subset(weights: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Bool mask of ``size`` items drawn without replacement with probability ~ ``weights``
    (Gumbel top-k: the ``size`` largest ``log w + Gumbel`` keys)."""
    keys = np.log(np.maximum(weights, 1e-12)) + rng.gumbel(size=len(weights))
    mask = np.zeros(len(weights), dtype=bool)
    mask[np.argsort(-keys, kind="stable")[:size]] = True
    return mask


def recorded_and_labelled(detectability: np.ndarray, recorded_fraction, labelled_fraction,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(neuron,) bool masks ``recorded`` and ``labelled`` (labelled implies recorded)."""
    n = len(detectability)
    recorded = weighted_subset(detectability, round(rng.uniform(*recorded_fraction) * n), rng)
    n_labelled = round(rng.uniform(*labelled_fraction) * recorded.sum())
    labelled = np.zeros(n, dtype=bool)
    inside = np.flatnonzero(recorded)
    labelled[inside[weighted_subset(detectability[inside], n_labelled, rng)]] = True
    return recorded, labelled


def is_ambiguous_candidate(name: str) -> bool:
    """True for a bilateral neuron (its L/R partner exists) that can be written ``stem?``."""
    return name[-1:] in ("L", "R") and (name[:-1] + {"L": "R", "R": "L"}[name[-1]]) in NEURON_INDEX


def zero_padded(name: str) -> str | None:
    """``VB2`` -> ``VB02`` for one-digit numbered ventral-cord neurons, else None."""
    match = _PADDABLE.match(name)
    return f"{match.group(1)}0{match.group(2)}" if match else None


def written_labels(names, ambiguous_fraction: float, zero_pad_fraction: float,
                   rng: np.random.Generator) -> list[str]:
    """The labels a NeuroPAL annotator writes for the true ``names`` (see module doc)."""
    draws = rng.random((len(names), 2))
    out = []
    for name, (u_ambiguous, u_pad) in zip(names, draws, strict=True):
        padded = zero_padded(name)
        if padded is not None and u_pad < zero_pad_fraction:
            out.append(padded)
        elif is_ambiguous_candidate(name) and u_ambiguous < ambiguous_fraction:
            out.append(name[:-1] + "?")
        else:
            out.append(name)
    return out


def label_fields(label: str, neuron_class: str) -> tuple[str, str, str]:
    """(neuron_class, LR, DV) columns for a written label, following the Dag 2023 CSV:
    ``RMDDL`` -> (RMD, L, D); ``RMDD?`` -> (RMD, missing, D); ``VB02`` -> (VB02, undefined,
    undefined); ``RID`` -> (RID, undefined, undefined)."""
    if _PADDED.match(label):
        return label, "undefined", "undefined"
    suffix = label[len(neuron_class):]
    if suffix.endswith("?"):
        lr, suffix = "missing", suffix[:-1]
    elif suffix[-1:] in ("L", "R"):
        lr, suffix = suffix[-1], suffix[:-1]
    else:
        lr = "undefined"
    dv = suffix if suffix in ("D", "V") else "undefined"
    return neuron_class, lr, dv


def roi_table(uid: str, roi_neuron, roi_labelled, written, classes,
              rng: np.random.Generator) -> pd.DataFrame:
    """Labels CSV rows of the labelled ROIs of one worm (columns :data:`LABEL_COLUMNS`).

    Parameters
    ----------
    uid : worm id (the file stem without ``-data.h5``).
    roi_neuron : (roi,) true neuron of each column ('' for an extra ROI).
    roi_labelled : (roi,) bool, whether the column is labelled.
    written : dict true name -> written label; classes : dict true name -> class.
    """
    columns = np.flatnonzero(roi_labelled)
    roi_ids = rng.permutation(len(roi_neuron) + 20)[:len(columns)] + 1
    confidence = rng.choice(CONFIDENCE_LEVELS, size=len(columns), p=CONFIDENCE_WEIGHTS)
    rows = []
    for column, roi_id, score in zip(columns, roi_ids, confidence, strict=True):
        name = roi_neuron[column]
        label = written[name]
        neuron_class, lr, dv = label_fields(label, classes[name])
        rows.append((uid, column + 1, column, label, neuron_class, lr, dv, score, roi_id))
    return pd.DataFrame(rows, columns=list(LABEL_COLUMNS))
