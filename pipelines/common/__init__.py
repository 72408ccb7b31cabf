"""Shared foundations: canonical neurons, atomic writes, provenance, logging, errors, config."""

from .atomic import atomic_path, write_json, write_netcdf
from .errors import ConfigError, InputError
from .log import get_logger, setup_logging
from .neurons import N_NEURONS, NEURON_INDEX, NEURONS, is_canonical, neuron_pairs, neuron_slots
from .provenance import file_checksum, provenance

__all__ = [
    "NEURONS",
    "N_NEURONS",
    "NEURON_INDEX",
    "ConfigError",
    "InputError",
    "atomic_path",
    "file_checksum",
    "get_logger",
    "is_canonical",
    "neuron_pairs",
    "neuron_slots",
    "provenance",
    "setup_logging",
    "write_json",
    "write_netcdf",
]
