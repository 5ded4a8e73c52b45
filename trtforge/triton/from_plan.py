"""RepoSettings from the BuildSpec's triton section, the engine's config.json and the checkpoint's special
tokens.

Every setting is decided by trtforge.plan.resolve; this module only adds what exists once upstream steps ran.
Where the engine and the section disagree the engine wins (it is what the runtime enforces: P13
max_batch_size, P8 world size) and a mismatch that would break serving (TensorRT-LLM version, P3) is an error
here, at build time, instead of a load failure in production.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from trtforge.errors import Infeasible, InvalidInput
from trtforge.plan.buildspec import TritonSpec
from trtforge.plan.model import Plan
from trtforge.plan.resolve import resolve
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
    """Batch size, beam width, sequence length, world size, plugin flags and version from an engine
    config.json
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
    """(repository layout, runtime) the resolver decided; Infeasible where no layout serves this plan."""
    section = triton_section(recipe, plan)
    return section.layout, section.runtime


def triton_section(recipe: Recipe, plan: Plan) -> TritonSpec:
    spec = resolve(recipe, plan)
    if spec.triton is None:
        raise InvalidInput("outputs.triton_repo is false: this build writes no Triton repository")
    layout_problems = [e for e in spec.errors if "serving.frontend" in e]
    if layout_problems:
        raise Infeasible(layout_problems[0])
    return spec.triton


def settings_from_spec(
    section: TritonSpec, checkpoint_dir: Path, engine_dir: Path | None = None, llm_api_text: str = ""
) -> RepoSettings:
    """All writer inputs: the BuildSpec's triton section, the checkpoint's special tokens, and (engine
    backend) the engine's own config, which must agree with the section and wins where the runtime enforces
    it.

    `llm_api_text`: the llmapi_config step's YAML, kept verbatim in model.yaml only when it holds exactly the
    section's LLM-API mapping (else model.yaml is rendered from the mapping).
    """
    tokens = special_tokens(checkpoint_dir)
    facts: dict[str, Any] = {}
    if section.runtime == "tensorrtllm":
        if engine_dir is None:
            raise InvalidInput("the engine backend needs the compile_engine output (engine directory)")
        facts = engine_facts(engine_config(engine_dir))
        if facts["version"] and str(facts["version"]) != section.trtllm_version:
            raise InvalidInput(
                f"engine was built with TensorRT-LLM {facts['version']} but the plan serves "
                f"{section.trtllm_version} ({section.triton_image})",
                hint="engines are not portable across versions: rebuild, or pin toolchain.trtllm_version",
            )
        if facts["world_size"] != section.world_size:
            raise InvalidInput(f"engine world size {facts['world_size']} != planned {section.world_size}")
    paged_ctx = bool(facts.get("paged_context_fmha", True))  # an engine without it cannot chunk or reuse
    return RepoSettings(
        layout=section.layout,
        runtime=section.runtime,
        served_model_name=section.served_model_name,
        max_batch_size=int(facts.get("max_batch_size") or section.max_batch_size),
        streaming=section.streaming,
        exclude_input_in_output=section.exclude_input_in_output,
        max_queue_delay_microseconds=section.max_queue_delay_microseconds,
        preprocessing_instances=section.preprocessing_instances,
        postprocessing_instances=section.postprocessing_instances,
        bls_instances=section.bls_instances,
        trust_remote_code=section.trust_remote_code,
        end_id=tokens.end_id,
        pad_id=tokens.pad_id,
        stop_token_ids=tokens.stop_token_ids,
        kv_cache_free_gpu_mem_fraction=section.kv_cache_free_gpu_mem_fraction,
        max_tokens_in_paged_kv_cache=section.max_tokens_in_paged_kv_cache,
        enable_chunked_context=section.enable_chunked_context and paged_ctx,
        enable_kv_cache_reuse=section.enable_kv_cache_reuse and paged_ctx,
        batch_scheduler_policy=section.batch_scheduler_policy,
        max_beam_width=int(facts.get("max_beam_width") or section.max_beam_width),
        max_seq_len=int(facts.get("max_seq_len") or section.max_seq_len),
        max_input_len=int(facts.get("max_input_len") or section.max_input_len),
        container_model_root=section.container_model_root,
        world_size=int(facts.get("world_size") or section.world_size),
        tp=int(facts.get("tp") or section.tp),
        pp=int(facts.get("pp") or section.pp),
        gpu=section.gpu,
        trtllm_version=str(facts.get("version") or section.trtllm_version),
        triton_image=section.triton_image,
        checkpoint_format=section.checkpoint_format,
        llm_api_args=dict(section.llm_api_args),
        llm_api_text=llm_api_text if _same_mapping(llm_api_text, section.llm_api_args) else "",
    )


def _same_mapping(text: str, args: dict[str, Any]) -> bool:
    if not text:
        return False
    try:
        return yaml.safe_load(text) == args
    except yaml.YAMLError:
        return False


def settings_from_plan(
    recipe: Recipe,
    plan: Plan,
    checkpoint_dir: Path,
    engine_dir: Path | None = None,
    llm_api_config: Path | None = None,
) -> RepoSettings:
    """All writer inputs for one (recipe, plan) and its upstream outputs (the resolver's triton section).

    `llm_api_config` is accepted for callers of the old signature; the LLM-API arguments come from the
    BuildSpec (the same mapping the llmapi_config step wrote), not from re-reading that file.
    """
    section = triton_section(recipe, plan)
    text = ""
    if section.runtime == "llmapi":
        if llm_api_config is None or not llm_api_config.is_file():
            raise InvalidInput("the llmapi layout needs the llmapi_config step's llm_api_options.yaml")
        text = llm_api_config.read_text()
    return settings_from_spec(section, checkpoint_dir, engine_dir, llm_api_text=text)
