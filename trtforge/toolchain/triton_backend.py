"""Which TensorRT-LLM releases have NVIDIA's Triton backend facts extracted
(trtforge/data/triton/versions.json).

The index is written by scripts/extract_triton_backend.py; the per-release contracts it points at are read by
trtforge.triton.specs. Kept here, with the other per-version facts, so the resolver can refuse at plan time a
repository whose backend contract cannot be checked, instead of the build failing at its last step.
"""

from __future__ import annotations

from typing import Any

from trtforge.errors import InvalidInput
from trtforge.toolchain.data import load


class SpecUnavailable(InvalidInput):
    """No extracted NVIDIA backend facts for the pinned TensorRT-LLM version."""


def versions_index() -> dict[str, Any]:
    return load("triton/versions.json")


def version_entry(version: str) -> dict[str, Any] | None:
    return versions_index()["versions"].get(version)


def unavailable_reason(version: str) -> str:
    """One line saying why `version` has no extracted backend facts."""
    entry = version_entry(version)
    if entry is None:
        return f"TensorRT-LLM {version} is not a release trtforge knows (trtforge/data/triton/versions.json)"
    if entry.get("engine_backend") is False:
        return (
            f"TensorRT-LLM {version} has no engine (inflight_batcher_llm / C++) Triton backend, only llmapi"
        )
    commits = dict.fromkeys(p["trtllm_commit"][:12] for p in entry.get("pinned_by", []) if p["trtllm_commit"])
    pins = ", ".join(f"NVIDIA/TensorRT-LLM@{c}" for c in commits)
    return (
        f"NVIDIA's Triton backend source of TensorRT-LLM {version} was not extracted"
        + (f" (the release pins {pins})" if pins else "")
        + ": its required parameters and tensors cannot be checked; regenerate trtforge/data/triton/ with "
        "scripts/extract_triton_backend.py from a checkout of that commit"
    )


def extracted_file(version: str) -> str | None:
    """The data file name (without .json) of `version`'s extracted facts, None when not extracted."""
    entry = version_entry(version)
    if entry is None or entry.get("status") != "extracted":
        return None
    return str(entry["file"]).removesuffix(".json")


def engine_spec_name(version: str) -> str:
    """The data file an engine repository of `version` must follow; SpecUnavailable when none was
    extracted."""
    name = extracted_file(version)
    if name is None:
        raise SpecUnavailable(unavailable_reason(version))
    return name
