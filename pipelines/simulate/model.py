"""The generative model shared by all worms of a simulated recording.

A small set of discrete brain states (forward, reversal, turn, quiescence) switch as a
semi-Markov chain (gamma-distributed dwell times, a fixed jump matrix). In state ``k`` the
latent activity ``x`` of the simulated neurons follows leaky rate dynamics
(:mod:`pipelines.simulate.dynamics`) with

- a signed interaction matrix ``W_k`` (post, pre) supported on the real anatomical wiring
  (chemical synapses and gap junctions) restricted to the simulated neurons; every state uses
  a random subset (``edge_keep``) of the anatomical edges with its own lognormal gains, so
  states differ in their effective circuit, as in the one-hot HMM-GLM;
- a state-specific tonic drive of command neurons (:data:`STATE_DRIVE`);
- planted communities (groups of 6-12 connected neurons) switched on during stimulus blocks
  that occur at the same times in every worm: the members receive a common step plus a shared
  fluctuating input, and couple to each other, so they co-activate strongly in their windows.

Signs of chemical synapses follow the presynaptic neurotransmitter where the connectome stage
knows it (GABA inhibitory, ACh excitatory), else are drawn per synapse
(:data:`P_INHIBITORY_UNKNOWN`); gap junctions are excitatory. Each ``W_k`` is scaled so that
its spectral radius, also with the coupling of any community that can be on, is at most
``spectral_radius`` (< 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from threadpoolctl import threadpool_limits

from pipelines.common import NEURON_INDEX, NEURONS, ConfigError, InputError, get_logger
from pipelines.common.provenance import provenance, provenance_attrs

from .settings import MODEL_STREAM, SimulationSettings, seed_sequence

log = get_logger(__name__)

STATE_DRIVE: dict[str, dict[str, float]] = {
    # forward crawling: AVB/RIB/RID/AIY up, the backward command interneurons down
    # (Chalfie 1985; Gordus 2015; Kato 2015; Lim 2016 for RID)
    "forward": {"AVB": 1.0, "RIB": 1.0, "RID": 1.0, "AIY": 0.5,
                "AVA": -1.0, "AVE": -1.0, "AVD": -0.5, "AIB": -0.5, "RIM": -1.0},
    # reversal: AVA/AVE/AVD/AIB/RIM up, forward neurons down (Gordus 2015; Kato 2015)
    "reversal": {"AVA": 1.0, "AVE": 1.0, "AVD": 1.0, "AIB": 1.0, "RIM": 1.0,
                 "AVB": -1.0, "RIB": -1.0, "RID": -1.0},
    # turn: head/neck turning motor and interneurons (SMDV, RIV, RMEV), AIB/RIM stay high
    # (Gray 2005; Kato 2015), AVA decays
    "turn": {"SMDV": 1.0, "RIV": 1.0, "RMEV": 0.5, "SMDD": -0.5, "AIB": 0.5, "RIM": 0.5,
             "AVA": -0.5, "AVB": -0.5},
    # quiescence: sleep-active RIS and ALA up, global down-regulation (Turek 2016; Nath 2016)
    "quiescence": {"*": -0.3, "RIS": 1.5, "ALA": 1.0, "AVA": -1.0, "AVB": -1.0},
}
"""Tonic drive per state, in units of ``drive``. Keys are neuron names or name stems: a key
drives the neuron of that name and its L/R members (``SMDV`` -> SMDVL, SMDVR); ``*`` drives
every neuron (applied first)."""

JUMP: dict[str, dict[str, float]] = {
    "forward": {"reversal": 0.75, "quiescence": 0.25},
    "reversal": {"turn": 0.5, "forward": 0.5},
    "turn": {"forward": 1.0},
    "quiescence": {"forward": 1.0},
}
"""Where a state goes when it ends (renormalised over the configured states; uniform over the
others when none of its targets is configured)."""

P_INHIBITORY_UNKNOWN = 0.5
"""Probability that a chemical synapse whose presynaptic sign is unknown (glutamate, amines,
unknown transmitter; :func:`pipelines.connectome.sign.neuron_signs`) is inhibitory, drawn once
per synapse: glutamate excites through GLR and inhibits through GluCl receptors."""

RVG_NUMBERED = ("AS1", "DA1", "DB1", "DB2", "DD1", "VA1", "VB1", "VB2", "VD1", "VD2")
"""Numbered ventral-cord neurons in the retrovesicular ganglion, in view of head imaging."""

NON_HEAD_CLASSES = (
    "ALM", "ALN", "AVM", "BDU", "CAN", "DVA", "DVB", "DVC", "HSN", "LUA", "PDA", "PDB", "PDE",
    "PHA", "PHB", "PHC", "PLM", "PLN", "PQR", "PVC", "PVD", "PVM", "PVN", "PVP", "PVQ", "PVR",
    "PVT", "PVW", "SDQ",
)
"""Neuron classes whose cell bodies sit in the midbody or tail: never in a head recording."""

_NUMBERED = ("AS", "DA", "DB", "DD", "VA", "VB", "VC", "VD")


def stem_members(stem: str, neurons) -> list[str]:
    """Neurons named ``stem`` or ``stem`` + L/R (``*``: every neuron)."""
    if stem == "*":
        return list(neurons)
    return [n for n in neurons if n == stem or (n[:-1] == stem and n[-1] in "LR")]


def head_candidates(neurons=NEURONS) -> list[str]:
    """The neurons a head whole-brain recording can see (head ganglia, pharynx and the
    retrovesicular ganglion), in canonical order."""
    def in_head(name):
        numbered = name.rstrip("0123456789")
        if numbered in _NUMBERED and numbered != name:
            return name in RVG_NUMBERED
        return not any(name == c or (name.startswith(c) and len(name) - len(c) <= 1)
                       for c in NON_HEAD_CLASSES)
    return [n for n in neurons if in_head(n)]


def select_neurons(anatomy: np.ndarray, n_neurons: int, states) -> list[str]:
    """The simulated neurons: every neuron a configured state drives, then head neurons by
    anatomical degree (synapses + gap junctions to other head neurons), in canonical order.

    Parameters
    ----------
    anatomy : (layer, post, pre) over the canonical 300 neurons, synapse counts (NaN = 0).
    n_neurons : how many to simulate (at most the number of head neurons).
    states : configured state names.
    """
    head = head_candidates()
    if n_neurons > len(head):
        raise ConfigError("simulate.n_neurons", f"at most {len(head)} head neurons exist, "
                          f"asked for {n_neurons}")
    driven = driven_neurons(states, head)
    index = [NEURON_INDEX[n] for n in head]
    counts = np.nan_to_num(anatomy).sum(axis=0)[np.ix_(index, index)]
    degree = counts.sum(axis=0) + counts.sum(axis=1)
    order = sorted(range(len(head)), key=lambda i: (head[i] not in driven, -degree[i], i))
    chosen = {head[i] for i in order[:n_neurons]}
    return [n for n in NEURONS if n in chosen]


def chemical_signs(neuron_table: pd.DataFrame, neurons, rng: np.random.Generator) -> np.ndarray:
    """Sign (+1/-1) of a potential chemical synapse for every (post, pre) pair. Shape (N, N)
    int8.

    The presynaptic neuron's sign from the connectome stage (GABA -1, ACh +1) where known;
    otherwise inhibitory with probability :data:`P_INHIBITORY_UNKNOWN`, per synapse.
    """
    from pipelines.connectome.sign import neuron_signs

    known = neuron_signs(neuron_table).reindex(list(neurons)).fillna(0).to_numpy()
    draw = np.where(rng.random((len(neurons), len(neurons))) < P_INHIBITORY_UNKNOWN, -1, 1)
    return np.where(known[None, :] != 0, known[None, :], draw).astype(np.int8)


def spectral_radius(matrix: np.ndarray) -> float:
    """Largest eigenvalue modulus of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def interaction_matrices(chemical: np.ndarray, gap: np.ndarray, sign: np.ndarray, n_states: int,
                         settings: SimulationSettings, rng: np.random.Generator,
                         additions: list[np.ndarray] | None = None) -> np.ndarray:
    """Per-state signed interactions ``W_k`` (state, post, pre) on the anatomical support.

    Magnitude ``log1p(count)`` per layer (chemical signed, gap positive); per state each
    anatomical edge is kept with probability ``edge_keep`` and scaled by a lognormal gain
    (sd ``state_gain_sd``). Each ``W_k`` is then scaled by the largest factor that keeps the
    spectral radius of ``W_k + A`` at most ``spectral_radius`` for every matrix ``A`` of
    ``additions`` (the community couplings that can be switched on; the zero matrix always
    included). The diagonal is zero (self-dynamics are the leak, not an interaction).
    """
    base = sign * np.log1p(chemical) + np.log1p(gap)
    np.fill_diagonal(base, 0.0)
    support = base != 0
    extra = [np.zeros_like(base), *(additions or [])]
    weights = np.empty((n_states, *base.shape))
    for k in range(n_states):
        keep = support & (rng.random(base.shape) < settings.edge_keep)
        gain = rng.lognormal(0.0, settings.state_gain_sd, base.shape)
        w = np.where(keep, base * gain, 0.0)
        radius = spectral_radius(w)
        if radius == 0:
            raise InputError(settings.connectome, "no interaction left among the simulated "
                             "neurons (empty wiring?): raise simulate.n_neurons or edge_keep")
        unit = w / radius
        weights[k] = unit * _largest_scale(unit, extra, settings.spectral_radius)
    return weights


def _largest_scale(w: np.ndarray, extra: list[np.ndarray], bound: float) -> float:
    """Largest s in [0, bound] (to 1e-3) with spectral radius of s w + a <= bound for every a
    in ``extra`` (w has spectral radius 1); bisection, as the radius is continuous in s."""
    def fits(s):
        return all(spectral_radius(s * w + a) <= bound for a in extra)

    if fits(bound):
        return bound
    low, high = 0.0, bound
    while high - low > 1e-3:
        middle = 0.5 * (low + high)
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def plant_communities(adjacency: np.ndarray, eligible: np.ndarray, settings: SimulationSettings,
                      rng: np.random.Generator) -> np.ndarray:
    """Disjoint planted communities grown on the wiring. Returns (community, neuron) bool.

    Each community starts from a random eligible neuron and grows by adding the eligible
    neuron with the most synapses to the current members (random tie-break; a random eligible
    neuron when none is connected) until its size, drawn in ``community_size``.
    """
    n = adjacency.shape[0]
    undirected = adjacency + adjacency.T
    free = eligible.copy()
    membership = np.zeros((settings.n_communities, n), dtype=bool)
    low, high = settings.community_size
    for c in range(settings.n_communities):
        size = int(rng.integers(low, high + 1))
        if free.sum() < size:
            raise ConfigError("simulate.n_communities", f"only {int(free.sum())} neurons left "
                              f"for community {c} of size {size}")
        members = [int(rng.choice(np.flatnonzero(free)))]
        free[members[0]] = False
        while len(members) < size:
            links = undirected[members].sum(axis=0) + rng.random(n) * 1e-3
            links[~free] = -np.inf
            best = int(np.argmax(links))
            members.append(best)
            free[best] = False
        membership[c, members] = True
    return membership


def stimulus_schedule(settings: SimulationSettings) -> pd.DataFrame:
    """Stimulus blocks shared by every worm: ``start``, ``end`` (s from recording start) and
    the ``community`` each block switches on (cycling through the communities)."""
    starts = np.arange(settings.stimulus_start_s, settings.duration_s, settings.stimulus_period_s)
    starts = starts[starts + settings.stimulus_duration_s <= settings.duration_s]
    if settings.n_communities == 0:
        starts = starts[:0]
    return pd.DataFrame({
        "start": starts,
        "end": starts + settings.stimulus_duration_s,
        "community": np.arange(len(starts)) % max(settings.n_communities, 1),  # none if empty
    })


def jump_matrix(states) -> np.ndarray:
    """(state_from, state_to) probabilities of the next state when a dwell ends."""
    jump = np.zeros((len(states), len(states)))
    for i, s in enumerate(states):
        for j, target in enumerate(states):
            jump[i, j] = JUMP[s].get(target, 0.0)
        if jump[i].sum() == 0:
            jump[i] = 1.0
            jump[i, i] = 0.0
        jump[i] /= jump[i].sum()
    return jump


def frame_transition(jump: np.ndarray, dwell: np.ndarray, dt: float) -> np.ndarray:
    """The per-frame transition matrix of the Markov chain with the same mean dwells
    (geometric dwell of mean ``dwell / dt`` frames): what an HMM at frame rate ``dt`` fits."""
    stay = np.exp(-dt / dwell)
    return np.diag(stay) + (1 - stay)[:, None] * jump


def state_drive(states, neurons, strength: float) -> np.ndarray:
    """(state, neuron) tonic drive from :data:`STATE_DRIVE` (contributions add up)."""
    drive = np.zeros((len(states), len(neurons)))
    index = {n: i for i, n in enumerate(neurons)}
    for k, state in enumerate(states):
        for stem, value in STATE_DRIVE[state].items():
            for name in stem_members(stem, neurons):
                drive[k, index[name]] += value * strength
    return drive


def driven_neurons(states, neurons) -> set[str]:
    """Neurons a configured state drives by name (the command neurons; ``*`` excluded)."""
    return {n for s in states for stem in STATE_DRIVE[s] if stem != "*"
            for n in stem_members(stem, neurons)}


def load_wiring(source: str) -> tuple[xr.DataArray, pd.DataFrame]:
    """Anatomical wiring (layer, pre, post) and neuron table from the connectome stage."""
    from pipelines.connectome import neuron_table, read_source

    return read_source(source), neuron_table()


def build_model(settings: SimulationSettings, wiring: xr.DataArray | None = None,
                neuron_table: pd.DataFrame | None = None) -> xr.Dataset:
    """All parameters shared by the worms of one simulated recording.

    Parameters
    ----------
    settings
        Simulation settings (the seed included).
    wiring
        (layer, pre, post) synapse counts with ``layer`` in {chemical, gap} on canonical neuron
        names (missing neurons count 0); default: ``settings.connectome`` from the connectome
        stage.
    neuron_table
        Canonical-label index with a ``neurotransmitter`` column (default: the connectome
        stage's table).

    Returns
    -------
    xr.Dataset with dims state, post, pre, neuron (simulated neurons, canonical order),
    community, block, layer; see ``docs/simulate.md`` for every variable.
    """
    with threadpool_limits(1):  # tiny matrices: BLAS threads only contend
        return _build_model(settings, wiring, neuron_table)


def _build_model(settings, wiring, neuron_table) -> xr.Dataset:
    if wiring is None or neuron_table is None:
        loaded = load_wiring(settings.connectome)
        wiring = loaded[0] if wiring is None else wiring
        neuron_table = loaded[1] if neuron_table is None else neuron_table
    rng = np.random.default_rng(seed_sequence(settings, MODEL_STREAM))
    states = list(settings.states)
    anatomy = _canonical_anatomy(wiring, settings.connectome)
    neurons = select_neurons(anatomy, settings.n_neurons, states)
    index = [NEURON_INDEX[n] for n in neurons]
    chemical = anatomy[0][np.ix_(index, index)]
    gap = anatomy[1][np.ix_(index, index)]
    gap = np.maximum(gap, gap.T)  # electrical coupling is symmetric
    sign = chemical_signs(neuron_table, neurons, rng)
    drive = state_drive(states, neurons, settings.drive)
    command = driven_neurons(states, neurons)
    eligible = np.array([n not in command for n in neurons])  # command neurons keep their role
    membership = plant_communities(chemical + gap, eligible, settings, rng)
    coupling = community_coupling(membership, settings.community_coupling)
    schedule = stimulus_schedule(settings)
    together = [coupling[list(on)].sum(axis=0)
                for on in _simultaneous(schedule, len(membership)) if on]
    worst_coupling = max((spectral_radius(a) for a in together), default=0.0)
    if worst_coupling >= settings.spectral_radius:
        raise ConfigError("simulate.community_coupling",
                          f"community coupling alone reaches spectral radius "
                          f"{worst_coupling:.2f}, not below spectral_radius = "
                          f"{settings.spectral_radius}: lower community_coupling")
    interaction = interaction_matrices(chemical, gap, sign, len(states), settings, rng,
                                       together)
    worst = max(spectral_radius(w + a) for w in interaction for a in [np.zeros_like(w), *together])
    log.info("model: %d neurons, %d states, %d communities, worst spectral radius %.2f",
             len(neurons), len(states), len(membership), worst)

    tau = np.clip(rng.lognormal(np.log(settings.tau_s), 0.4, len(neurons)),
                  settings.tau_s / 3, settings.tau_s * 3)
    tau = np.maximum(tau, 2 * settings.integration_dt)  # Euler stays stable
    baseline = rng.normal(-0.3, 0.3, len(neurons))
    detectability = rng.beta(4.0, 2.0, len(neurons))
    dwell = np.array([settings.dwell_s[s] for s in states], dtype=float)
    jump = jump_matrix(states)
    windows = _community_windows(schedule, settings.n_communities)

    model = xr.Dataset(
        {
            "interaction": (("state", "post", "pre"), interaction),
            "anatomy": (("layer", "post", "pre"), np.stack([chemical, gap])),
            "sign": (("post", "pre"), sign),
            "drive": (("state", "neuron"), drive),
            "baseline": ("neuron", baseline),
            "tau": ("neuron", tau),
            "detectability": ("neuron", detectability),
            "dwell_mean": ("state", dwell),
            "jump": (("state_from", "state_to"), jump),
            "transition": (("state_from", "state_to"),
                           frame_transition(jump, dwell, settings.native_dt)),
            "membership": (("community", "neuron"), membership),
            "coupling": (("community", "post", "pre"), coupling),
            "window_start": (("community", "window"), windows[0]),
            "window_end": (("community", "window"), windows[1]),
            "stimulus_start": ("block", schedule["start"].to_numpy(float)),
            "stimulus_end": ("block", schedule["end"].to_numpy(float)),
            "stimulus_community": ("block", schedule["community"].to_numpy(np.int64)),
        },
        coords={
            "state": states, "state_from": states, "state_to": states,
            "neuron": neurons, "post": neurons, "pre": neurons,
            "neuron_class": ("neuron", _classes(neuron_table, neurons)),
            "layer": ["chemical", "gap"], "community": np.arange(len(membership)),
            "block": np.arange(len(schedule)),
        },
    )
    _describe(model)
    wiring_source = {k: str(v) for k, v in wiring.attrs.items()}  # source, citation, versions
    model.attrs.update(provenance_attrs(provenance(
        "simulate", settings={"simulate": settings.to_dict(), "wiring": wiring_source},
        checksums=False)))
    model.attrs["settings"] = settings.to_json()
    model.attrs["simulated"] = "yes: synthetic worms, not real recordings"
    return model


def community_coupling(membership: np.ndarray, strength: float) -> np.ndarray:
    """(community, post, pre) all-to-all excitatory coupling among each community's members,
    ``strength / (size - 1)`` per pair, so each block's leading eigenvalue is ``strength``."""
    inside = membership[:, :, None] & membership[:, None, :]
    size = membership.sum(axis=1)[:, None, None]
    coupling = np.where(inside, strength / np.maximum(size - 1, 1), 0.0)
    idx = np.arange(membership.shape[1])
    coupling[:, idx, idx] = 0.0
    return coupling


def _simultaneous(schedule: pd.DataFrame, n_communities: int) -> set[tuple[int, ...]]:
    """Every set of communities switched on together at some time (the empty set included)."""
    sets = {()}
    for start in schedule["start"]:
        on = schedule[(schedule["start"] <= start) & (schedule["end"] > start)]["community"]
        sets.add(tuple(sorted(set(on.tolist()))))
    return {s for s in sets if all(c < n_communities for c in s)}


def _classes(neuron_table: pd.DataFrame, neurons) -> list[str]:
    """Anatomical class of each neuron (the table's ``class`` column; the name if absent)."""
    if "class" not in neuron_table:
        return list(neurons)
    found = neuron_table.reindex(list(neurons))["class"]
    return [str(c) if isinstance(c, str) and c else n for n, c in zip(neurons, found,
                                                                        strict=True)]


def _community_windows(schedule: pd.DataFrame, n_communities: int):
    counts = schedule["community"].value_counts()
    width = int(counts.max()) if len(counts) else 0
    start = np.full((n_communities, width), np.nan)
    end = np.full((n_communities, width), np.nan)
    for c in range(n_communities):
        rows = schedule[schedule["community"] == c]
        start[c, :len(rows)] = rows["start"]
        end[c, :len(rows)] = rows["end"]
    return start, end


def _canonical_anatomy(wiring: xr.DataArray, source: str) -> np.ndarray:
    """(layer [chemical, gap], post, pre) synapse counts over the canonical 300 neurons."""
    layers = [str(v) for v in wiring["layer"].values]
    if not {"chemical", "gap"} <= set(layers):
        raise InputError(source, f"wiring needs layers chemical and gap, has {layers}")
    aligned = wiring.sel(layer=["chemical", "gap"]).reindex(pre=list(NEURONS), post=list(NEURONS))
    return np.nan_to_num(aligned.transpose("layer", "post", "pre").values.astype(float))


_DESCRIPTIONS = {
    "interaction": "signed interaction W[state, post, pre] onto post from pre's activity tanh(x)",
    "anatomy": "synapse counts among the simulated neurons (gap made symmetric)",
    "sign": "sign drawn for a chemical synapse pre->post from pre's neurotransmitter",
    "drive": "tonic drive of each neuron in each state (command neurons)",
    "baseline": "tonic input of each neuron in every state",
    "tau": "leak time constant of the latent activity (s)",
    "detectability": "relative chance of a neuron being recorded and labelled in a worm",
    "dwell_mean": "mean dwell time of each state (s); dwell ~ Gamma(dwell_shape)",
    "jump": "probability of the next state when a dwell ends",
    "transition": "per-frame transition matrix of the Markov chain with the same mean dwells",
    "membership": "planted community membership",
    "coupling": "extra interaction among a community's members while its stimulus is on",
    "window_start": "start of the community's active windows (s from recording start)",
    "window_end": "end of the community's active windows (s from recording start)",
    "stimulus_start": "stimulus block start (s from recording start), same in every worm",
    "stimulus_end": "stimulus block end (s from recording start)",
    "stimulus_community": "community switched on by the block",
}


def _describe(dataset: xr.Dataset) -> None:
    for name, text in _DESCRIPTIONS.items():
        if name in dataset:
            dataset[name].attrs["description"] = text
