"""Label standardization onto the canonical 300 neurons (upstream rules, reimplemented).

Per ROI, :func:`clean_label` turns a raw label into a candidate name (or None):

1. list-valued IDs (Zimmer-lab candidate lists): the first non-empty candidate;
2. None, empty, ``merge``, or anything that is not alphanumeric (``?`` allowed) -> None;
3. zero stripping: a non-numeric name that does not end in ``0`` loses every ``0``
   (``VB02`` -> ``VB2``, ``AS01`` -> ``AS1``; ``AS10`` is kept).

Per worm, :func:`standardize_labels` then assigns canonical slots in three passes, in
column order within each pass, so exact names always win over guesses:

a. exact canonical names; a repeated name keeps the first column, later ones are unlabelled;
b. ``?`` ambiguity (Dag2023, Flavell2023): drop the ``?`` and, among canonical labels not
   yet used in this worm (sorted), take the one with the most position-wise matching
   characters, ties to the alphabetically first (``RMDD?`` -> ``RMDDL`` if free, else
   ``RMDDR``). Unlike upstream, the winner must match every remaining character; when the
   whole class is already used the ROI becomes unlabelled instead of taking an unrelated name;
c. class-only names (Leifer2023): ``AVA`` -> ``AVAL``, or ``AVAR`` when ``AVAL`` is used.

Everything else is an unlabelled ROI: kept (in the ``unlabeled`` variable), never placed
in a slot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipelines.common import NEURON_INDEX, NEURONS

_INVALID = {"", "merge", "none", "nan", "null"}


def strip_zeros(name: str) -> str:
    """Upstream zero stripping: remove every '0' unless the name ends in '0' or is numeric."""
    if name.endswith("0") or name.isnumeric():
        return name
    return name.replace("0", "")


def clean_label(raw) -> str | None:
    """A raw label (str, bytes, list of candidates, None, number) -> candidate name or None."""
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    if isinstance(raw, list | tuple | np.ndarray):
        candidates = [c for c in np.ravel(np.asarray(raw, dtype=object)) if clean_label(c)]
        return clean_label(candidates[0]) if candidates else None
    if raw is None or not isinstance(raw, str):
        return None
    name = raw.strip()
    if name.lower() in _INVALID or not name.replace("?", "").isalnum() or name.isnumeric():
        return None
    return strip_zeros(name.upper())


def _match_score(name: str, candidate: str) -> int:
    return sum(a == b for a, b in zip(name, candidate, strict=False))


def resolve_ambiguous(name: str, used: set[str]) -> str | None:
    """Upstream '?' rule: the free canonical label with most position-wise matches.

    Returns None when no free label matches every character of ``name`` without ``?``.
    """
    stripped = name.replace("?", "")
    best, best_score = None, -1
    for candidate in NEURONS:  # sorted, so ties go to the alphabetically first
        if candidate in used:
            continue
        score = _match_score(stripped, candidate)
        if score > best_score:
            best, best_score = candidate, score
    return best if best is not None and best_score == len(stripped) else None


def resolve_class(name: str, used: set[str]) -> str | None:
    """Class-only label -> its first free bilateral member (``AVA`` -> ``AVAL``/``AVAR``)."""
    for side in ("L", "R"):
        if name + side in NEURON_INDEX and name + side not in used:
            return name + side
    return None


def standardize_labels(raw_labels: Sequence) -> list[str | None]:
    """Canonical label of each ROI of one worm (None = unlabelled); see the module doc.

    Parameters
    ----------
    raw_labels : sequence, length n_roi
        Raw labels in column order.

    Returns
    -------
    list of str or None, length n_roi
        Each canonical label appears at most once.
    """
    cleaned = [clean_label(raw) for raw in raw_labels]
    out: list[str | None] = [None] * len(cleaned)
    used: set[str] = set()
    for i, name in enumerate(cleaned):
        if name in NEURON_INDEX and name not in used:
            out[i] = name
            used.add(name)
    for resolver, pending in (
        (resolve_ambiguous, lambda n: "?" in n),
        (resolve_class, lambda n: "?" not in n and n not in NEURON_INDEX),
    ):
        for i, name in enumerate(cleaned):
            if name is None or out[i] is not None or not pending(name):
                continue
            resolved = resolver(name, used)
            if resolved is not None:
                out[i] = resolved
                used.add(resolved)
    return out
