"""The analytic counts equal transformers' own (built on the meta device), read from a recording.

Building every bundled model takes minutes (DeepSeek-V3 alone ~2.5 min), and the count changes only with the
configs, so scripts/record_param_oracle.py records transformers' counts keyed by each config's SHA-256; a
changed or added config fails `test_recording_matches_the_bundled_configs` until the script is run again.
One small model is still built live, so the oracle code itself (and the recording's agreement) stays tested.
"""

from __future__ import annotations

import json

import pytest

from trtforge.models import bundled_ids, load_model_spec
from trtforge.testing.param_oracle import RECORDING, config_sha256, transformers_param_count

RECORDED = json.loads(RECORDING.read_text())
SCRIPT = "scripts/record_param_oracle.py"
LIVE = "microsoft/Phi-3-mini-4k-instruct"  # the smallest bundled model: ~2 s on the meta device


def test_recording_matches_the_bundled_configs() -> None:
    models = RECORDED["models"]
    assert sorted(models) == bundled_ids(), f"bundled configs were added or removed: run {SCRIPT}"
    stale = [repo for repo in models if models[repo]["config_sha256"] != config_sha256(repo)]
    assert not stale, f"these configs changed since the recording: {stale}: run {SCRIPT}"


@pytest.mark.parametrize("repo", sorted(RECORDED["models"]))
def test_analytic_count_equals_transformers(repo: str) -> None:
    assert load_model_spec(repo).total_params == RECORDED["models"][repo]["params"]


@pytest.mark.slow  # imports torch + transformers (~10 s on an idle core); the meta-device build takes <1 s
def test_live_oracle_agrees_with_the_recording() -> None:
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    assert transformers.__version__ == RECORDED["transformers"], "record with the pinned transformers"
    live = transformers_param_count(LIVE)
    assert live == RECORDED["models"][LIVE]["params"] == load_model_spec(LIVE).total_params
