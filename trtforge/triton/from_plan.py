"""Decide RepoSettings from the recipe, the plan, the engine's config.json and the checkpoint's special tokens.

Where the engine and the plan disagree the engine wins (it is what the runtime enforces: P13 max_batch_size,
P8 world size) and a mismatch that would break serving (TensorRT-LLM version, P3) is an error here, at build
time, instead of a load failure in production.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from trtforge.errors import Infeasible, InvalidInput
from trtforge.plan.model import Plan
from trtforge.recipe.schema import Recipe
from trtforge.triton.settings import Layout, RepoSettings, Runtime
from trtforge.triton.tokens import special_tokens


def engine_config(engine_dir: Path) -> dict[str, Any]:
    path = engine_dir / "config.json"
    if not path.is_file():
        raise InvalidInput(f"{engine_dir} has no config.json: not a TensorRT-LLM engine directory")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise InvalidInput(f"{path} is not valid JSON: {exc}") from exc


def engine_facts(config: dict[str, Any]) -> dict[str, Any]:
    """Batch size, beam width, sequence length, world size, plugin flags and version from an engine config.json
    (handles the pre-0.8 `builder_config` key too)."""
    build = config.get("build_config") or config.get("builder_config") or {}
    mapping = (config.get("pretrained_config") or {}).get("mapping") or {}
    plugin = build.get("plugin_config") or {}
    tp, pp = int(mapping.get("tp_size", 1)), int(mapping.get("pp_size", 1))
    return {
        "version": config.get("version"),
        "max_batch_size": build.get("max_batch_size"),
        "max_beam_width": build.get("max_beam_width", 1),
        "max_seq_len": build.get("max_seq_len"),
        "max_input_len": build.get("max_input_len"),
        "tp": tp,
        "pp": pp,
        "world_size": int(mapping.get("world_size", tp * pp)),
        "paged_context_fmha": bool(plugin.get("use_paged_context_fmha", False)),
    }


def layout_for(recipe: Recipe, plan: Plan) -> tuple[Layout, Runtime]:
    runtime: Runtime = {"tensorrt": "tensorrtllm", "pytorch": "llmapi", "reference": "reference"}[
        plan.backend
    ]  # type: ignore[assignment]
    frontend = recipe.serving.frontend
    if frontend == "auto":
        return ("llmapi" if plan.backend == "pytorch" else "inflight_batcher_llm"), runtime
    if frontend == "llmapi":
        if plan.backend == "tensorrt":
            raise Infeasible(
                "serving.frontend llmapi serves the PyTorch backend, but this plan builds a TensorRT engine",
                hint="set engine.backend: pytorch, or serving.frontend: ensemble",
            )
        return "llmapi", runtime
    # ensemble / bls: the classic API; over the PyTorch backend the tensorrt_llm slot runs the LLM API on ids.
    return "inflight_batcher_llm", runtime


def settings_from_plan(
    recipe: Recipe,
    plan: Plan,
    checkpoint_dir: Path,
    engine_dir: Path | None = None,
    llm_api_config: Path | None = None,
) -> RepoSettings:
    """All writer inputs for one (recipe, plan) and its upstream outputs."""
    layout, runtime = layout_for(recipe, plan)
    tokens = special_tokens(checkpoint_dir)
    serving = recipe.serving
    limits = plan.limits
    facts: dict[str, Any] = {}
    if runtime == "tensorrtllm":
        if engine_dir is None:
            raise InvalidInput("the engine backend needs the compile_engine output (engine directory)")
        facts = engine_facts(engine_config(engine_dir))
        if facts["version"] and str(facts["version"]) != plan.toolchain.trtllm_version:
            raise InvalidInput(
                f"engine was built with TensorRT-LLM {facts['version']} but the plan serves "
                f"{plan.toolchain.trtllm_version} ({plan.toolchain.triton_image})",
                hint="engines are not portable across versions: rebuild, or pin toolchain.trtllm_version",
            )
        if facts["world_size"] != plan.parallel.world_size:
            raise InvalidInput(
                f"engine world size {facts['world_size']} != planned {plan.parallel.world_size}"
            )
    llm_args: dict[str, Any] = {}
    llm_text = ""
    if runtime == "llmapi":
        if llm_api_config is None or not llm_api_config.is_file():
            raise InvalidInput("the llmapi layout needs the llmapi_config step's llm_api_config.yaml")
        llm_text = llm_api_config.read_text()
        loaded = yaml.safe_load(llm_text) or {}
        if not isinstance(loaded, dict):
            raise InvalidInput(f"{llm_api_config} is not a mapping of LLM-API arguments")
        llm_args = {k: v for k, v in loaded.items() if k not in ("model", "triton_config")}
        if {"model", "triton_config", "backend"} & set(loaded):
            llm_text = ""  # not the compile step's options alone: model.yaml is re-rendered from the mapping
    fraction = (
        serving.kv_cache_free_gpu_mem_fraction
        if serving.kv_cache_free_gpu_mem_fraction != "auto"
        else plan.memory.free_gpu_memory_fraction
    )
    paged_ctx = (
        facts.get("paged_context_fmha", recipe.engine.paged_context_fmha)
        if facts
        else recipe.engine.paged_context_fmha
    )
    return RepoSettings(
        layout=layout,
        runtime=runtime,
        served_model_name=recipe.served_model_name,
        max_batch_size=int(facts.get("max_batch_size") or limits.max_batch_size),
        streaming=serving.streaming,
        exclude_input_in_output=serving.exclude_input_in_output,
        max_queue_delay_microseconds=serving.max_queue_delay_microseconds,
        preprocessing_instances=serving.instance_counts.preprocessing,
        postprocessing_instances=serving.instance_counts.postprocessing,
        bls_instances=serving.instance_counts.bls,
        trust_remote_code=recipe.model.trust_remote_code,
        end_id=tokens.end_id,
        pad_id=tokens.pad_id,
        stop_token_ids=tokens.stop_token_ids,
        kv_cache_free_gpu_mem_fraction=float(fraction),
        max_tokens_in_paged_kv_cache=limits.max_kv_tokens if runtime == "tensorrtllm" else None,
        enable_chunked_context=bool(recipe.engine.chunked_prefill and paged_ctx),
        enable_kv_cache_reuse=bool(serving.enable_kv_cache_reuse and paged_ctx),
        batch_scheduler_policy=serving.batch_scheduler_policy,
        max_beam_width=int(facts.get("max_beam_width") or limits.max_beam_width),
        max_seq_len=int(facts.get("max_seq_len") or limits.max_seq_len),
        max_input_len=int(facts.get("max_input_len") or limits.max_input_len),
        container_model_root=serving.container_model_root,
        world_size=int(facts.get("world_size") or plan.parallel.world_size),
        tp=int(facts.get("tp") or plan.parallel.tp),
        pp=int(facts.get("pp") or plan.parallel.pp),
        gpu=plan.gpu.name if plan.gpu.count == 1 else f"{plan.gpu.count}x {plan.gpu.name}",
        trtllm_version=str(facts.get("version") or plan.toolchain.trtllm_version),
        triton_image=plan.toolchain.triton_image,
        checkpoint_format=plan.quantization.format,
        llm_api_args=llm_args,
        llm_api_text=llm_text,
    )
