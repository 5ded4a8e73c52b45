"""transformers' own parameter count of a bundled model (built on the meta device: no memory, no weights).

The independent oracle for trtforge's analytic counts: `scripts/record_param_oracle.py` records it for every
bundled config (tests/models/data/param_oracle.json, keyed by each config's SHA-256), and one test runs it
live on a small model so this code stays tested. Needs torch and transformers (the `ml` extra).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from trtforge.models.source import BUNDLED_DIR

RECORDING = Path(__file__).resolve().parents[2] / "tests" / "models" / "data" / "param_oracle.json"


def config_path(repo: str) -> Path:
    """The bundled config.json snapshot of a hub id (file name: the id with '/' -> '--')."""
    return BUNDLED_DIR / (repo.replace("/", "--", 1) + ".json")


def config_sha256(repo: str) -> str:
    """What the recording is keyed by: a config change makes the recorded count stale."""
    return hashlib.sha256(config_path(repo).read_bytes()).hexdigest()


def transformers_param_count(repo: str) -> int:
    """How many parameters transformers instantiates for a bundled config, as a checkpoint stores them."""
    import torch
    import transformers

    cfg: dict[str, Any] = json.loads(config_path(repo).read_text())
    cfg.pop("quantization_config", None)  # count the unquantized architecture
    config = transformers.CONFIG_MAPPING[cfg["model_type"]](**cfg)
    cls = getattr(transformers, cfg["architectures"][0])
    with torch.device("meta"):
        model = cls(config)
    count = sum(p.numel() for p in model.parameters())
    if cfg["model_type"] == "deepseek_v3":
        # transformers keeps e_score_correction_bias as a buffer; the checkpoint stores it (one per expert).
        count += sum(b.numel() for n, b in model.named_buffers() if n.endswith("e_score_correction_bias"))
    return int(count)
