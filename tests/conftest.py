"""Shared fixtures. The Hub is never reachable from tests: offline mode is set before any
HuggingFace import (huggingface_hub reads it at import time)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CELEGANS_SHARED_DATA", REPO.parent / "shared" / "data"))
DAG2023 = SHARED_DATA / "dag2023"
NEURON_SHEET = SHARED_DATA / "worm-graph" / "neuron_master_sheet.csv"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def dag2023() -> Path:
    """The Dag 2023 real-data folder (../shared/data/dag2023); skips when absent."""
    if not (DAG2023 / "swf702_with_id").is_dir():
        pytest.skip(f"real Dag 2023 data not found at {DAG2023} (set CELEGANS_SHARED_DATA)")
    return DAG2023


@pytest.fixture(scope="session")
def neuron_sheet() -> Path:
    """The canonical neuron master sheet (../shared/data/worm-graph); skips when absent."""
    if not NEURON_SHEET.is_file():
        pytest.skip(f"neuron master sheet not found at {NEURON_SHEET}")
    return NEURON_SHEET
