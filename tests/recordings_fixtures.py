"""Writers of small recording files in every supported format (planted truth for tests).

Each writer follows the documented layout of its format; the Zimmer-lab v7.3 writer builds
the MATLAB HDF5 layout by hand (cells are object references into ``#refs#``, chars uint16,
arrays stored transposed).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd


def planted(n_time: int = 700, n_roi: int = 4, dt: float = 0.6, seed: int = 0):
    """Non-uniform timestamps (T,) and smooth traces (T, n_roi) with known columns."""
    rng = np.random.default_rng(seed)
    t = 1000.0 + np.cumsum(dt + rng.uniform(-0.05, 0.05, n_time))
    freqs = 0.01 + 0.02 * np.arange(n_roi)
    traces = 1.0 + 0.5 * np.sin(2 * np.pi * freqs[None] * t[:, None] + np.arange(n_roi))
    return t, traces


def write_flavell(path: Path, t, traces, behaviour=None, splits=None) -> Path:
    with h5py.File(path, "w") as h5:
        h5["gcamp/traces_array_F_F20"] = traces
        h5["timing/timestamp_confocal"] = t
        h5["gcamp/idx_splits"] = np.array([[1], [len(traces)]]) if splits is None else splits
        for name, values in (behaviour or {}).items():
            h5[f"behavior/{name}"] = values
    return path


def write_labels_csv(path: Path, uid: str, labels: dict[int, str]) -> Path:
    pd.DataFrame({"uid": uid, "calnum_1based": [c + 1 for c in labels],
                  "column_0based": list(labels), "label": list(labels.values())}
                 ).to_csv(path, index=False)
    return path


def write_csv(path: Path, t, traces, labels) -> Path:
    table = pd.DataFrame(traces, columns=labels)
    table.insert(0, "time", t)
    table.to_csv(path, index=False)
    return path


def write_nwb(path: Path, t, traces, labels, container: str = "DfOverF") -> Path:
    from datetime import UTC, datetime

    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel

    nwb = NWBFile(session_description="test", identifier="id",
                  session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    device = nwb.create_device(name="scope")
    channel = OpticalChannel(name="green", description="GCaMP", emission_lambda=525.0)
    plane = nwb.create_imaging_plane(
        name="plane", optical_channel=channel, description="whole brain", device=device,
        excitation_lambda=488.0, imaging_rate=1.6, indicator="GCaMP", location="head")
    segmentation = ImageSegmentation()
    rois = segmentation.create_plane_segmentation(name="rois", imaging_plane=plane,
                                                   description="rois")
    rois.add_column(name="neuron_label", description="NeuroPAL label")
    for label in labels:
        rois.add_roi(image_mask=np.ones((2, 2)), neuron_label=label)
    module = nwb.create_processing_module(name="ophys", description="calcium")
    module.add(segmentation)
    region = rois.create_roi_table_region(description="all", region=list(range(len(labels))))
    kind = {"DfOverF": DfOverF, "Fluorescence": Fluorescence}[container]
    holder = kind()
    holder.create_roi_response_series(name="calcium", data=traces, rois=region, unit="n.a.",
                                      timestamps=t)
    module.add(holder)
    behaviour = nwb.create_processing_module(name="behavior", description="behaviour")
    behaviour.add(TimeSeries(name="velocity", data=np.sin(t), unit="mm/s", timestamps=t))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def write_zimmer_v5(path: Path, name: str, worms, ids_field="IDs", traces_field="traces",
                    time_field="timeVectorSeconds") -> Path:
    """``worms``: list of (t, traces, ids) with ids a list of candidate lists / str / []."""
    import scipy.io

    def cell(items):
        out = np.empty((1, len(items)), dtype=object)
        for i, item in enumerate(items):
            out[0, i] = item
        return out

    struct = {
        ids_field: cell([cell([cell(c) if isinstance(c, list) else c for c in ids])
                         for _, _, ids in worms]),
        traces_field: cell([x for _, x, _ in worms]),
        time_field: cell([t for t, _, _ in worms]),
    }
    scipy.io.savemat(path, {name: struct})
    return path


def write_zimmer_v73(path: Path, name: str, worms, ids_field="NeuronNames",
                     traces_field="deltaFOverF_bc", time_field="tv") -> Path:
    """MATLAB v7.3 (HDF5) layout of the same struct."""
    with h5py.File(path, "w") as h5:
        refs = h5.create_group("#refs#")
        counter = iter(range(10**6))

        def put(value):
            key = f"r{next(counter)}"
            if isinstance(value, list):
                if not value:
                    ds = refs.create_dataset(key, data=np.zeros(2, dtype=np.uint64))
                    ds.attrs["MATLAB_class"] = np.bytes_("cell")
                    ds.attrs["MATLAB_empty"] = np.uint8(1)
                    return ds.ref
                data = np.array([[put(v) for v in value]], dtype=h5py.ref_dtype).T
                ds = refs.create_dataset(key, data=data)
                ds.attrs["MATLAB_class"] = np.bytes_("cell")
            elif isinstance(value, str):
                ds = refs.create_dataset(key, data=np.array([[ord(c) for c in value]],
                                                            dtype=np.uint16).T)
                ds.attrs["MATLAB_class"] = np.bytes_("char")
            else:
                ds = refs.create_dataset(key, data=np.asarray(value, dtype=np.float64).T)
                ds.attrs["MATLAB_class"] = np.bytes_("double")
            return ds.ref

        group = h5.create_group(name)
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        for field, values in ((ids_field, [ids for _, _, ids in worms]),
                              (traces_field, [x for _, x, _ in worms]),
                              (time_field, [t for t, _, _ in worms])):
            data = np.array([[put(v) for v in values]], dtype=h5py.ref_dtype).T
            ds = group.create_dataset(field, data=data)
            ds.attrs["MATLAB_class"] = np.bytes_("cell")
    # MATLAB v7.3 files carry a 512-byte user block; h5py.is_hdf5 does not need it
    return path


def write_hub_parquet(path: Path, worms, source="Test2024", dt=0.333) -> Path:
    """Long Hub-schema table from ``worms``: list of (t, traces, labels)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.common import NEURON_INDEX

    rows = []
    for w, (t, traces, labels) in enumerate(worms):
        t0 = np.asarray(t) - t[0]
        grid = np.arange(0, t0[-1], dt)
        for i, label in enumerate(labels):
            labelled = label in NEURON_INDEX
            rows.append({
                "source_dataset": source, "raw_data_file": f"raw/{source}/{w}.h5",
                "worm": f"worm{w}", "neuron": label if labelled else str(i),
                "slot": NEURON_INDEX.get(label, 299 - i), "is_labeled_neuron": labelled,
                "smooth_method": "no smoothing", "interpolate_method": "linear",
                "normalization_method": "standard",
                "original_calcium_data": traces[:, i].astype(np.float32),
                "calcium_data": np.interp(grid, t0, traces[:, i]).astype(np.float32),
                "original_time_in_seconds": t0.astype(np.float32),
                "time_in_seconds": grid.astype(np.float32),
                "original_max_timesteps": len(t0), "max_timesteps": len(grid)})
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


HUB_README = """---
configs:
- config_name: worm_data_short
  data_files:
  - split: train
    path: data/*.parquet
---
"""


def hub_folder(root):
    """A local folder laid out like qsimeon/celegans_neural_data: two sources, two shards."""
    (root / "data").mkdir(parents=True)
    worms_a = [(*planted(seed=s), ["AVAL", "AVAR", "x", "ALA"]) for s in range(2)]
    worms_b = [(*planted(n_time=650, seed=9), ["SMDVL", "SMDVR", "RID", "1"])]
    write_hub_parquet(root / "data" / "shard-0.parquet", worms_a, source="Flavell2023")
    write_hub_parquet(root / "data" / "shard-1.parquet", worms_b, source="Kato2015")
    (root / "README.md").write_text(HUB_README)
    return root
