"""trtforge-smoke: an example trtforge plugin adding the `smoke` step kind.

Turn it on in a recipe with a `steps:` section:

    steps:
      smoke: {fail_on_zero_tensors: false}

It runs after the checkpoint step (the quantized checkpoint when the build quantizes, else the downloaded
one), checks its structure and every weight's bits (NaN/Inf, all-zero tensors, index consistency, quantization
config present when the plan quantizes), writes `report.json` (published as `plugins/smoke/` in the output
directory) and fails the build when the checkpoint is broken — before compiling a broken model for an hour.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__version__ = "0.1.0"


class SmokeOptions(BaseModel):
    """The recipe's `steps.smoke` section."""

    model_config = ConfigDict(extra="forbid")

    scan_values: bool = Field(True, description="Read every weight and count NaN/Inf (off: structure only).")
    fail_on_zero_tensors: bool = Field(False, description="Fail when a tensor is all zeros.")
    require_quantized: bool | None = Field(
        None,
        description="Fail unless the checkpoint carries a quantization config (default: when the plan "
        "quantizes).",
    )


def register(registry: Any) -> None:
    """Entry point (`trtforge.steps`): add the `smoke` step kind."""
    from trtforge_smoke.step import SmokeStep

    registry.add(
        SmokeStep,
        after="checkpoint",
        options=SmokeOptions,
        summary="Check the checkpoint's structure and weights (NaN/Inf, zeros, index) before compiling.",
    )
