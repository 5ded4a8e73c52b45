"""The analytic counts equal transformers' own: build each bundled model on the meta device and count."""

from __future__ import annotations

import json

import pytest

from trtforge.models import bundled_ids, load_model_spec
from trtforge.models.source import _bundled

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("repo", bundled_ids())
def test_analytic_count_equals_transformers(repo: str) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = json.loads(_bundled(repo).read_text())  # type: ignore[union-attr]
    cfg.pop("quantization_config", None)  # count the unquantized architecture
    config = transformers.CONFIG_MAPPING[cfg["model_type"]](**cfg)
    cls = getattr(transformers, cfg["architectures"][0])
    with torch.device("meta"):
        model = cls(config)
    theirs = sum(p.numel() for p in model.parameters())
    ours = load_model_spec(repo).total_params
    if cfg["model_type"] == "deepseek_v3":
        # transformers keeps e_score_correction_bias as a buffer; the checkpoint stores it (one per expert).
        theirs += sum(b.numel() for n, b in model.named_buffers() if n.endswith("e_score_correction_bias"))
    assert ours == theirs
