"""One module per Triton model kind; each exposes `build(settings) -> ModelConfig` (a protobuf message)."""

from __future__ import annotations

from trtforge.triton.kinds import bls, ensemble, llmapi, postprocessing, preprocessing, tensorrt_llm

__all__ = ["bls", "ensemble", "llmapi", "postprocessing", "preprocessing", "tensorrt_llm"]
