"""Sign of chemical connections (excitatory +1 / inhibitory -1 / unknown 0) from the
presynaptic neuron's neurotransmitter.

The rule (:data:`DEFAULT_SIGN_RULES`, overridable with ``connectomes.sign_rules``):

- GABA -> inhibitory (GABA-A type UNC-49 channels at the neuromuscular junction and in
  the nerve ring);
- ACh -> excitatory (nicotinic cation channels; ACh-gated chloride channels exist but are
  the minority);
- Glu -> unknown: glutamate excites through GLR/NMR cation channels and inhibits through
  GluCl chloride channels (AVR-14, GLC-3, ...), so identity alone does not decide;
- monoamines (DA, 5-HT, OA, TA), betaine and unknown -> unknown (mostly extrasynaptic,
  receptor-dependent).

A neuron with several transmitters takes the sign its fast transmitters (ACh, Glu, GABA)
agree on; when they disagree (e.g. ACh + GABA, ACh + Glu with Glu unknown) its sign is
unknown; without a fast transmitter its other transmitters decide the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from pipelines.common import NEURONS, ConfigError

DEFAULT_SIGN_RULES = {
    "ACh": 1,
    "Glu": 0,
    "GABA": -1,
    "DA": 0,
    "5-HT": 0,
    "OA": 0,
    "TA": 0,
    "betaine": 0,
    "unknown": 0,
}
FAST_TRANSMITTERS = ("ACh", "Glu", "GABA")


def transmitter_sign(transmitters: str, rules: Mapping[str, int] = DEFAULT_SIGN_RULES) -> int:
    """Sign of one neuron from its ``+``-joined transmitters (``"ACh+5-HT"`` -> +1)."""
    names = [t for t in str(transmitters).split("+") if t] or ["unknown"]
    unknown = [t for t in names if t not in rules]
    if unknown:
        raise ConfigError("connectomes.sign_rules", f"no sign rule for {unknown}")
    fast = [t for t in names if t in FAST_TRANSMITTERS]
    signs = {int(rules[t]) for t in (fast or names)}
    return signs.pop() if len(signs) == 1 else 0


def neuron_signs(table: pd.DataFrame, rules: Mapping[str, int] | None = None) -> pd.Series:
    """(neuron,) int8 sign of each neuron's outgoing chemical synapses.

    Uses the ``neurotransmitters`` column (all transmitters) when present, else
    ``neurotransmitter``.
    """
    rules = {**DEFAULT_SIGN_RULES, **(rules or {})}
    bad = {k: v for k, v in rules.items() if v not in (-1, 0, 1)}
    if bad:
        raise ConfigError("connectomes.sign_rules", f"signs must be -1, 0 or 1, got {bad}")
    column = "neurotransmitters" if "neurotransmitters" in table else "neurotransmitter"
    signs = table[column].map(lambda t: transmitter_sign(t, rules))
    return signs.reindex(list(NEURONS)).fillna(0).astype(np.int8)


def connection_signs(table: pd.DataFrame, rules: Mapping[str, int] | None = None) -> xr.DataArray:
    """(pre, post) int8: the presynaptic neuron's sign for every pair (whether or not a
    source reports a synapse there; multiply by a weight to get a signed connectome)."""
    signs = neuron_signs(table, rules).to_numpy()
    matrix = np.repeat(signs[:, None], len(NEURONS), axis=1)
    return xr.DataArray(
        matrix,
        dims=("pre", "post"),
        coords={"pre": list(NEURONS), "post": list(NEURONS)},
        name="sign",
        attrs={"meaning": "+1 excitatory, -1 inhibitory, 0 unknown (presynaptic transmitter)"},
    )
