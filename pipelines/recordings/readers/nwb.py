"""NWB files (how DANDI publishes recordings), read with pynwb.

Traces come from a ``RoiResponseSeries`` inside a ``DfOverF`` container (preferred) or a
``Fluorescence`` container of any processing module; timestamps from the series (or its
starting time and rate). Neuron labels come from the first ROI-table column among
:data:`LABEL_COLUMNS`, indexed by the series' ROI region. ``TimeSeries`` named like a
behaviour variable (``velocity``, ...) with one value per calcium sample are carried along.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.common import InputError

from ..worm import BEHAVIOURS, WormRecording, file_stem

PATTERNS = ("*.nwb",)
LABEL_COLUMNS = ("neuron_label", "label", "labels", "neuron_name", "neuron_id", "ID", "name")


def read(path: Path) -> list[WormRecording]:
    """One worm from one NWB file."""
    from pynwb import NWBHDF5IO, TimeSeries
    from pynwb.ophys import DfOverF, Fluorescence

    with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        nwbfile = io.read()
        containers = [c for module in nwbfile.processing.values()
                      for c in module.data_interfaces.values()]
        series = [s for kind in (DfOverF, Fluorescence) for c in containers
                  if isinstance(c, kind) for s in c.roi_response_series.values()]
        if not series:
            raise InputError(path, "missing dataset: no RoiResponseSeries in a DfOverF or "
                             "Fluorescence container")
        roi_series = series[0]
        traces = np.asarray(roi_series.data[()], dtype=np.float64)
        if traces.ndim == 1:
            traces = traces[:, None]
        t = _timestamps(roi_series, len(traces))
        labels = _labels(roi_series, traces.shape[1], path)
        behaviour = {
            name: np.asarray(obj.data[()], dtype=np.float64)
            for c in containers for name, obj in _named_series(c, TimeSeries)
            if name in BEHAVIOURS and np.shape(obj.data) == (len(t),)
        }
    return [WormRecording(worm=file_stem(path), traces=traces, timestamps=t, labels=labels,
                          path=str(path), behaviour=behaviour)]


def _timestamps(series, n: int) -> np.ndarray:
    if series.timestamps is not None:
        return np.asarray(series.timestamps[()], dtype=np.float64)
    return series.starting_time + np.arange(n) / series.rate


def _labels(series, n_roi: int, path: Path) -> list[str]:
    table = series.rois.table
    rows = np.asarray(series.rois.data[()], dtype=np.int64)
    column = next((c for c in LABEL_COLUMNS if c in table.colnames), None)
    if column is None:
        return [""] * n_roi
    values = table[column].data[()]
    if len(rows) != n_roi or (len(rows) and rows.max() >= len(values)):
        raise InputError(path, f"ROI region ({len(rows)} rows) does not match the {n_roi} "
                         f"trace columns / {len(values)} table rows")
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values)[rows]]


def _named_series(container, kind):
    if isinstance(container, kind):
        yield container.name, container
    yield from getattr(container, "time_series", {}).items()
