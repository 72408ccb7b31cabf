"""The canonical 300 neurons of the adult hermaphrodite and label helpers.

The canonical set is the 302 neurons minus CANL and CANR (end organs in Cook et al. 2019),
sorted as strings (``AS1, AS10, AS11, AS2, ...``). This is the slot order of the published
homogenized corpus (Simeon et al. 2024, ``NEURON_LABELS``), so every array in this package
with a ``neuron`` dimension uses it.
"""

from __future__ import annotations

import numpy as np

NEURONS: tuple[str, ...] = (
    "ADAL", "ADAR", "ADEL", "ADER", "ADFL", "ADFR", "ADLL", "ADLR", "AFDL", "AFDR", "AIAL",
    "AIAR", "AIBL", "AIBR", "AIML", "AIMR", "AINL", "AINR", "AIYL", "AIYR", "AIZL", "AIZR",
    "ALA", "ALML", "ALMR", "ALNL", "ALNR", "AQR", "AS1", "AS10", "AS11", "AS2", "AS3", "AS4",
    "AS5", "AS6", "AS7", "AS8", "AS9", "ASEL", "ASER", "ASGL", "ASGR", "ASHL", "ASHR", "ASIL",
    "ASIR", "ASJL", "ASJR", "ASKL", "ASKR", "AUAL", "AUAR", "AVAL", "AVAR", "AVBL", "AVBR",
    "AVDL", "AVDR", "AVEL", "AVER", "AVFL", "AVFR", "AVG", "AVHL", "AVHR", "AVJL", "AVJR",
    "AVKL", "AVKR", "AVL", "AVM", "AWAL", "AWAR", "AWBL", "AWBR", "AWCL", "AWCR", "BAGL",
    "BAGR", "BDUL", "BDUR", "CEPDL", "CEPDR", "CEPVL", "CEPVR", "DA1", "DA2", "DA3", "DA4",
    "DA5", "DA6", "DA7", "DA8", "DA9", "DB1", "DB2", "DB3", "DB4", "DB5", "DB6", "DB7", "DD1",
    "DD2", "DD3", "DD4", "DD5", "DD6", "DVA", "DVB", "DVC", "FLPL", "FLPR", "HSNL", "HSNR",
    "I1L", "I1R", "I2L", "I2R", "I3", "I4", "I5", "I6", "IL1DL", "IL1DR", "IL1L", "IL1R",
    "IL1VL", "IL1VR", "IL2DL", "IL2DR", "IL2L", "IL2R", "IL2VL", "IL2VR", "LUAL", "LUAR", "M1",
    "M2L", "M2R", "M3L", "M3R", "M4", "M5", "MCL", "MCR", "MI", "NSML", "NSMR", "OLLL", "OLLR",
    "OLQDL", "OLQDR", "OLQVL", "OLQVR", "PDA", "PDB", "PDEL", "PDER", "PHAL", "PHAR", "PHBL",
    "PHBR", "PHCL", "PHCR", "PLML", "PLMR", "PLNL", "PLNR", "PQR", "PVCL", "PVCR", "PVDL",
    "PVDR", "PVM", "PVNL", "PVNR", "PVPL", "PVPR", "PVQL", "PVQR", "PVR", "PVT", "PVWL",
    "PVWR", "RIAL", "RIAR", "RIBL", "RIBR", "RICL", "RICR", "RID", "RIFL", "RIFR", "RIGL",
    "RIGR", "RIH", "RIML", "RIMR", "RIPL", "RIPR", "RIR", "RIS", "RIVL", "RIVR", "RMDDL",
    "RMDDR", "RMDL", "RMDR", "RMDVL", "RMDVR", "RMED", "RMEL", "RMER", "RMEV", "RMFL", "RMFR",
    "RMGL", "RMGR", "RMHL", "RMHR", "SAADL", "SAADR", "SAAVL", "SAAVR", "SABD", "SABVL",
    "SABVR", "SDQL", "SDQR", "SIADL", "SIADR", "SIAVL", "SIAVR", "SIBDL", "SIBDR", "SIBVL",
    "SIBVR", "SMBDL", "SMBDR", "SMBVL", "SMBVR", "SMDDL", "SMDDR", "SMDVL", "SMDVR", "URADL",
    "URADR", "URAVL", "URAVR", "URBL", "URBR", "URXL", "URXR", "URYDL", "URYDR", "URYVL",
    "URYVR", "VA1", "VA10", "VA11", "VA12", "VA2", "VA3", "VA4", "VA5", "VA6", "VA7", "VA8",
    "VA9", "VB1", "VB10", "VB11", "VB2", "VB3", "VB4", "VB5", "VB6", "VB7", "VB8", "VB9",
    "VC1", "VC2", "VC3", "VC4", "VC5", "VC6", "VD1", "VD10", "VD11", "VD12", "VD13", "VD2",
    "VD3", "VD4", "VD5", "VD6", "VD7", "VD8", "VD9",
)
"""Canonical neuron labels in canonical (string-sorted) order."""

N_NEURONS = len(NEURONS)
NEURON_INDEX: dict[str, int] = {name: i for i, name in enumerate(NEURONS)}


def is_canonical(label: str) -> bool:
    """True if ``label`` is one of the canonical 300 neuron names."""
    return label in NEURON_INDEX


def neuron_slots(labels) -> np.ndarray:
    """Canonical slot index of each label; -1 for a label outside the canonical set."""
    return np.array([NEURON_INDEX.get(str(label), -1) for label in labels], dtype=np.int64)


def neuron_pairs(neurons=NEURONS) -> tuple[np.ndarray, np.ndarray]:
    """Indices (i, j), i < j, of the upper triangle over ``neurons``: the pair order of every
    pair-indexed array (P = N(N-1)/2)."""
    return np.triu_indices(len(neurons), k=1)
