"""Shared helpers for the triton and serve tests: tiny checkpoints, a plan, a written repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def fp8_export(src: Path, dst: Path) -> Path:
    """A real ModelOpt FP8 (per-tensor) unified HF export of `src`, as the quantize step writes it (hf/)."""
    import modelopt.torch.quantization as mtq
    import torch
    from modelopt.torch.export import export_hf_checkpoint
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.bfloat16)
    tok = AutoTokenizer.from_pretrained(src)
    batch = tok(["The quick brown fox jumps over the lazy dog"] * 2, return_tensors="pt")["input_ids"]
    mtq.quantize(model, mtq.FP8_DEFAULT_CFG, forward_loop=lambda m: m(batch))
    export_hf_checkpoint(model, export_dir=str(dst))
    tok.save_pretrained(str(dst))
    return dst


def tiny_recipe(tmp: Path, model_dir: Path, name: str = "tiny-llama-cpu", **overrides) -> Path:
    """recipes/tiny-llama-cpu.yaml pointed at `model_dir`, with top-level section overrides merged in."""
    data = yaml.safe_load((ROOT / "recipes" / "tiny-llama-cpu.yaml").read_text())
    data["model"] = {"path": str(model_dir)}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def loaded_and_plan(recipe_path: Path):
    from trtforge.plan import make_plan
    from trtforge.recipe.loader import load_recipe

    loaded = load_recipe(recipe_path)
    return loaded, make_plan(loaded.recipe, loaded.recipe.target)


def run_step(loaded, plan, inputs: dict[str, Path], out: Path) -> dict:
    from trtforge.pipeline.step import StepContext
    from trtforge.steps.triton_repo import TritonRepoStep

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    events: list[dict] = []
    ctx = StepContext(
        loaded=loaded,
        plan=plan,
        out_dir=out,
        inputs=inputs,
        cache_root=out.parent / "cache",
        emit=events.append,
    )
    meta = TritonRepoStep("triton_repo", loaded, plan).run(ctx)
    meta["events"] = events
    return meta


def h100_llmapi_repo(tmp: Path, checkpoint: Path) -> Path:
    """The tiny recipe for an H100 with the PyTorch backend: its LLM-API config and Triton (llmapi)
    repository, written by the real steps under tmp (valid without any engine file); returns the repository
    path."""
    from trtforge.pipeline.step import StepContext
    from trtforge.steps.llmapi_config import LlmApiConfigStep

    loaded, plan = loaded_and_plan(
        tiny_recipe(
            tmp,
            checkpoint,
            name="tiny-h100",
            target={"gpu": "H100-80GB"},
            engine={"backend": "pytorch", "max_seq_len": 256},
        )
    )
    (tmp / "compile").mkdir()
    LlmApiConfigStep("llmapi_config", loaded, plan).run(
        StepContext(loaded=loaded, plan=plan, out_dir=tmp / "compile", inputs={}, cache_root=tmp / "cache")
    )
    run_step(loaded, plan, {"download": checkpoint, "llmapi_config": tmp / "compile"}, tmp / "out")
    return tmp / "out" / "model_repository"


def engine_config_json(world_size: int = 1, max_batch_size: int = 8, version: str = "0.19.0") -> dict:
    """The fields of a trtllm-build config.json the repository writer reads (no engine is built here)."""
    return {
        "version": version,
        "pretrained_config": {
            "architecture": "LlamaForCausalLM",
            "dtype": "bfloat16",
            "mapping": {"world_size": world_size, "tp_size": world_size, "pp_size": 1},
        },
        "build_config": {
            "max_batch_size": max_batch_size,
            "max_beam_width": 1,
            "max_seq_len": 256,
            "max_input_len": 128,
            "plugin_config": {"use_paged_context_fmha": True},
        },
    }


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path
