"""The recordings stage's config: example configs and the published preset validate against
the workflow schema, and the preset maps onto the processing settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from pipelines.common.config import ConfigError, validate_config
from pipelines.recordings.homogenize import Settings

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _load(*names):
    config = {}
    for name in names:
        for key, value in yaml.safe_load((REPO / "workflow" / "config" / name).read_text()).items():
            config[key] = value
    return config


def test_published_preset_fills_settings():
    config = validate_config(_load("examples/hub.yaml", "presets/published.yaml"), SCHEMA)
    settings = Settings.from_config(config["homogenize"])
    assert settings.dt == 0.333 and settings.smooth.method == "moving"
    assert settings.smooth.window == 15 and settings.normalize == "standard"
    assert settings.min_timepoints == 600 and settings.min_labeled == 1


def test_defaults_and_bad_values():
    config = validate_config({"recordings": {"r": {"format": "csv"}}}, SCHEMA)
    assert config["homogenize"]["smooth"]["method"] == "none"
    assert config["homogenize"]["normalize"] == "standard"
    with pytest.raises(ConfigError, match="homogenize.smooth.method"):
        validate_config({"recordings": {"r": {"format": "csv"}},
                         "homogenize": {"smooth": {"method": "median"}}}, SCHEMA)
    with pytest.raises(ConfigError, match="recordings.r.format"):
        validate_config({"recordings": {"r": {"format": "xlsx"}}}, SCHEMA)


@pytest.mark.realdata
def test_dag2023_example_validates(dag2023, monkeypatch):
    monkeypatch.chdir(REPO)  # the example's paths are relative to the project root
    if not os.path.isdir("../shared/data/dag2023"):
        pytest.skip("../shared/data is not beside the project root")
    config = validate_config(_load("examples/dag2023.yaml"), SCHEMA)
    assert config["recordings"]["dag2023"]["format"] == "flavell-h5"
