"""Which TensorRT-LLM backend runs the model: the TensorRT engine (trtllm-build) or the PyTorch LLM API.

Backend support per architecture and version comes from trtforge.toolchain (data extracted from
TensorRT-LLM's source); this module only decides, and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trtforge.hardware import GPU
from trtforge.models import ModelSpec
from trtforge.toolchain.rules import check_backend
from trtforge.toolchain.versions import engine_backend_available, version_key


@dataclass
class BackendChoice:
    backend: str  # tensorrt | pytorch | reference
    decisions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def choose_backend(requested: str, spec: ModelSpec, gpu: GPU, trtllm_version: str) -> BackendChoice:
    """Decide the backend from the recipe's `engine.backend`, the architecture and the pinned version.

    auto -> pytorch (the LLM-API default since TensorRT-LLM 1.0); tensorrt only when asked (or when the
    architecture has no PyTorch implementation), when the architecture is in the engine MODEL_MAP, and when
    the version still has trtllm-build (<= 1.2.x).
    """
    arch = spec.architecture
    if gpu.is_cpu:
        return BackendChoice(
            "reference", ["cpu target: the CPU reference backend runs the checkpoint; no engine"]
        )
    if requested == "auto":
        if spec.backends.get("pytorch"):
            backend, why = "pytorch", "auto: the LLM-API backend is TensorRT-LLM's default"
        elif spec.backends.get("tensorrt") and engine_backend_available(trtllm_version):
            backend, why = "tensorrt", f"auto: {arch} has no PyTorch-backend implementation"
        else:
            return BackendChoice(
                "pytorch", errors=[f"{arch} runs on neither TensorRT-LLM backend at {trtllm_version}"]
            )
    else:
        backend, why = requested, "asked for"
    choice = BackendChoice(backend, errors=check_backend(backend, trtllm_version, arch))
    if backend == "pytorch" and not spec.backends.get("pytorch"):
        alt = " (use engine.backend: tensorrt)" if spec.backends.get("tensorrt") else ""
        choice.errors.append(f"{arch} is not supported by the TensorRT-LLM PyTorch backend{alt}")
    since = spec.pytorch_min_version
    if backend == "pytorch" and since and version_key(trtllm_version) < version_key(since):
        choice.errors.append(
            f"{arch} needs TensorRT-LLM >= {since} on the PyTorch backend; the recipe pins {trtllm_version}"
        )
    if not choice.errors:
        only = (
            f"; the only backend for {arch}"
            if backend == "pytorch" and not spec.backends.get("tensorrt")
            else ""
        )
        choice.decisions.append(f"backend {backend} ({why}{only})")
    return choice
