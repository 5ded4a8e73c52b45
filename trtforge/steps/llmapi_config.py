"""Compile step, PyTorch backend: the LLM-API configuration TensorRT-LLM reads at load time (no compiler).

`generate_llm_api_config(recipe, plan)` is pure: it returns the YAML mapping that `trtllm-serve
--extra_llm_api_options` and the Triton llmapi model.yaml take (tensor/expert parallel sizes, limits,
kv_cache_config, chunked prefill, CUDA graphs, MoE and attention backends), plus one note per non-obvious
choice. Every key is validated against the LLM-API argument spec extracted from TensorRT-LLM's source.
For gpt-oss-120b on H200 and B200 the result is compared with NVIDIA's tuned configs
(`compare_with_tuned`); docs/compile.md lists where and why trtforge differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from trtforge.errors import Infeasible
from trtforge.pipeline.step import Step, StepContext
from trtforge.plan.model import Plan
from trtforge.plan.render import config_header, render_yaml  # noqa: F401  (re-exported)
from trtforge.plan.resolve import (  # noqa: F401  (re-exported for callers of this module)
    ATTENTION_BACKEND,
    BLACKWELL_GPT_OSS_ENV,
    llm_api_options_from,
    resolve,
)
from trtforge.recipe.schema import Recipe
from trtforge.toolchain.spec import llm_api_default, spec_provenance

CONFIG_FILE = "llm_api_options.yaml"
RECORD = "compile.json"


@dataclass
class LlmApiConfig:
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def generate_llm_api_config(recipe: Recipe, plan: Plan) -> LlmApiConfig:
    """The LLM-API YAML mapping the resolver decided for one (recipe, plan), and its notes."""
    spec = resolve(recipe, plan)
    return LlmApiConfig(dict(spec.llm_api or {}), list(spec.decisions))


# ------------------------------------------------------------------------------------- NVIDIA tuned configs


@dataclass(frozen=True)
class Difference:
    key: str  # dotted path
    ours: Any
    theirs: Any
    why: str | None  # None = unexplained


# Where trtforge's config intentionally differs from NVIDIA's tuned configs, and why (docs/compile.md repeats
# it).
EXPLAINED = {
    "max_seq_len": "trtforge sizes max_seq_len from the recipe workload (ISL + OSL + the planner's slack); "
    "NVIDIA's entries "
    "use their own slack (2068 on B200, 2304 on H200 for the same 1k/1k workload)",
    "max_batch_size": "trtforge sets max_batch_size to the planned value (the recipe's concurrency) so the "
    "scheduler, the KV "
    "budget and the CUDA graphs agree; the B200 entry leaves the 2048 default and relies on CUDA graphs "
    "and KV memory to bound the batch",
    "max_input_len": "trtforge states max_input_len (the plan's prompt limit); NVIDIA's entries leave the "
    "LLM-API default",
    "stream_interval": "trtforge keeps the default 1 because its Triton model streams tokens to clients; "
    "NVIDIA's benchmark "
    "entries use 20, trading streaming granularity for throughput",
    "print_iter_log": "per-iteration logging is for benchmarking; trtforge leaves it off",
    "num_postprocess_workers": "detokenization worker processes belong to trtllm-serve's OpenAI server; "
    "trtforge's Triton model "
    "detokenizes itself, so the default 0 is kept",
    "trust_remote_code": "gpt-oss ships no remote code (transformers has GptOss); trtforge enables remote "
    "code only when the "
    "recipe asks",
    "backend": "'backend' is a deprecated LLM-API field that TorchLlmArgs fixes to 'pytorch'; trtforge omits "
    "it",
    "kv_cache_free_gpu_memory_fraction": "not an LLM-API field in 1.2 (a trtllm-serve CLI name); trtforge "
    "writes "
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


def compare_with_tuned(ours: dict[str, Any], tuned: dict[str, Any]) -> list[Difference]:
    """Keys where two LLM-API configs disagree, after resolving absent keys to their LLM-API defaults."""
    a, b = _flatten(ours), _flatten(tuned)
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
    """Writes llm_api_options.yaml (the BuildSpec's llm_api section): the PyTorch backend's whole 'compile'
    output, next to the checkpoint."""

    kind: ClassVar[str] = "llmapi_config"

    def __init__(self, name: str, loaded, plan: Plan, needs: tuple[str, ...] = ()) -> None:
        super().__init__(name, loaded, plan, needs)
        if plan.backend != "pytorch":
            raise ValueError(f"LlmApiConfigStep is for the pytorch backend, not {plan.backend}")
        self.recipe: Recipe = loaded.recipe
        self.spec = resolve(self.recipe, plan)
        self.config: dict[str, Any] = dict(self.spec.llm_api or {})

    def params(self) -> dict[str, Any]:
        return {
            "backend": "pytorch",
            "trtllm_version": self.plan.toolchain.trtllm_version,
            "config": self.config,
        }

    def preflight(self) -> None:
        problems = self.spec.errors  # the plan refused these already; a plugin-made plan may not have
        if problems:
            raise Infeasible(
                f"cannot configure the PyTorch backend: {problems[0]}",
                hint=f"+{len(problems) - 1} more" if len(problems) > 1 else None,
            )

    def run(self, ctx: StepContext) -> dict[str, Any]:
        self.preflight()
        text = render_yaml(self.config, config_header(self.plan))
        (ctx.out_dir / CONFIG_FILE).write_text(text, encoding="utf-8")
        record = {
            "backend": "pytorch",
            "engine": None,
            "reason": "PyTorch (LLM API) backend: TensorRT-LLM loads the checkpoint directly; no compiler "
            "runs",
            "config_file": CONFIG_FILE,
            "config": self.config,
            "notes": self.spec.decisions,
            "quantization": {
                "format": self.plan.quantization.format,
                "quant_algo": self.plan.quantization.quant_algo,
                "kv_cache_quant_algo": self.plan.quantization.kv_cache_quant_algo,
            },
            "moe_backend": self.config.get("moe_config", {}).get("backend"),
            "trtllm_version": self.plan.toolchain.trtllm_version,
            "validated_against": spec_provenance(self.plan.toolchain.trtllm_version),
        }
        (ctx.out_dir / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        ctx.progress(f"LLM-API config written ({CONFIG_FILE}); no compiler needed for the PyTorch backend")
        return record
