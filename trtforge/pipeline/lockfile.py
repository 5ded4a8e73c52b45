"""`trtforge.lock.json`: what a build actually used and produced (DVC's dvc.lock, specialised).

Deterministic for the same inputs (no timestamps; a cached step reports the duration of the run that made it),
so a no-op rebuild leaves the file as it was except for the `cached` flags. Never holds a secret: the text is
redacted on the way out and the tests check a canary token.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trtforge import __version__, fsutil, secrets
from trtforge.errors import InvalidInput
from trtforge.pipeline import hashing
from trtforge.pipeline.versions import package_versions

if TYPE_CHECKING:  # pragma: no cover
    from trtforge.pipeline.runner import StepResult
    from trtforge.plan.model import Plan
    from trtforge.recipe.loader import LoadedRecipe

LOCK_NAME = "trtforge.lock.json"
LOCK_VERSION = 1


def _model_block(loaded: LoadedRecipe, results: list[StepResult]) -> dict[str, Any]:
    m = loaded.recipe.model
    download = next((r for r in results if r.kind == "download"), None)
    meta = (download.metadata if download is not None else None) or {}
    if m.gguf is not None:  # the gguf_convert step's record: where the file came from, both hashes
        conv = next((r for r in results if r.kind == "gguf_convert"), None)
        src = ((conv.metadata if conv is not None else None) or {}).get("source") or {}
        return {
            "source": "gguf",
            "gguf": src or m.gguf.model_dump(mode="json"),
            "repo": m.repo,
            "revision_requested": m.revision if m.repo else None,
            "revision_resolved": src.get("revision"),
            "content_digest": conv.digest if conv else None,
        }
    block: dict[str, Any] = {"source": "hub" if m.repo else "path"}
    if m.repo:
        block.update(repo=m.repo, revision_requested=m.revision, revision_resolved=meta.get("revision"))
    else:
        block.update(path=m.path, revision_requested=None, revision_resolved=None)
    block["content_digest"] = download.digest if download is not None else None
    return block


def _plan_block(plan: Plan) -> dict[str, Any]:
    doc = plan.model_dump(mode="json")
    keep = (
        "backend",
        "fits",
        "parallel",
        "limits",
        "quantization",
        "toolchain",
        "moe_backend",
        "tuned_config",
        "warnings",
        "topology",
    )  # topology: multi-node plans only
    out = {k: doc[k] for k in keep if k in doc}
    out["engine_built"] = plan.backend == "tensorrt"
    if plan.backend == "reference":
        out["engine_note"] = "reference backend (CPU target): no TensorRT engine is built"
    return out


def make_lock(
    loaded: LoadedRecipe, plan: Plan, results: list[StepResult], layout: dict[str, str], *, status: str
) -> dict[str, Any]:
    """The lock document for one target's build. `layout` maps output subdirectory -> step name."""
    blocked = next((r for r in results if r.status == "blocked"), None)
    return {
        "lock_version": LOCK_VERSION,
        "trtforge": __version__,
        "status": status,
        "recipe": {"name": loaded.recipe.name, "file": str(loaded.path), "fingerprint": loaded.fingerprint},
        "model": _model_block(loaded, results),
        "target": {
            "label": plan.target,
            "gpu": plan.gpu.name,
            "sm": plan.gpu.sm,
            "gpus": plan.gpu.count,
            "tp": plan.parallel.tp,
            "pp": plan.parallel.pp,
            "ep": plan.parallel.ep,
            "backend": plan.backend,
        },
        "plan": _plan_block(plan),
        "hash_format": hashing.FORMAT,
        "packages": package_versions(),
        "outputs": dict(sorted(layout.items())),
        "steps": [r.lock_record() for r in results],
        "blocked": {"step": blocked.name, "message": blocked.message} if blocked else None,
    }


def lock_text(doc: dict[str, Any]) -> str:
    return secrets.redact(json.dumps(doc, indent=2, default=str)) + "\n"


def read_lock(path: Path) -> dict[str, Any]:
    """Load a lock file for `build --lock`; InvalidInput (exit 2) if it is not one."""
    doc = fsutil.read_json(path)
    if not (
        isinstance(doc, dict)
        and doc.get("lock_version") == LOCK_VERSION
        and isinstance(doc.get("steps"), list)
    ):
        raise InvalidInput(f"{path}: not a trtforge lock file (version {LOCK_VERSION})")
    return doc
