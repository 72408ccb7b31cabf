"""One simulated worm: latent dynamics -> calcium -> recorded ROIs, labels and behaviour."""

from __future__ import annotations

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from . import calcium as ca
from .behaviour import behaviour
from .dynamics import integrate, matrix_combinations, sample_states, stimulus_input
from .sampling import frame_times, recorded_and_labelled, roi_table, written_labels
from .settings import WORM_STREAM, SimulationSettings, seed_sequence

_PARTS = ("frames", "states", "stimulus", "dynamics", "sampling", "fluorescence", "behaviour",
          "labels")


def worm_id(index: int) -> str:
    """Batch id of worm ``index`` (``worm00``, ``worm01``, ...)."""
    return f"worm{index:02d}"


def worm_index(worm: str) -> int:
    """Inverse of :func:`worm_id`; ValueError for another name."""
    if not (worm.startswith("worm") and worm[4:].isdigit()):
        raise ValueError(f"'{worm}' is not a simulated worm id (worm00, worm01, ...)")
    return int(worm[4:])


def simulate_worm(model: xr.Dataset, index: int) -> xr.Dataset:
    """Simulate worm ``index`` of the recording described by ``model`` (from
    :func:`pipelines.simulate.build_model`). Deterministic given the model's seed and ``index``,
    whatever the other worms.

    Returns
    -------
    xr.Dataset with
        recording: ``traces`` (frame, roi) F/F20, ``fluorescence`` (frame, roi) raw F,
        ``timestamp`` (frame) absolute seconds, behaviour (frame): velocity, head_angle,
        angular_velocity, pumping, reversal_vec; ``roi_label`` (roi) written label ('' when
        unlabelled), ``label_<column>`` (label) the rows of the labels CSV;
        truth: ``hidden_state`` (frame) state index, ``time`` (frame) s from the first frame,
        ``activity`` (neuron, frame) in (0, 1), ``recorded``/``labelled`` (neuron) bool,
        ``roi_neuron`` (roi) true neuron ('' for an extra ROI), ``participation`` (community).
    """
    with threadpool_limits(1):  # tiny matrices: BLAS threads only contend
        return _simulate(model, index)


def _simulate(model: xr.Dataset, index: int) -> xr.Dataset:
    settings = SimulationSettings.from_json(model.attrs["settings"])
    rngs = dict(zip(_PARTS, (np.random.default_rng(s) for s in
                             seed_sequence(settings, WORM_STREAM, index).spawn(len(_PARTS))),
                    strict=True))
    neurons = [str(n) for n in model["neuron"].values]
    t_frames = frame_times(settings.duration_s, settings.native_dt, settings.jitter_s,
                           rngs["frames"])
    t_grid, states, x, participation = _latent(model, settings, t_frames, rngs)
    a = ca.activity(x)
    c = ca.calcium(a, settings.integration_dt, settings.calcium_rise_s, settings.calcium_decay_s)

    recorded, labelled = recorded_and_labelled(model["detectability"].values,
                                               settings.recorded_fraction,
                                               settings.labelled_fraction, rngs["sampling"])
    roi_neuron = [neurons[i] for i in np.flatnonzero(recorded)] + [""] * settings.extra_rois
    roi_neuron = [roi_neuron[i] for i in rngs["sampling"].permutation(len(roi_neuron))]
    raw = _fluorescence(ca.interpolate_frames(c, t_grid, t_frames), roi_neuron, neurons,
                        t_frames, settings, rngs["fluorescence"])
    moves = behaviour(states, [str(s) for s in model["state"].values], t_grid, t_frames,
                      rngs["behaviour"])
    frame_grid = np.clip(np.searchsorted(t_grid, t_frames, side="right") - 1, 0, len(t_grid) - 1)

    uid = worm_id(index)
    in_worm = {n for n, lab in zip(neurons, labelled, strict=True) if lab}
    roi_label, table = _labels(uid, roi_neuron, in_worm, model, settings, rngs["labels"])
    offset = float(rngs["frames"].uniform(1e4, 2e6))  # absolute clock, as the lab's files

    data = {
        "traces": (("frame", "roi"), ca.f_over_f20(raw)),
        "fluorescence": (("frame", "roi"), raw),
        "timestamp": ("frame", t_frames + offset),
        "time": ("frame", t_frames),
        "hidden_state": ("frame", states[frame_grid]),
        "activity": (("neuron", "frame"),
                     ca.interpolate_frames(a, t_grid, t_frames).T.astype(np.float32)),
        "recorded": ("neuron", recorded),
        "labelled": ("neuron", labelled),
        "participation": ("community", participation),
        "roi_neuron": ("roi", np.array(roi_neuron, dtype=str)),
        "roi_label": ("roi", np.array(roi_label, dtype=str)),
    }
    data.update({name: ("frame", values) for name, values in moves.items()})
    data.update({f"label_{col}": ("label", table[col].to_numpy()) for col in table.columns})
    worm = xr.Dataset(data, coords={"neuron": neurons, "community": model["community"].values,
                                    "frame": np.arange(len(t_frames)),
                                    "roi": np.arange(len(roi_neuron))})
    worm.attrs.update({"worm": uid, "index": index, "settings": model.attrs["settings"]})
    return worm


def _latent(model: xr.Dataset, settings: SimulationSettings, t_frames: np.ndarray, rngs):
    """States and latent activity on the fine grid covering the burn-in and every frame.

    Returns t_grid (time,), states (time,) int, x (time, neuron), participation (community,).
    """
    dt = settings.integration_dt
    t_grid = np.arange(-settings.burn_in_s, t_frames[-1] + 2 * dt, dt)
    states = sample_states(t_grid, model["dwell_mean"].values, model["jump"].values,
                           settings.dwell_shape, rngs["states"])
    membership = model["membership"].values
    participation = rngs["stimulus"].lognormal(0.0, settings.participation_sd,
                                               membership.shape[0])
    u, on = stimulus_input(t_grid, model["stimulus_start"].values, model["stimulus_end"].values,
                           model["stimulus_community"].values, membership, participation,
                           settings.stimulus_amplitude, settings.community_drive_sd,
                           rngs["stimulus"])
    inputs = u + model["baseline"].values[None, :] + model["drive"].values[states]
    matrices, which = matrix_combinations(states, on, model["interaction"].values,
                                          model["coupling"].values)
    x = integrate(np.zeros(model.sizes["neuron"]), model["tau"].values, matrices, which, inputs,
                  settings.process_noise, dt, rngs["dynamics"])
    return t_grid, states, x, participation


def _fluorescence(c_frames: np.ndarray, roi_neuron, neurons, t_frames, settings, rng):
    """Raw fluorescence (frame, roi) of the ROIs; an extra ROI ('') has no calcium signal."""
    slot = np.array([neurons.index(r) if r else -1 for r in roi_neuron])
    roi_calcium = np.where(slot >= 0, c_frames[:, np.maximum(slot, 0)], 0.0)
    dff = np.where(slot >= 0, rng.uniform(*settings.dff, len(slot)), 0.0)
    return ca.fluorescence(roi_calcium, t_frames, dff, settings, rng)


def _labels(uid: str, roi_neuron, labelled: set, model: xr.Dataset, settings, rng):
    """Written label of every ROI ('' when unlabelled) and the labels CSV table."""
    roi_labelled = np.array([r in labelled for r in roi_neuron])
    names = [r for r in roi_neuron if r in labelled]
    written = dict(zip(names, written_labels(names, settings.ambiguous_fraction,
                                             settings.zero_pad_fraction, rng), strict=True))
    classes = {str(n): str(c) for n, c in zip(model["neuron"].values,
                                              model["neuron_class"].values, strict=True)}
    table = roi_table(uid, roi_neuron, roi_labelled, written, classes, rng)
    return [written.get(r, "") for r in roi_neuron], table
