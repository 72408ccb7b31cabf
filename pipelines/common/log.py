"""Logging: one named logger per module, configured once per job to a file and stderr."""

from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def get_logger(name: str) -> logging.Logger:
    """The package logger for a module (``pipelines.<stage>.<module>``)."""
    return logging.getLogger(name)


def setup_logging(logfile: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Send ``pipelines`` log records to ``logfile`` (Snakemake's ``log:``) and stderr."""
    root = logging.getLogger("pipelines")
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logfile:
        os.makedirs(os.path.dirname(os.path.abspath(logfile)), exist_ok=True)
        handlers.append(logging.FileHandler(logfile, mode="w"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    logging.captureWarnings(True)
