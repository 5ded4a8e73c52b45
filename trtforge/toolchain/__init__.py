"""What TensorRT-LLM offers at a given version, from data extracted from its source (trtforge/data/*.json).

Nothing here imports TensorRT-LLM (it cannot be installed on most build hosts) or anything heavy: the
specs are JSON files with their provenance, read on first use.

- `versions`: release table (Triton / release images, TensorRT, CUDA, driver) and `engine_backend_available`.
- `spec`: validate a `trtllm-build` argv and an LLM-API YAML against the extracted option specs.
- `rules`: cross-option and hardware rules the planner calls at plan time (`check_*` -> list of reasons).
- `archs`: which architectures each backend supports.
"""

from trtforge.toolchain.versions import (
    engine_backend_available,
    release_image_for,
    triton_image_for,
)

__all__ = ["engine_backend_available", "release_image_for", "triton_image_for"]
