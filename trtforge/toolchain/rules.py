"""Cross-option and hardware rules of TensorRT-LLM, checked at plan time (pure functions, no I/O).

Each `check_*` returns a list of reasons (empty = fine); the planner turns a non-empty list into plan
errors (exit 3). `warn_*` return advisory lines. Every rule cites where TensorRT-LLM enforces it or
silently overrides the setting, so a plan never promises something the build would quietly undo.

Sources (details and commits in trtforge/data/*.json provenance):
- tensorrt_llm/builder.py @008b2b8d build(): FP8/paged context FMHA overrides, SM100 restrictions,
  speculative decoding limits, reduce_fusion/user_buffer/norm_quant_fusion overrides.
- tensorrt_llm/commands/build.py @65f1d153 main(): multiple_profiles vs opt_num_tokens, gather logits.
- tensorrt_llm/plugin/plugin.py @c20322ff PluginConfig.validate(): plugins rejected on SM 100.
- tensorrt_llm/_common.py check_max_num_tokens(): max_num_tokens clamps.
- examples/models/core/gpt_oss/README.md @0ee4114c: MoE backend per GPU family and its TP/EP support.
"""

from __future__ import annotations

from dataclasses import dataclass

from trtforge.toolchain import archs
from trtforge.toolchain.data import QUANT_ALGOS, load
from trtforge.toolchain.versions import (
    ENGINE_MIN_SUPPORTED,
    engine_backend_available,
    last_engine_version,
    version_key,
)

FP8_CONTEXT_FMHA_ALGOS = frozenset({"FP8", "W4A8_AWQ", "NVFP4"})
MXFP4_ALGOS = frozenset({"W4A16_MXFP4", "W4A8_MXFP4_FP8", "W4A8_MXFP4_MXFP8"})
REDUCE_FUSION_ARCHS = frozenset({"LlamaForCausalLM", "Gemma2ForCausalLM", "MedusaForCausalLM"})
ENGINE_SPEC_MODES = (
    "draft_tokens_external",
    "lookahead_decoding",
    "medusa",
    "explicit_draft_tokens",
    "eagle",
)
SM100_REJECTED_PLUGINS = (
    "gemm_swiglu_plugin",
    "fp8_rowwise_gemm_plugin",
    "low_latency_gemm_plugin",
    "low_latency_gemm_swiglu_plugin",
)
PYTORCH_MIN_SUPPORTED = "1.0.0"


def gpu_family(sm: int | None) -> str | None:
    """'blackwell' (SM 100-129), 'hopper' (90), 'ada' (89), 'ampere' (80-88), None for cpu/unknown."""
    if sm is None:
        return None
    if sm >= 100:
        return "blackwell"
    if sm >= 90:
        return "hopper"
    if sm == 89:
        return "ada"
    if sm >= 80:
        return "ampere"
    return "older"


def _min_sm(key: str) -> int | None:
    value = load(QUANT_ALGOS)["min_sm"].get(key)
    return int(value) if value is not None else None


def check_quant_hardware(
    quant_algo: str | None, kv_cache_quant_algo: str | None, sm: int | None
) -> list[str]:
    """Quantization formats the GPU has no kernels for (FP8 needs SM 89+, NVFP4 SM 100+, ...)."""
    problems: list[str] = []
    if sm is None:
        return problems
    for key, label in (
        (quant_algo, "weights"),
        (f"kv:{kv_cache_quant_algo}" if kv_cache_quant_algo else None, "KV cache"),
    ):
        if not key:
            continue
        need = _min_sm(key)
        if need is not None and sm < need:
            name = key.removeprefix("kv:")
            problems.append(
                f"{name} {label} need a GPU with SM {need}+ (this target is SM {sm})"
                + (": NVFP4 tensor cores are Blackwell-only" if need >= 100 and "NVFP4" in name else "")
            )
    return problems


def check_backend(requested: str, version: str, architecture: str) -> list[str]:
    """Whether the requested backend ('tensorrt' or 'pytorch') exists at `version` for `architecture`."""
    problems: list[str] = []
    if requested == "tensorrt":
        if not engine_backend_available(version):
            problems.append(
                f"engine.backend tensorrt needs trtllm-build, which TensorRT-LLM {version} no longer has: "
                "the TensorRT "
                f"engine backend was removed in 1.3; the last release with it is {last_engine_version()} "
                f"(pin toolchain.trtllm_version: {last_engine_version()}, or use engine.backend: pytorch)"
            )
        elif version_key(version) < version_key(ENGINE_MIN_SUPPORTED):
            problems.append(
                f"trtforge generates trtllm-build commands for TensorRT-LLM {ENGINE_MIN_SUPPORTED} to "
                f"{last_engine_version()}; {version} is older than its extracted option spec"
            )
        if not archs.engine_supports(architecture):
            problems.append(
                f"engine.backend tensorrt is not possible: {archs.why_not_engine(architecture)}; use "
                "engine.backend: pytorch"
            )
    elif requested == "pytorch" and version_key(version) < version_key(PYTORCH_MIN_SUPPORTED):
        problems.append(
            f"the PyTorch (LLM API) backend configuration needs TensorRT-LLM {PYTORCH_MIN_SUPPORTED}+ "
            f"(its argument spec was extracted from the 1.2 line); {version} is older"
        )
    return problems


@dataclass(frozen=True)
class EngineBuildOptions:
    """What one trtllm-build invocation will ask for, plus the facts the rules need (GPU, checkpoint
    quant)."""

    version: str
    architecture: str
    sm: int | None
    max_batch_size: int
    max_input_len: int
    max_seq_len: int
    max_num_tokens: int
    tp: int = 1
    pp: int = 1
    quant_algo: str | None = None
    kv_cache_quant_algo: str | None = None
    max_beam_width: int = 1
    opt_num_tokens: int | None = None
    kv_cache_type: str = "paged"
    context_fmha: bool = True
    paged_context_fmha: bool = True
    fp8_context_fmha: bool = False
    chunked_prefill: bool = True  # runtime intent; its build-time prerequisites are checked here
    remove_input_padding: bool = True
    multiple_profiles: bool = True
    tokens_per_block: int = 32
    gemm_plugin: str | None = None
    reduce_fusion: bool = False
    user_buffer: bool = False
    norm_quant_fusion: bool = False
    extra_plugins: tuple[str, ...] = ()  # other plugin flags set to a non-disabled value
    speculative_mode: str | None = None  # trtllm-build names (eagle, medusa, lookahead_decoding, ...)
    max_draft_len: int = 0
    gather_context_logits: bool = False


def fp8_context_fmha_effective(o: EngineBuildOptions) -> bool:
    """What builder.py will actually use for use_fp8_context_fmha given the rest (mirrors its overrides)."""
    if not o.context_fmha or o.quant_algo not in FP8_CONTEXT_FMHA_ALGOS or (o.sm is not None and o.sm < 89):
        return False
    if o.paged_context_fmha:
        return o.kv_cache_quant_algo == "FP8"
    return o.fp8_context_fmha


def check_engine_options(o: EngineBuildOptions) -> list[str]:
    """Every reason this trtllm-build configuration is invalid or would be silently changed by
    trtllm-build."""
    problems = check_backend("tensorrt", o.version, o.architecture)
    problems += check_quant_hardware(o.quant_algo, o.kv_cache_quant_algo, o.sm)
    problems += _check_engine_quant(o)
    problems += _check_engine_attention(o)
    problems += _check_engine_limits(o)
    problems += _check_engine_speculative(o)
    problems += _check_engine_fusions(o)
    return problems


def _check_engine_quant(o: EngineBuildOptions) -> list[str]:
    q = load(QUANT_ALGOS)
    problems: list[str] = []
    algo, kv, sm = o.quant_algo, o.kv_cache_quant_algo, o.sm
    if algo and algo not in q["quant_algo"]:
        why = q["not_in_enum_but_seen"].get(algo, "not a QuantAlgo of TensorRT-LLM")
        problems.append(f"quant_algo {algo} cannot be built into an engine: {why}")
    if algo in MXFP4_ALGOS:
        problems.append(
            f"trtforge does not build {algo} engines: trtllm-build's GEMM plugin offers only fp8 and nvfp4, "
            "and NVIDIA "
            "documents MXFP4 weights for the PyTorch backend's MoE kernels (use engine.backend: pytorch)"
        )
    if kv and kv not in q["kv_cache_quant_algo"]:
        problems.append(f"kv_cache_quant_algo {kv} is not one of {', '.join(q['kv_cache_quant_algo'])}")
    if sm is not None and 100 <= sm < 120:
        rejected = q["engine_rejected_on_sm100_to_119"]
        if algo in rejected["quant_algo"]:
            problems.append(
                f"{algo} engines are rejected on SM {sm} by trtllm-build (builder.py: INT8/INT4 weight-only, "
                "SmoothQuant and per-channel/per-token scaling are not supported on SM>=100); use fp8 or "
                "nvfp4"
            )
        if kv in rejected["kv_cache_quant_algo"]:
            problems.append(
                f"an INT8 KV cache is rejected on SM {sm} by trtllm-build (builder.py: not supported on "
                "SM>=100)"
            )
    if sm == 100:
        for plugin in SM100_REJECTED_PLUGINS:
            if plugin in o.extra_plugins:
                problems.append(
                    f"--{plugin} is rejected on SM 100 (PluginConfig.validate raises NotImplementedError)"
                )
    if o.gemm_plugin == "nvfp4" and algo != "NVFP4":
        problems.append("--gemm_plugin nvfp4 needs an NVFP4 checkpoint")
    if o.gemm_plugin == "fp8" and algo != "FP8":
        problems.append("--gemm_plugin fp8 needs an FP8 checkpoint (same calibration in the checkpoint)")
    return problems


def _check_engine_attention(o: EngineBuildOptions) -> list[str]:
    problems: list[str] = []
    if o.kv_cache_type not in ("paged", "continuous", "disabled"):
        problems.append(f"kv_cache_type must be paged, continuous or disabled, not {o.kv_cache_type}")
    if o.paged_context_fmha and o.kv_cache_type != "paged":
        problems.append("paged context FMHA needs a paged KV cache (--kv_cache_type paged)")
    if o.paged_context_fmha and not o.context_fmha:
        problems.append(
            "paged context FMHA needs --context_fmha enable (builder.py turns paged context FMHA off without "
            "it)"
        )
    if o.chunked_prefill:
        if o.kv_cache_type != "paged":
            problems.append("chunked prefill (chunked context) needs a paged KV cache")
        if not o.paged_context_fmha:
            problems.append(
                "chunked prefill (chunked context) needs paged context FMHA (--use_paged_context_fmha enable)"
            )
        if not o.remove_input_padding:
            problems.append("chunked prefill needs packed inputs (--remove_input_padding enable)")
    fp8_algo = o.quant_algo in FP8_CONTEXT_FMHA_ALGOS
    sm_ok = o.sm is None or o.sm >= 89
    if (
        o.paged_context_fmha
        and o.context_fmha
        and o.kv_cache_quant_algo == "FP8"
        and not (fp8_algo and sm_ok)
    ):
        why = f"the weights are {o.quant_algo or 'not quantized'}" if not fp8_algo else f"SM {o.sm} < 89"
        problems.append(
            "paged context FMHA with an FP8 KV cache needs FP8 context FMHA, which needs FP8, W4A8_AWQ or "
            "NVFP4 weights "
            f"on SM 89+ ({why}): trtllm-build would silently turn paged context FMHA off, and with it KV "
            "reuse and "
            "chunked prefill; set quantization.kv_cache: bf16 (or fp16), or quantization.format: fp8, "
            "w4a8_awq or nvfp4"
        )
    if o.paged_context_fmha and o.kv_cache_quant_algo == "INT8":
        problems.append(
            "paged context FMHA does not work with an INT8 KV cache (builder.py disables it): use an FP8 KV "
            "cache"
        )
    if o.fp8_context_fmha:
        if not fp8_algo:
            problems.append(
                f"FP8 context FMHA needs FP8, W4A8_AWQ or NVFP4 weights (got {o.quant_algo or 'unquantized'})"
            )
        elif not sm_ok:
            problems.append(f"FP8 context FMHA needs SM 89+ (this target is SM {o.sm})")
        elif o.paged_context_fmha and o.kv_cache_quant_algo != "FP8":
            problems.append(
                "FP8 context FMHA with paged context FMHA needs an FP8 KV cache (builder.py disables it "
                "otherwise)"
            )
        if not o.context_fmha:
            problems.append("FP8 context FMHA needs --context_fmha enable")
    elif fp8_context_fmha_effective(o):
        problems.append(
            "with FP8 weights, an FP8 KV cache and paged context FMHA, trtllm-build forces FP8 context FMHA "
            "on: "
            "say --use_fp8_context_fmha enable"
        )
    return problems


def _check_engine_limits(o: EngineBuildOptions) -> list[str]:
    problems: list[str] = []
    for name in (
        "max_batch_size",
        "max_input_len",
        "max_seq_len",
        "max_num_tokens",
        "max_beam_width",
        "tp",
        "pp",
    ):
        if getattr(o, name) < 1:
            problems.append(f"{name} must be >= 1 (got {getattr(o, name)})")
    if problems:
        return problems
    if o.max_input_len > o.max_seq_len:
        problems.append(
            f"max_input_len {o.max_input_len} exceeds max_seq_len {o.max_seq_len} (trtllm-build would clip "
            "it)"
        )
    if o.max_num_tokens > o.max_seq_len * o.max_batch_size:
        problems.append(
            f"max_num_tokens {o.max_num_tokens} exceeds max_seq_len x max_batch_size = "
            f"{o.max_seq_len * o.max_batch_size} (trtllm-build would clamp it)"
        )
    if o.context_fmha and o.max_num_tokens < o.tokens_per_block:
        problems.append(
            f"max_num_tokens {o.max_num_tokens} is below tokens_per_block {o.tokens_per_block} (trtllm-build "
            "raises it)"
        )
    if not o.chunked_prefill and o.max_num_tokens < o.max_input_len:
        problems.append(
            f"max_num_tokens {o.max_num_tokens} < max_input_len {o.max_input_len} without chunked prefill: "
            "a full-length prompt could never be scheduled"
        )
    if o.multiple_profiles and o.opt_num_tokens is not None:
        problems.append(
            "--multiple_profiles enable and --opt_num_tokens cannot be used together (build.py raises)"
        )
    if o.gather_context_logits and o.max_draft_len > 0:
        problems.append("--gather_context_logits is not supported with max_draft_len > 0 (build.py raises)")
    return problems


def _check_engine_speculative(o: EngineBuildOptions) -> list[str]:
    problems: list[str] = []
    mode = o.speculative_mode
    if mode is None:
        if o.max_draft_len:
            problems.append("--max_draft_len without --speculative_decoding_mode")
        return problems
    if mode not in ENGINE_SPEC_MODES:
        problems.append(f"speculative decoding mode {mode} is not one of {', '.join(ENGINE_SPEC_MODES)}")
        return problems
    if o.max_draft_len < 1:
        problems.append(f"speculative decoding ({mode}) needs max_draft_len >= 1")
    needed = o.max_batch_size * (o.max_draft_len + 1)
    if o.max_num_tokens < needed:
        problems.append(
            f"speculative decoding needs max_num_tokens >= max_batch_size x (max_draft_len + 1) = {needed} "
            f"(got {o.max_num_tokens}; trtllm-build would raise it)"
        )
    if mode == "eagle":
        if o.max_batch_size > 512:
            problems.append("EAGLE supports max_batch_size <= 512 (builder.py asserts)")
        if o.max_draft_len > 256:
            problems.append("EAGLE supports max_draft_len <= 256 (builder.py asserts)")
        if not o.paged_context_fmha:
            problems.append("EAGLE needs paged context FMHA (builder.py turns it on)")
    return problems


def _check_engine_fusions(o: EngineBuildOptions) -> list[str]:
    problems: list[str] = []
    if o.reduce_fusion and (o.tp == 1 or o.architecture not in REDUCE_FUSION_ARCHS):
        problems.append(
            "--reduce_fusion only applies with tp > 1 on Llama/Gemma2/Medusa (builder.py overrides it to off)"
        )
    if o.user_buffer and not o.reduce_fusion:
        problems.append("--user_buffer needs --reduce_fusion enable (builder.py overrides it to off)")
    if o.norm_quant_fusion and (
        o.reduce_fusion or o.architecture != "LlamaForCausalLM" or o.quant_algo != "NVFP4"
    ):
        problems.append(
            "--norm_quant_fusion applies only to NVFP4 Llama without reduce_fusion (builder.py overrides it "
            "to off)"
        )
    return problems


def warn_engine_options(o: EngineBuildOptions) -> list[str]:
    """Advisory notes: legal settings that trtllm-build logs warnings for."""
    notes: list[str] = []
    if o.remove_input_padding and o.max_num_tokens > 16384:
        notes.append(
            f"max_num_tokens {o.max_num_tokens} > 16384: TensorRT-LLM warns this is usually not faster and "
            "may "
            "exceed TensorRT tensor volume limits"
        )
    if o.speculative_mode:
        notes.append(
            f"speculative decoding: trtllm-build adds max_draft_len ({o.max_draft_len}) to max_seq_len "
            "(and EAGLE the number of EAGLE layers)"
        )
    return notes


# -------------------------------------------------------------------------------------------- PyTorch backend


PYTORCH_SPEC_MODES = {
    "eagle": "Eagle3",
    "draft_tokens_external": "Draft_Target",
    "ngram": "NGram",
    "mtp": "MTP",
}
# Recipe modes whose LLM-API decoding type exists, but whose backend support is the pinned version's to say:
# the
# resolver writes them and the per-version LLM-API spec (speculative_config union, `backends`) refuses or
# accepts.
SPEC_CHECKED_MODES = {"lookahead": "Lookahead", "medusa": "Medusa"}
LLM_API_DECODING_TYPES = {**PYTORCH_SPEC_MODES, **SPEC_CHECKED_MODES}


@dataclass(frozen=True)
class LlmApiOptions:
    """What one PyTorch-backend (LLM API) configuration will ask for, plus the facts the rules need."""

    version: str
    architecture: str
    sm: int | None
    max_batch_size: int
    max_input_len: int
    max_seq_len: int
    max_num_tokens: int
    tp: int = 1
    pp: int = 1
    ep: int = 1
    is_moe: bool = False
    quant_algo: str | None = None
    kv_cache_quant_algo: str | None = None
    kv_cache_dtype: str = "auto"  # kv_cache_config.dtype
    free_gpu_memory_fraction: float = 0.9
    chunked_prefill: bool = True
    moe_backend: str | None = None
    cuda_graph_max_batch_size: int | None = None
    speculative_mode: str | None = None  # recipe names: eagle, medusa, lookahead, draft_tokens_external
    max_draft_len: int = 0


def chunked_prefill_supported(architecture: str) -> bool:
    """False where NVIDIA's feature matrix for the 1.2-era releases says the model has no chunked prefill."""
    return archs.pytorch_feature(architecture, "chunked_prefill") is not False


def check_llm_api_options(o: LlmApiOptions) -> list[str]:
    """Every reason this PyTorch-backend configuration is invalid for the version, model and GPU."""
    problems = check_backend("pytorch", o.version, o.architecture)
    problems += check_quant_hardware(o.quant_algo, o.kv_cache_quant_algo, o.sm)
    for name in ("max_batch_size", "max_input_len", "max_seq_len", "max_num_tokens", "tp", "pp", "ep"):
        if getattr(o, name) < 1:
            problems.append(f"{name} must be >= 1 (got {getattr(o, name)})")
    if problems:
        return problems
    if o.tp % o.ep:
        problems.append(
            f"moe_expert_parallel_size {o.ep} must divide tensor_parallel_size {o.tp} (Mapping: tp = moe_tp "
            "x moe_ep)"
        )
    if o.max_input_len > o.max_seq_len:
        problems.append(f"max_input_len {o.max_input_len} exceeds max_seq_len {o.max_seq_len}")
    if not o.chunked_prefill and o.max_num_tokens < o.max_input_len:
        why = (
            f" ({o.architecture} has no chunked prefill in the 1.2-era feature matrix)"
            if not chunked_prefill_supported(o.architecture)
            else ""
        )
        problems.append(
            f"max_num_tokens {o.max_num_tokens} < max_input_len {o.max_input_len} without chunked "
            f"prefill{why}: "
            "a full-length prompt could never be scheduled"
        )
    if o.chunked_prefill and not chunked_prefill_supported(o.architecture):
        problems.append(
            f"{o.architecture} does not support chunked prefill on TensorRT-LLM <= 1.2 "
            "(docs/source/models/supported-models.md @aeead21a)"
        )
    if not 0 < o.free_gpu_memory_fraction <= 1:
        problems.append(
            f"kv_cache_config.free_gpu_memory_fraction must be in (0, 1] (got {o.free_gpu_memory_fraction})"
        )
    if o.kv_cache_dtype not in ("auto", "fp8"):
        problems.append(
            f"kv_cache_config.dtype {o.kv_cache_dtype} is not understood by the 1.2-era LLM API (auto or "
            "fp8); "
            "an NVFP4 KV cache must come quantized in the checkpoint, with dtype auto"
        )
    if o.kv_cache_dtype == "fp8" and o.sm is not None and o.sm < 89:
        problems.append(f"an FP8 KV cache needs SM 89+ (this target is SM {o.sm})")
    if o.cuda_graph_max_batch_size is not None and o.cuda_graph_max_batch_size > o.max_batch_size:
        problems.append(
            f"cuda_graph_config.max_batch_size {o.cuda_graph_max_batch_size} exceeds max_batch_size "
            f"{o.max_batch_size}"
        )
    problems += _check_moe_backend(o)
    problems += _check_pytorch_speculative(o)
    return problems


def _check_moe_backend(o: LlmApiOptions) -> list[str]:
    problems: list[str] = []
    backend = o.moe_backend
    if backend is None:
        return problems
    if not o.is_moe:
        return [f"moe_config.backend {backend} is set for a model without MoE layers"]
    family = gpu_family(o.sm)
    is_mxfp4 = o.quant_algo in MXFP4_ALGOS
    if is_mxfp4 and family in ("hopper", "blackwell"):
        table = archs.moe_backends_for(family)
        if backend not in table["supported"]:
            problems.append(
                f"MXFP4 MoE on {family.title()} runs on the {' or '.join(table['supported'])} MoE backend, "
                f"not {backend} "
                f"({table['activation'].upper()} activations x MXFP4 weights; gpt_oss README)"
            )
    elif backend == "TRITON" and family != "hopper":
        problems.append(
            "the TRITON MoE backend (OpenAI Triton kernels, MXFP4) is for Hopper; this target is "
            f"{family or 'unknown'}"
        )
    elif backend == "TRTLLM" and family != "blackwell":
        problems.append(
            f"the TRTLLM MoE backend needs Blackwell (SM 100+); this target is {family or 'unknown'}"
        )
    par = archs.moe_backend_parallelism(backend)
    if par and not par["tp"] and o.tp > 1 and o.ep != o.tp:
        problems.append(
            f"the {backend} MoE backend has no MoE tensor parallelism: with tensor_parallel_size {o.tp} set "
            f"moe_expert_parallel_size {o.tp} (got {o.ep})"
        )
    return problems


def _check_pytorch_speculative(o: LlmApiOptions) -> list[str]:
    mode = o.speculative_mode
    if mode in (None, "none") or mode in SPEC_CHECKED_MODES:
        return []  # lookahead / medusa: the version's LLM-API spec decides (trtforge.plan.resolve)
    if mode not in PYTORCH_SPEC_MODES:
        return [
            (
                f"speculative mode {mode} runs only on the TensorRT engine backend (TensorRT-LLM's {mode} "
                "config "
                "supports_backend excludes pytorch)"
            )
        ]
    if o.max_draft_len < 1 and mode != "mtp":
        return [f"speculative mode {mode} needs max_draft_len >= 1"]
    return []


def warn_llm_api_options(o: LlmApiOptions) -> list[str]:
    """Advisory notes for a PyTorch-backend configuration."""
    notes: list[str] = []
    matrix = archs.pytorch_quant_support(o.architecture)
    if matrix is not None and o.quant_algo and o.quant_algo not in matrix:
        notes.append(
            f"{o.quant_algo} is not in NVIDIA's PyTorch-backend quantization matrix for {o.architecture} "
            f"(listed: {', '.join(matrix)}); expect it to be untested"
        )
    if not archs.pytorch_supports(o.architecture):
        notes.append(f"{o.architecture} is not in the PyTorch backend's published model list")
    if o.max_batch_size > o.max_num_tokens:
        notes.append(
            f"max_batch_size {o.max_batch_size} > max_num_tokens {o.max_num_tokens} (the LLM API warns)"
        )
    return notes
