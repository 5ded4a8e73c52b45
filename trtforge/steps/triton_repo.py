"""The triton_repo step: write the Triton model repository for ops into `<out>/model_repository/`.

Inputs (ctx.inputs, by upstream step name):
  checkpoint  "quantize" (its `hf/` subdirectory) or else "download" (the HF directory itself): tokenizer,
              special tokens, and the weights the reference runtime / llmapi model load
  compile     "compile_engine" (`engine/` with config.json + rank*.engine) for the engine backend, or
              "llmapi_config" (`llm_api_options.yaml`) for the PyTorch backend; none for the CPU reference
              runtime
The repository is self-contained and relocatable (files hard-linked or copied in, repository-relative paths;
the engine path the C++ backend needs absolute lives under the documented mount point) and is validated with
the same checks `trtforge validate-repo` runs before the step returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from trtforge import __version__
from trtforge.errors import InvalidInput, StepFailed
from trtforge.pipeline.step import Step, StepContext
from trtforge.triton.from_plan import settings_from_spec, triton_section
from trtforge.triton.models import MODELS_DIR, UTILS_FILE
from trtforge.triton.specs import source
from trtforge.triton.validate import validate_repository
from trtforge.triton.writer import write_repository

REPO_DIR = "model_repository"
CHECKPOINT_STEPS = ("quantize", "download")
LLMAPI_FILES = ("llm_api_options.yaml", "llm_api_config.yaml")


def checkpoint_dir(inputs: dict[str, Path]) -> Path:
    """The Hugging Face checkpoint: the quantize step's hf/ if there is one, else the download output."""
    if "quantize" in inputs:
        hf = Path(inputs["quantize"]) / "hf"
        if (hf / "config.json").is_file():
            return hf
        raise InvalidInput(f"quantize output {inputs['quantize']} has no hf/config.json")
    if "download" in inputs:
        return Path(inputs["download"])
    for path in inputs.values():  # a plugin step in between that republishes a checkpoint
        for candidate in (Path(path) / "hf", Path(path)):
            if (candidate / "config.json").is_file() and list(candidate.glob("*.safetensors")):
                return candidate
    raise InvalidInput(
        "triton_repo needs a checkpoint: no quantize or download output among its inputs "
        f"({', '.join(inputs) or 'none'})"
    )


def engine_dir(inputs: dict[str, Path]) -> Path | None:
    if "compile_engine" not in inputs:
        return None
    base = Path(inputs["compile_engine"])
    for candidate in (base / "engine", base):
        if (candidate / "config.json").is_file():
            return candidate
    raise InvalidInput(f"compile_engine output {base} has no engine/config.json")


def llm_api_config(inputs: dict[str, Path]) -> Path | None:
    if "llmapi_config" not in inputs:
        return None
    base = Path(inputs["llmapi_config"])
    for name in LLMAPI_FILES:
        if (base / name).is_file():
            return base / name
    raise InvalidInput(f"llmapi_config output {base} has none of {', '.join(LLMAPI_FILES)}")


class TritonRepoStep(Step):
    """Write the Triton model repository (configs as protobuf, python models, tokenizer, README for ops)."""

    kind: ClassVar[str] = "triton_repo"

    def params(self) -> dict[str, Any]:
        return {
            "triton": self._section().canonical(),  # the BuildSpec section this step carries out
            "tensor_spec_source": source()["commit"],
            # The python models and config builders are part of the output: a new trtforge may write another
            # repo.
            "generator": __version__,
            "models_digest": _models_digest(),
        }

    def _section(self):
        return triton_section(self.loaded.recipe, self.plan)

    def tool_versions(self) -> dict[str, str]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return {"tritonclient": version("tritonclient")}
        except PackageNotFoundError:
            return {}

    def run(self, ctx: StepContext) -> dict[str, Any]:
        inputs = {k: Path(v) for k, v in ctx.inputs.items()}
        checkpoint = checkpoint_dir(inputs)
        engine = engine_dir(inputs)
        section = self._section()
        text = ""
        if section.runtime == "llmapi":
            written = llm_api_config(inputs)
            if written is None:
                raise InvalidInput("the llmapi layout needs the llmapi_config step's llm_api_options.yaml")
            text = written.read_text(encoding="utf-8")  # model.yaml starts with it, verbatim
        settings = settings_from_spec(section, checkpoint, engine, llm_api_text=text)
        ctx.progress(f"writing {settings.layout} repository ({settings.runtime} runtime)")
        dest = ctx.out_dir / REPO_DIR
        notes = list(self.plan.warnings)
        manifest = write_repository(
            settings,
            dest,
            tokenizer_src=checkpoint,
            checkpoint_src=checkpoint if settings.runtime in ("reference", "llmapi") else None,
            engine_src=engine,
            build_info={
                "recipe": self.loaded.recipe.name,
                "recipe_fingerprint": self.loaded.fingerprint,
                "target": self.plan.target,
                "backend": self.plan.backend,
                "quantization": self.plan.quantization.format,
            },
            notes=notes,
        )
        problems = validate_repository(dest)
        if problems:
            raise StepFailed(
                "the written model repository does not validate: "
                + "; ".join(p.one_line() for p in problems[:5])
            )
        ctx.log(
            f"model repository: {settings.layout}, runtime {settings.runtime}, max_batch_size "
            f"{settings.max_batch_size}, streaming {settings.streaming}, world size {settings.world_size}"
        )
        return {
            "repository": REPO_DIR,
            "layout": settings.layout,
            "runtime": settings.runtime,
            "models": sorted(p.name for p in dest.iterdir() if p.is_dir()),
            "triton_image": settings.triton_image,
            "trtllm_version": settings.trtllm_version,
            "world_size": settings.world_size,
            "streaming": settings.streaming,
            "end_id": settings.end_id,
            "tensor_spec_source": manifest["tensor_spec_source"],
        }


def _models_digest() -> str:
    """Every file install_model copies into a repository: the model.py files and the helpers beside them."""
    import hashlib

    files = {p.relative_to(MODELS_DIR).as_posix(): p for p in MODELS_DIR.rglob("model.py")}
    files[UTILS_FILE.name] = UTILS_FILE
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode())
        h.update(files[name].read_bytes())
    return h.hexdigest()[:16]
