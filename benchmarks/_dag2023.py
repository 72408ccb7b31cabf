"""The Dag 2023 worms for the benchmarks: one loader shared by every stage's Dag 2023 script.

Reads the 5 NeuroPAL-labelled recordings in ../shared/data/dag2023/swf702_with_id through the
recordings stage's Flavell reader and label standardisation, at native frames (~0.6 s, no
resampling or smoothing). ``CELEGANS_SHARED_DATA`` overrides the shared data folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CELEGANS_SHARED_DATA", REPO.parent / "shared" / "data")) / "dag2023"
BEHAVIOUR = ("velocity", "head_angle", "reversal")


def load_worms(folder: Path = DATA) -> list[dict]:
    """The labelled Dag 2023 worms at native frames.

    Returns
    -------
    list of dict per worm: ``worm`` id, ``calcium`` (T, n) traces of the labelled neurons,
    ``neurons`` (n,) canonical labels, ``dt`` median frame step (s), and the behaviour
    variables of :data:`BEHAVIOUR` the recording has, each (T,).
    """
    from pipelines.recordings.labels import standardize_labels
    from pipelines.recordings.readers.flavell import read

    worms = []
    for path in sorted((folder / "swf702_with_id").glob("*-data.h5")):
        (recording,) = read(path, folder / "neuropal_labels_flat.csv")
        labels = standardize_labels(recording.labels)
        columns = [i for i, name in enumerate(labels) if name]
        worm = {"worm": recording.worm, "calcium": recording.traces[:, columns],
                "neurons": [labels[i] for i in columns],
                "dt": float(np.median(np.diff(recording.timestamps)))}
        worm.update({k: v for k, v in recording.behaviour.items() if k in BEHAVIOUR})
        worms.append(worm)
    return worms
