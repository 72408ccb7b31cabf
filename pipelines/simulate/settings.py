"""Settings of the simulator: one frozen dataclass, built from the ``simulate`` config section.

The defaults here and in ``workflow/schemas/simulate.schema.yaml`` are the same values
(``tests/test_simulate.py`` fails on drift), chosen so the default main job (6 worms x 8 min)
runs in seconds.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np

from pipelines.common import ConfigError

STATE_NAMES = ("forward", "reversal", "turn", "quiescence")
"""Brain states the model knows (each has a command-neuron drive and a behaviour)."""


def _pair(low: float, high: float):
    return field(default_factory=lambda: [low, high])


@dataclass(frozen=True)
class SimulationSettings:
    """All parameters of one simulated recording (units in the names: ``_s`` seconds)."""

    worms: int = 6
    duration_s: float = 480.0
    native_dt: float = 0.6
    jitter_s: float = 0.013
    integration_dt: float = 0.1
    burn_in_s: float = 30.0
    connectome: str = "cook2019"
    n_neurons: int = 120
    states: list = field(default_factory=lambda: list(STATE_NAMES))
    dwell_s: dict = field(default_factory=lambda: {
        "forward": 30.0, "reversal": 7.0, "turn": 5.0, "quiescence": 40.0})
    dwell_shape: float = 2.0
    spectral_radius: float = 0.9
    edge_keep: float = 0.8
    state_gain_sd: float = 0.5
    drive: float = 2.0
    tau_s: float = 2.0
    process_noise: float = 0.3
    n_communities: int = 3
    community_size: list = _pair(6, 12)
    community_coupling: float = 0.3
    stimulus_start_s: float = 40.0
    stimulus_period_s: float = 80.0
    stimulus_duration_s: float = 30.0
    stimulus_amplitude: float = 1.0
    community_drive_sd: float = 1.0
    participation_sd: float = 0.3
    calcium_rise_s: float = 0.2
    calcium_decay_s: float = 1.0
    dff: list = _pair(2.5, 6.0)
    shot_noise: float = 0.05
    measurement_noise: float = 0.12
    drift_sd: float = 0.05
    drift_tau_s: float = 60.0
    bleach_tau_s: list = _pair(1500.0, 5000.0)
    recorded_fraction: list = _pair(0.6, 0.8)
    labelled_fraction: list = _pair(0.65, 0.85)
    ambiguous_fraction: float = 0.05
    zero_pad_fraction: float = 0.5
    extra_rois: int = 4
    seed_offset: int = 0
    seed: int = 0  # the config's top-level seed; not part of the simulate section

    @classmethod
    def from_config(cls, section: dict | None, seed: int = 0) -> SimulationSettings:
        """Settings from a ``recordings.<name>.simulate`` section (missing keys: defaults).

        Raises
        ------
        ConfigError
            for an unknown key or an inconsistent value, naming ``simulate.<key>``.
        """
        section = dict(section or {})
        known = {f.name for f in dataclasses.fields(cls)} - {"seed"}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(f"simulate.{unknown[0]}",
                              f"unknown key (allowed: {', '.join(sorted(known))})")
        settings = cls(**section, seed=int(seed))
        settings.check()
        return settings

    def check(self) -> None:
        """Raise :class:`ConfigError` for values the model cannot use."""
        def fail(key, problem):
            raise ConfigError(f"simulate.{key}", problem)

        for key in ("worms", "n_neurons", "duration_s", "native_dt", "integration_dt",
                    "tau_s", "calcium_rise_s", "calcium_decay_s", "dwell_shape",
                    "stimulus_period_s"):
            if not getattr(self, key) > 0:
                fail(key, f"must be > 0, got {getattr(self, key)}")
        if self.integration_dt > self.native_dt / 2:
            fail("integration_dt", f"must be at most native_dt / 2 = {self.native_dt / 2}")
        if not 0 <= self.jitter_s < self.native_dt / 6:
            fail("jitter_s", f"must be in [0, native_dt / 6) so frames stay ordered, got "
                 f"{self.jitter_s}")
        unknown = [s for s in self.states if s not in STATE_NAMES]
        if unknown or len(set(self.states)) != len(self.states) or len(self.states) < 2:
            fail("states", f"need >= 2 distinct names out of {list(STATE_NAMES)}, got "
                 f"{self.states}")
        missing = [s for s in self.states if not self.dwell_s.get(s, 0) > 0]
        if missing:
            fail("dwell_s", f"needs a positive mean dwell (s) for states {missing}")
        for key in ("community_size", "dff", "bleach_tau_s", "recorded_fraction",
                    "labelled_fraction"):
            low, high = getattr(self, key)
            if not 0 < low <= high:
                fail(key, f"needs [low, high] with 0 < low <= high, got {[low, high]}")
        for key in ("recorded_fraction", "labelled_fraction"):
            if getattr(self, key)[1] > 1:
                fail(key, "fractions must be <= 1")
        if self.community_size[0] < 2:
            fail("community_size", "communities need at least 2 neurons")
        for key in ("edge_keep", "ambiguous_fraction", "zero_pad_fraction"):
            if not 0 <= getattr(self, key) <= 1:
                fail(key, f"must be a probability in [0, 1], got {getattr(self, key)}")
        if not 0 < self.edge_keep:
            fail("edge_keep", "must be > 0 (no anatomical edge would carry any interaction)")
        if not 0 < self.spectral_radius < 1:
            fail("spectral_radius", f"must be in (0, 1) for stable dynamics, got "
                 f"{self.spectral_radius}")
        if self.n_communities * self.community_size[0] > self.n_neurons // 2:
            fail("n_communities", f"{self.n_communities} communities of >= "
                 f"{self.community_size[0]} neurons do not fit in half of n_neurons = "
                 f"{self.n_neurons}")
        if not 0 < self.stimulus_duration_s <= self.stimulus_period_s:
            fail("stimulus_duration_s", "must be in (0, stimulus_period_s]")
        for key in ("process_noise", "shot_noise", "measurement_noise", "drift_sd",
                    "community_drive_sd", "participation_sd", "stimulus_amplitude",
                    "community_coupling", "state_gain_sd", "drive", "burn_in_s",
                    "extra_rois", "stimulus_start_s"):
            if getattr(self, key) < 0:
                fail(key, f"must be >= 0, got {getattr(self, key)}")

    def to_dict(self) -> dict:
        """Plain dict of every setting (JSON-serialisable)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): stored in every output's attrs."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SimulationSettings:
        """Inverse of :meth:`to_json`."""
        values = json.loads(text)
        seed = values.pop("seed", 0)
        return cls.from_config(values, seed=seed)


MODEL_STREAM = 0
WORM_STREAM = 1


def seed_sequence(settings: SimulationSettings, *key: int) -> np.random.SeedSequence:
    """The seed sequence of one part of a recording.

    Every part has its own spawn key under the recording's entropy ``(seed, seed_offset)``:
    ``(MODEL_STREAM,)`` for the shared model, ``(WORM_STREAM, w)`` for worm ``w``. A worm's
    stream depends neither on the number of worms nor on the other worms, so each worm can be
    generated alone (one job per worm) and gives the same files.
    """
    return np.random.SeedSequence(entropy=[settings.seed, settings.seed_offset],
                                  spawn_key=tuple(key))
