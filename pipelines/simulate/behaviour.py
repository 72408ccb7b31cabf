"""Behaviour tied to the brain state, at the calcium frame rate (Flavell-lab ``behavior/*``).

Each variable follows a state-dependent target, smoothed by a first-order lag of 0.5 s (the
body does not jump) plus an Ornstein-Uhlenbeck fluctuation:

- ``velocity`` (mm/s): forward +0.02, reversal -0.03, turn +0.008, quiescence +0.001, with
  state-dependent noise, so it is negative in reversals and (apart from the 0.5 s lag at
  transitions) rarely elsewhere; the ranges of the Dag 2023 files (about -0.1 to 0.04).
- ``head_angle`` (rad): a head swing of state-dependent frequency and amplitude around a state
  offset (turns bend ventrally by about 1 rad).
- ``angular_velocity`` (rad/s): large during turns, small otherwise.
- ``pumping`` (pumps/s): about 3.5 while moving forward on food, none in quiescence.
- ``reversal_vec``: 1 in reversal frames, else 0 (int64).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from .dynamics import ornstein_uhlenbeck

#: per state: velocity (mm/s), head swing frequency (Hz), head swing amplitude (rad), head
#: offset (rad), angular velocity (rad/s), pumping (pumps/s), velocity noise sd (mm/s)
STATE_BEHAVIOUR = {
    "forward": (0.02, 0.35, 0.4, 0.0, 0.0, 3.5, 0.004),
    "reversal": (-0.03, 0.25, 0.25, 0.0, 0.0, 1.0, 0.006),
    "turn": (0.008, 0.2, 0.2, 1.0, 0.3, 0.5, 0.002),
    "quiescence": (0.001, 0.05, 0.05, 0.0, 0.0, 0.0, 0.0003),
}
BEHAVIOUR_NOISE = (0.0, 0.0, 0.0, 0.08, 0.04, 0.5)
"""OU sd of the first six quantities of :data:`STATE_BEHAVIOUR` (time constant 1 s); the
velocity's sd is the state's own (last column)."""

LAG_S = 0.5


def behaviour(states: np.ndarray, state_names, t_grid: np.ndarray, t_frames: np.ndarray,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Behaviour variables at frame times from the state on the fine grid.

    Parameters
    ----------
    states : (time,) int state index on the regular grid ``t_grid`` (s).
    state_names : names of the state indices.
    t_frames : (frame,) frame times (s).

    Returns dict of (frame,) arrays: velocity, head_angle, angular_velocity, pumping (float64)
    and reversal_vec (int64).
    """
    dt = float(t_grid[1] - t_grid[0])
    table = np.array([STATE_BEHAVIOUR[s] for s in state_names])[states]
    keep = np.exp(-dt / LAG_S)
    smooth = lfilter([1 - keep], [1.0, -keep], table, axis=0, zi=keep * table[:1])[0]
    smooth[:, :6] += ornstein_uhlenbeck(len(t_grid), 6, dt, 1.0, 1.0, rng) \
        * np.array(BEHAVIOUR_NOISE)
    velocity, frequency, amplitude, offset, angular, pumping, velocity_sd = smooth.T
    velocity = velocity + velocity_sd * ornstein_uhlenbeck(len(t_grid), 1, dt, 1.0, 1.0, rng)[:, 0]
    phase = 2 * np.pi * np.cumsum(frequency) * dt + rng.uniform(0, 2 * np.pi)
    angular_sign = rng.choice([-1.0, 1.0])  # turning direction of this worm
    on_grid = {
        "velocity": velocity,
        "head_angle": offset + amplitude * np.sin(phase),
        "angular_velocity": angular_sign * angular,
        "pumping": np.maximum(pumping, 0.0),
    }
    frame_index = np.clip(np.searchsorted(t_grid, t_frames, side="right") - 1, 0, len(t_grid) - 1)
    out = {name: values[frame_index] for name, values in on_grid.items()}
    reversal = np.array([s == "reversal" for s in state_names])
    out["reversal_vec"] = reversal[states[frame_index]].astype(np.int64)
    return out
