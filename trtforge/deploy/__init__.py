"""Deploy: render the hand-off for trtllm-serve, Triton, Kubernetes LeaderWorkerSet, NVIDIA Dynamo and Slurm.

Pure renderers (one module per target) turn a DeployContext (recipe + plan) into a Bundle; `check` validates
every Kubernetes document against the stored upstream schemas and every shell script with bash -n and
shellcheck; `write` publishes a target directory whole (temporary directory, then rename) or not at all.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from trtforge import fsutil
from trtforge.deploy.bundle import Bundle
from trtforge.deploy.context import TARGETS, DeployContext, make_context
from trtforge.deploy.schemas import validate_all
from trtforge.deploy.shell import check_scripts
from trtforge.errors import InvalidInput

_RENDERERS = {
    "trtllm-serve": "trtforge.deploy.trtllm_serve",
    "triton": "trtforge.deploy.triton",
    "k8s-lws": "trtforge.deploy.lws",
    "dynamo": "trtforge.deploy.dynamo",
    "slurm": "trtforge.deploy.slurm",
}


def render(ctx: DeployContext, target: str) -> Bundle:
    """The files of one target (pure)."""
    if target not in _RENDERERS:
        raise InvalidInput(f"unknown deploy target '{target}'", hint=f"one of: {', '.join(TARGETS)}")
    bundle: Bundle = importlib.import_module(_RENDERERS[target]).render(ctx)
    if ctx.repo and bundle.documents:  # the init container's shell, checked like the scripts
        # k8s is one of the renderers, which load on demand through _RENDERERS
        from trtforge.deploy.k8s import download_script, wait_script

        bundle.scripts.setdefault("download-model (init container)", "#!/bin/sh\n" + download_script(ctx))
        bundle.scripts.setdefault("wait-for-model (init container)", "#!/bin/sh\n" + wait_script(ctx))
    return bundle


def check(bundle: Bundle) -> None:
    """Validate documents and scripts; StepFailed (exit 1) on the first problem."""
    validate_all(bundle.documents)
    check_scripts(bundle.scripts)


def write(bundle: Bundle, dest: Path) -> Path:
    """Write the bundle to `dest` whole: into a sibling temporary directory, then renamed into place."""
    dest = dest.absolute()
    if dest.exists() and not dest.is_dir():
        raise InvalidInput(f"{dest} exists and is not a directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    fsutil.remove_tree(tmp)
    try:
        for rel, text in sorted(bundle.files.items()):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if text.startswith("#!"):
                path.chmod(0o755)
        fsutil.replace_dir(tmp, dest, old_holder=dest.with_name(f".{dest.name}.old-{os.getpid()}"))
    except BaseException:
        fsutil.remove_tree(tmp)
        raise
    return dest


def render_checked(ctx: DeployContext, targets: list[str]) -> list[Bundle]:
    """Render and check every target before anything is written."""
    bundles = [render(ctx, t) for t in targets]
    for b in bundles:
        check(b)
    return bundles


__all__ = ["TARGETS", "Bundle", "DeployContext", "check", "make_context", "render", "render_checked", "write"]
