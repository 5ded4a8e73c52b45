"""Compile step, PyTorch backend: the LLM-API configuration TensorRT-LLM reads at load time (no compiler).

`generate_llm_api_config(recipe, plan)` is pure: it returns the YAML mapping that `trtllm-serve
--extra_llm_api_options` and the Triton llmapi model.yaml take (tensor/expert parallel sizes, limits,
kv_cache_config, chunked prefill, CUDA graphs, MoE and attention backends), plus one note per non-obvious
choice. Every key is validated against the LLM-API argument spec extracted from TensorRT-LLM's source.
For gpt-oss-120b on H200 and B200 the result is compared with NVIDIA's tuned configs
(`compare_with_reference`); docs/compile.md lists where and why trtforge differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from trtforge.errors import Infeasible, StepFailed
from trtforge.pipeline.step import Step, StepContext
from trtforge.plan.model import Plan
from trtforge.recipe.schema import Recipe
from trtforge.toolchain import archs, rules
from trtforge.toolchain.data import LLM_API_ARGS, provenance
from trtforge.toolchain.options import llm_api_options_from
from trtforge.toolchain.spec import llm_api_default, validate_llm_api_config

CONFIG_FILE = "llm_api_options.yaml"
RECORD = "compile.json"
ATTENTION_BACKEND = "TRTLLM"  # TorchLlmArgs.attn_backend default: TensorRT-LLM's fused attention kernels

# NVIDIA's B200 tuned config for gpt-oss-120b (examples/configs/database/openai/gpt-oss-120b/B200/
# 1k1k_tp1_conc64.yaml @054f7b0b) sets these environment overrides: programmatic dependent launch on,
# NCCL graph registration off. trtforge applies them to gpt-oss on Blackwell only, as NVIDIA does.
BLACKWELL_GPT_OSS_ENV = {"TRTLLM_ENABLE_PDL": "1", "NCCL_GRAPH_REGISTER": "0"}
GPT_OSS = "GptOssForCausalLM"


@dataclass
class LlmApiConfig:
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def generate_llm_api_config(recipe: Recipe, plan: Plan) -> LlmApiConfig:
    """The LLM-API YAML mapping for one (recipe, plan). Pure; key order is stable for golden files."""
    o = llm_api_options_from(recipe, plan)
    arch = plan.model.architecture
    notes: list[str] = []
    cfg: dict[str, Any] = {"tensor_parallel_size": o.tp}
    if o.pp > 1:
        cfg["pipeline_parallel_size"] = o.pp
    if o.is_moe:
        cfg["moe_expert_parallel_size"] = o.ep
    cfg["max_batch_size"] = o.max_batch_size
    cfg["max_num_tokens"] = o.max_num_tokens
    cfg["max_seq_len"] = o.max_seq_len
    cfg["max_input_len"] = o.max_input_len

    reuse = recipe.serving.enable_kv_cache_reuse
    if reuse and o.kv_cache_dtype == "fp8" and archs.pytorch_feature(arch, "kv_cache_reuse") is False:
        reuse = False
        notes.append(
            f"kv_cache_config.enable_block_reuse false: {arch} lists no KV cache reuse in the 1.2-era feature matrix, "
            "and NVIDIA's tuned config turns it off with an FP8 KV cache"
        )
    cfg["kv_cache_config"] = {
        "free_gpu_memory_fraction": o.free_gpu_memory_fraction,
        "enable_block_reuse": reuse,
        "dtype": o.kv_cache_dtype,
    }
    if recipe.engine.chunked_prefill and not o.chunked_prefill:
        notes.append(
            f"enable_chunked_prefill false: {arch} has no chunked prefill on TensorRT-LLM <= 1.2 "
            f"(supported-models.md @aeead21a); max_num_tokens {o.max_num_tokens} covers max_input_len {o.max_input_len}"
        )
    cfg["enable_chunked_prefill"] = o.chunked_prefill
    if o.cuda_graph_max_batch_size is not None:
        cfg["cuda_graph_config"] = {"enable_padding": True, "max_batch_size": o.cuda_graph_max_batch_size}
    else:
        cfg["cuda_graph_config"] = None
        notes.append("cuda_graph_config null: CUDA graphs off (engine.cuda_graphs: false)")
    if o.moe_backend:
        cfg["moe_config"] = {"backend": o.moe_backend}
    cfg["attn_backend"] = ATTENTION_BACKEND
    policy = recipe.serving.batch_scheduler_policy.upper()
    if policy != llm_api_default("scheduler_config.capacity_scheduler_policy"):
        cfg["scheduler_config"] = {"capacity_scheduler_policy": policy}
    if recipe.model.trust_remote_code:
        cfg["trust_remote_code"] = True
    if o.speculative_mode in rules.PYTORCH_SPEC_MODES:
        spec = recipe.engine.speculative
        cfg["speculative_config"] = {
            "decoding_type": rules.PYTORCH_SPEC_MODES[o.speculative_mode],
            "max_draft_len": spec.max_draft_len,
            "speculative_model": spec.draft_model,
        }
    if arch == GPT_OSS and rules.gpu_family(o.sm) == "blackwell":
        cfg["env_overrides"] = dict(BLACKWELL_GPT_OSS_ENV)
        notes.append(
            "env_overrides TRTLLM_ENABLE_PDL=1, NCCL_GRAPH_REGISTER=0: as NVIDIA's B200 tuned config for gpt-oss"
        )
    return LlmApiConfig(cfg, notes)


def render_yaml(config: dict[str, Any], header: list[str] | None = None) -> str:
    """Deterministic YAML text (key order kept) with an optional comment header."""
    import yaml  # light, but only needed when writing

    lines = [f"# {h}" for h in header or []]
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    return "\n".join(lines + [body]) if lines else body


def config_header(plan: Plan) -> list[str]:
    prov = provenance(LLM_API_ARGS)
    return [
        f"LLM-API options for {plan.recipe} on {plan.target} (TensorRT-LLM {plan.toolchain.trtllm_version}, PyTorch backend).",
        "Use: trtllm-serve <checkpoint> --extra_llm_api_options llm_api_options.yaml, or as the Triton llmapi model.yaml.",
        f"Keys validated against {prov.get('path')} ({prov.get('era', '').split(':')[0]}), extracted {prov.get('extracted_on')}.",
    ]


# ------------------------------------------------------------------------------------- NVIDIA reference configs


@dataclass(frozen=True)
class Difference:
    key: str  # dotted path
    ours: Any
    theirs: Any
    why: str | None  # None = unexplained


# Where trtforge's config intentionally differs from NVIDIA's tuned configs, and why (docs/compile.md repeats it).
EXPLAINED = {
    "max_seq_len": "trtforge sizes max_seq_len from the recipe workload (ISL + OSL + the planner's slack); NVIDIA's entries "
    "use their own slack (2068 on B200, 2304 on H200 for the same 1k/1k workload)",
    "max_batch_size": "trtforge sets max_batch_size to the planned value (the recipe's concurrency) so the scheduler, the KV "
    "budget and the CUDA graphs agree; the B200 entry leaves the 2048 default and relies on CUDA graphs "
    "and KV memory to bound the batch",
    "max_input_len": "trtforge states max_input_len (the plan's prompt limit); NVIDIA's entries leave the LLM-API default",
    "stream_interval": "trtforge keeps the default 1 because its Triton model streams tokens to clients; NVIDIA's benchmark "
    "entries use 20, trading streaming granularity for throughput",
    "print_iter_log": "per-iteration logging is for benchmarking; trtforge leaves it off",
    "num_postprocess_workers": "detokenization worker processes belong to trtllm-serve's OpenAI server; trtforge's Triton model "
    "detokenizes itself, so the default 0 is kept",
    "trust_remote_code": "gpt-oss ships no remote code (transformers has GptOss); trtforge enables remote code only when the "
    "recipe asks",
    "backend": "'backend' is a deprecated LLM-API field that TorchLlmArgs fixes to 'pytorch'; trtforge omits it",
    "kv_cache_free_gpu_memory_fraction": "not an LLM-API field in 1.2 (a trtllm-serve CLI name); trtforge writes "
    "kv_cache_config.free_gpu_memory_fraction",
}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k != "env_overrides":
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _default_of(key: str) -> Any:
    try:
        return llm_api_default(key)
    except KeyError:
        return None


def _normalize(key: str, value: Any) -> Any:
    if key == "env_overrides" and isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return value


def compare_with_reference(ours: dict[str, Any], reference: dict[str, Any]) -> list[Difference]:
    """Keys where two LLM-API configs disagree, after resolving absent keys to their LLM-API defaults."""
    a, b = _flatten(ours), _flatten(reference)
    diffs: list[Difference] = []
    for key in sorted(set(a) | set(b)):
        va = _normalize(key, a.get(key, _default_of(key)))
        vb = _normalize(key, b.get(key, _default_of(key)))
        if (
            key not in a
            and key.startswith("cuda_graph_config.")
            and "cuda_graph_config" in a
            and a["cuda_graph_config"] is None
        ):
            va = None
        if va == vb:
            continue
        top = key.split(".")[0] if key not in EXPLAINED else key
        diffs.append(Difference(key, va, vb, EXPLAINED.get(key) or EXPLAINED.get(top)))
    return diffs


# ----------------------------------------------------------------------------------------------------- step


class LlmApiConfigStep(Step):
    """Writes llm_api_options.yaml: the PyTorch backend's whole 'compile' output, next to the checkpoint."""

    kind: ClassVar[str] = "llmapi_config"

    def __init__(self, name: str, loaded, plan: Plan, needs: tuple[str, ...] = ()) -> None:
        super().__init__(name, loaded, plan, needs)
        if plan.backend != "pytorch":
            raise ValueError(f"LlmApiConfigStep is for the pytorch backend, not {plan.backend}")
        self.recipe: Recipe = loaded.recipe
        self.generated = generate_llm_api_config(self.recipe, plan)

    def params(self) -> dict[str, Any]:
        return {
            "backend": "pytorch",
            "trtllm_version": self.plan.toolchain.trtllm_version,
            "config": self.generated.config,
        }

    def preflight(self) -> None:
        problems = rules.check_llm_api_options(llm_api_options_from(self.recipe, self.plan))
        if problems:
            raise Infeasible(
                f"cannot configure the PyTorch backend: {problems[0]}",
                hint=f"+{len(problems) - 1} more" if len(problems) > 1 else None,
            )

    def run(self, ctx: StepContext) -> dict[str, Any]:
        self.preflight()
        problems = validate_llm_api_config(self.generated.config, "pytorch")
        if problems:  # a generator bug, never a user error
            raise StepFailed(f"generated LLM-API config is invalid: {problems[0]}")
        text = render_yaml(self.generated.config, config_header(self.plan))
        (ctx.out_dir / CONFIG_FILE).write_text(text, encoding="utf-8")
        record = {
            "backend": "pytorch",
            "engine": None,
            "reason": "PyTorch (LLM API) backend: TensorRT-LLM loads the checkpoint directly; no compiler runs",
            "config_file": CONFIG_FILE,
            "config": self.generated.config,
            "notes": self.generated.notes,
            "quantization": {
                "format": self.plan.quantization.format,
                "quant_algo": self.plan.quantization.quant_algo,
                "kv_cache_quant_algo": self.plan.quantization.kv_cache_quant_algo,
            },
            "moe_backend": self.generated.config.get("moe_config", {}).get("backend"),
            "trtllm_version": self.plan.toolchain.trtllm_version,
            "validated_against": {
                k: provenance(LLM_API_ARGS).get(k) for k in ("repo", "path", "commit", "index_id", "era")
            },
        }
        (ctx.out_dir / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        ctx.progress(f"LLM-API config written ({CONFIG_FILE}); no compiler needed for the PyTorch backend")
        return record
