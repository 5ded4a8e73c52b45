"""`--runtime reference`: serve a repository with its tensorrt_llm slot run by the CPU reference model.

A repository built for `gpu: cpu` already holds the reference model and is served as it is. For a GPU
repository an overlay is built in a temporary directory: every model is a symlink to the built one, except
tensorrt_llm, whose config is the built config (same tensors, batch size, decoupled mode) with backend python
and reference parameters, and whose model.py is the reference model. The built repository is never modified.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from trtforge.errors import InvalidInput
from trtforge.triton.kinds.tensorrt_llm import to_reference
from trtforge.triton.models import install_model
from trtforge.triton.pb import parse_pbtxt
from trtforge.triton.settings import CHECKPOINT_DIR, REFERENCE_NOTE, RepoSettings
from trtforge.triton.writer import config_text, read_manifest


def repo_settings(repo: Path) -> RepoSettings:
    manifest = read_manifest(repo)
    if manifest is None:
        raise InvalidInput(
            f"{repo} has no readable trtforge.json: not a trtforge model repository",
            hint="build it with `trtforge build`, or pass --runtime local for a foreign repository",
        )
    return RepoSettings.from_json(manifest["settings"])


def reference_overlay(repo: Path, work_dir: Path, checkpoint: Path | None = None) -> Path:
    """A repository to serve with the reference runtime: `repo` itself when it already is one, else an
    overlay."""
    s = repo_settings(repo)
    if s.runtime == "reference":
        return repo
    bundled = repo / CHECKPOINT_DIR
    if checkpoint is None and (bundled / "config.json").is_file():
        checkpoint = bundled  # llmapi repositories carry the checkpoint
    if checkpoint is None:
        # `trtforge build` publishes the (quantized) checkpoint next to the repository
        # (outputs.keep_checkpoint).
        for candidate in (repo.parent / "checkpoint" / "hf", repo.parent / "checkpoint"):
            if (candidate / "config.json").is_file():
                checkpoint = candidate
                break
    if checkpoint is None:
        raise InvalidInput(
            f"{repo} holds a TensorRT engine; the reference runtime runs the Hugging Face checkpoint instead",
            hint="pass --checkpoint DIR (the build's quantized checkpoint, <quantize output>/hf)",
        )
    if not (checkpoint / "config.json").is_file():
        raise InvalidInput(f"{checkpoint} is not a Hugging Face checkpoint (no config.json)")
    overlay = work_dir / "reference-repository"
    if overlay.exists():
        shutil.rmtree(overlay)
    overlay.mkdir(parents=True)
    for entry in sorted(repo.iterdir()):
        if entry.is_dir() and entry.name != "tensorrt_llm":
            (overlay / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
        elif entry.is_file():
            (overlay / entry.name).symlink_to(entry.resolve())
    slot = overlay / "tensorrt_llm"
    (slot / "1").mkdir(parents=True)
    built = parse_pbtxt((repo / "tensorrt_llm" / "config.pbtxt").read_text())
    (slot / "config.pbtxt").write_text(config_text(to_reference(built, s, str(checkpoint.resolve()))))
    install_model("reference", slot / "1")
    return overlay


def refuse_unloadable_checkpoint(repo: Path) -> None:
    """When the reference model fills the tensorrt_llm slot of `repo` (as served), ask it, before Triton
    starts, whether it can load the slot's checkpoint: a refusal is one line now instead of a server that
    starts, fails to load the model and stops. The reference model's own rule decides; it applies it again
    when it loads."""
    # Here, not at the top: the model module imports numpy (~90 ms measured with -X importtime), which no
    # other CLI command loads.
    from trtforge.triton.models.reference.model import unsupported_quantization
    from trtforge.triton.models.trtforge_model_utils import resolve_repo_path

    slot = repo / "tensorrt_llm"
    try:
        params = parse_pbtxt((slot / "config.pbtxt").read_text()).parameters
    except OSError:
        return  # validate-repo reports it
    if "runtime" not in params or params["runtime"].string_value != REFERENCE_NOTE:
        return
    checkpoint = resolve_repo_path(str(slot), params["checkpoint_dir"].string_value)
    if not (Path(checkpoint) / "config.json").is_file():
        return  # the model reports it, with the path it was given
    why = unsupported_quantization(checkpoint)
    if why is not None:
        raise InvalidInput(
            f"{checkpoint}: {why}",
            hint="serve it on a GPU (--runtime container), or test an FP8 or unquantized build here",
        )
