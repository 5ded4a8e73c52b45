"""Version pins are checked from package metadata, with one clear line and exit code 4 on a mismatch."""

from __future__ import annotations

import pytest

from trtforge.errors import EXIT_MISSING, ToolMissing
from trtforge.quantize import versions

GOOD = {
    "nvidia-modelopt": "0.47.0",
    "transformers": "4.57.6",
    "torch": "2.13.0+cpu",
    "accelerate": "1.15.0",
    "safetensors": "0.8.0",
    "requests": "2.32.0",
}


def test_pinned_set_passes():
    assert versions.version_problems(GOOD) == []
    assert versions.check_versions(GOOD) == []


def test_the_installed_environment_is_supported():
    assert versions.version_problems() == [], "the test venv must satisfy the pins"


def test_transformers_5_is_refused_with_the_reason(monkeypatch):
    monkeypatch.delenv(versions.ALLOW_ENV, raising=False)
    bad = {**GOOD, "transformers": "5.17.0"}
    with pytest.raises(ToolMissing) as e:
        versions.check_versions(bad)
    assert e.value.exit_code == EXIT_MISSING
    line = e.value.one_line()
    assert "transformers 5.17.0 is not supported" in line and "4.57" in line and "\n" not in line


def test_missing_modelopt_and_override(monkeypatch):
    missing = {**GOOD, "nvidia-modelopt": None}
    monkeypatch.setenv(versions.ALLOW_ENV, "1")
    with pytest.raises(ToolMissing, match="nvidia-modelopt is not installed"):
        versions.check_versions(missing)  # the override never excuses a missing library
    warnings = versions.check_versions({**GOOD, "nvidia-modelopt": "0.48.0"})
    assert len(warnings) == 1 and "0.48.0" in warnings[0]


def test_local_version_labels_are_ignored():
    assert versions.version_problems({**GOOD, "torch": "2.11.0+cu128"}) == []
    assert versions.version_problems({**GOOD, "torch": "2.7.1"})
