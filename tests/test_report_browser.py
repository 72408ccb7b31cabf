"""The atlas report in a real headless browser (Debian's Chromium): every section is there
and every figure decodes. Skips when no Chromium is installed (apt-get install chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from pipelines.atlas.build import write_atlas
from pipelines.atlas.report import SECTIONS

from .test_atlas_unit import _fake_inputs

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))
                 if p), None)


def load_in_browser(page) -> str:
    """The DOM of ``page`` after Chromium loaded it and ran its scripts."""
    if CHROMIUM is None:
        pytest.skip("no Chromium found (Debian: apt-get install chromium)")
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={page.parent / 'chromium-profile'}",
         "--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def check_report_in_browser(page) -> int:
    """Assert every section is present and every figure decoded; return the figure count."""
    dom = load_in_browser(page)
    for section in SECTIONS:
        assert f'<section id="{section}"' in dom, f"section {section} missing"
    n_images = len(re.findall(r"<img ", dom))
    loaded = re.search(r'data-figures-loaded="(\d+)"', dom)
    assert loaded, "the page's load handler did not run"
    assert int(loaded.group(1)) == n_images > 0
    return n_images


def test_report_loads_with_all_figures_in_chromium(tmp_path):
    inputs = _fake_inputs(tmp_path)
    out = tmp_path / "atlas"
    write_atlas(inputs, out / "atlas.nc", out / "report.html", out / "graphs", out / "figures",
                "fake", {"seed": 0, "n_null": 2})
    assert check_report_in_browser(out / "report.html") >= 6
