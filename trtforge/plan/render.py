"""Pure renderers: a BuildSpec section (or the options it holds) -> the exact text or argv a tool reads.

The only writers of these formats: `build_argv` (trtllm-build), `render_yaml` (the LLM-API options file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trtforge.toolchain.rules import EngineBuildOptions
from trtforge.toolchain.spec import spec_provenance

if TYPE_CHECKING:
    from trtforge.plan.model import Plan

TOOL = "trtllm-build"


def _flag(value: bool) -> str:
    return "enable" if value else "disable"


def build_argv(
    o: EngineBuildOptions,
    *,
    checkpoint_dir: str,
    output_dir: str,
    timing_cache_in: str | None,
    timing_cache_out: str | None,
    workers: int,
    log_level: str = "info",
) -> list[str]:
    """The exact trtllm-build command for the options (pure). Values whose defaults changed across
    TensorRT-LLM versions (attention plugin dtype, tokens per block, paged context FMHA) are always
    explicit."""
    argv = [
        TOOL,
        "--checkpoint_dir",
        checkpoint_dir,
        "--output_dir",
        output_dir,
        "--max_batch_size",
        str(o.max_batch_size),
        "--max_input_len",
        str(o.max_input_len),
        "--max_seq_len",
        str(o.max_seq_len),
        "--max_num_tokens",
        str(o.max_num_tokens),
        "--max_beam_width",
        str(o.max_beam_width),
        "--kv_cache_type",
        o.kv_cache_type,
        "--gpt_attention_plugin",
        "auto",
    ]
    if o.gemm_plugin:
        argv += ["--gemm_plugin", o.gemm_plugin]
    argv += [
        "--context_fmha",
        _flag(o.context_fmha),
        "--use_paged_context_fmha",
        _flag(o.paged_context_fmha),
        "--use_fp8_context_fmha",
        _flag(o.fp8_context_fmha),
        "--remove_input_padding",
        _flag(o.remove_input_padding),
        "--tokens_per_block",
        str(o.tokens_per_block),
        "--multiple_profiles",
        _flag(o.multiple_profiles),
    ]
    if o.reduce_fusion:
        argv += ["--reduce_fusion", "enable"]
    if o.speculative_mode:
        argv += ["--speculative_decoding_mode", o.speculative_mode, "--max_draft_len", str(o.max_draft_len)]
    argv += ["--workers", str(workers)]
    if timing_cache_in:
        argv += ["--input_timing_cache", timing_cache_in]
    if timing_cache_out:
        argv += ["--output_timing_cache", timing_cache_out]
    argv += ["--log_level", log_level]
    return argv


def render_yaml(config: dict[str, Any], header: list[str] | None = None) -> str:
    """Deterministic YAML text (key order kept) with an optional comment header."""
    import yaml  # light, but only needed when writing

    lines = [f"# {h}" for h in header or []]
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    return "\n".join(lines + [body]) if lines else body


def config_header(plan: Plan) -> list[str]:
    """The comment header of an LLM-API options file: what it is for, and which spec its keys were checked
    against."""
    version = plan.toolchain.trtllm_version
    prov = spec_provenance(version)
    where = (
        f"llm_args.py @ {prov['tag']} {str(prov['commit'])[:12]}"
        if prov.get("extracted")
        else "an interim hand-transcribed spec "
        f"({prov.get('interim_source', 'see docs/compile.md').split(' (')[0]}), "
        f"not extracted at {prov['tag']}"
    )
    return [
        f"LLM-API options for {plan.recipe} on {plan.target} (TensorRT-LLM {version}, PyTorch backend).",
        "Use: trtllm-serve <checkpoint> --extra_llm_api_options llm_api_options.yaml, or as the Triton "
        "llmapi model.yaml.",
        f"Keys validated against {where}.",
    ]
