"""The BuildSpec: every concrete setting of every artifact of one (recipe, target), decided once by
`trtforge.plan.resolve.resolve`. Plain, frozen, JSON-serialisable data; `trtforge plan --json` shows it.

Steps carry out one section each and fingerprint it (the section's canonical JSON):
    download  -> DownloadStep        quantize -> QuantizeStep (the ModelOpt job)
    engine    -> CompileEngineStep   (the exact trtllm-build argv; paths are placeholders)
    llm_api   -> LlmApiConfigStep    (the LLM-API options dict, exactly as written to YAML)
    triton    -> TritonRepoStep      (every setting the repository writer needs, bar the tokenizer's ids)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Placeholders in EngineSpec.argv, replaced by the compile step with the real directories.
CHECKPOINT_PLACEHOLDER = "<checkpoint>"
ENGINE_OUT_PLACEHOLDER = "<out>/engine"


class SpecSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def canonical(self) -> dict[str, Any]:
        """The section as JSON data (what a step fingerprints)."""
        return self.model_dump(mode="json")


class DownloadSpec(SpecSection):
    repo: str | None = None  # Hugging Face repo id, or None for a local directory
    revision: str | None = None
    path: str | None = None  # local checkpoint directory as the recipe gives it
    allow_patterns: list[str] | None = None
    trust_remote_code: bool = False


class CalibrationJob(SpecSection):
    dataset: str  # as the recipe gives it ("synthetic", "hf:...", or a path relative to the recipe)
    samples: int
    seq_len: int
    batch_size: int
    seed: int


class AccuracyJob(SpecSection):
    enabled: bool
    samples: int
    min_top1_agreement: float | None = None
    max_mean_kl: float | None = None
    max_perplexity_increase: float | None = None


class ExportJob(SpecSection):
    kind: Literal["hf", "trtllm"]  # unified HF checkpoint (PyTorch / reference) | TRT-LLM checkpoint (engine)
    tp: int = 1
    pp: int = 1


class QuantizeSpec(SpecSection):
    """The whole ModelOpt job (what the quantize worker is told), bar the machine-dependent device."""

    format: str  # recipe format: fp8 | nvfp4 | nvfp4_awq | mxfp4 | int4_awq | w4a8_awq | int8_sq
    modelopt_config: str  # e.g. FP8_DEFAULT_CFG
    quant_algo: str  # what ModelOpt writes into the exported checkpoint
    runtime_quant_algo: str | None  # what TensorRT-LLM will run it as (the plan's quant_algo)
    group_size: int | None = None
    algorithm: str  # calibration algorithm: max | awq_lite | smoothquant
    kv_cache: str | None = None  # fp8 | nvfp4 | None (unquantized KV cache)
    kv_modelopt_config: str | None = None
    kv_cache_quant_algo: str | None = None
    exclude_modules: list[str] = Field(default_factory=list)
    calibration: CalibrationJob
    accuracy: AccuracyJob
    exports: list[ExportJob]
    dtype: str  # load/export dtype of the unquantized parts
    trust_remote_code: bool = False
    cuda_extensions: list[str] = Field(default_factory=list)


class EngineSpec(SpecSection):
    """One trtllm-build invocation: its options (what the rules checked) and the exact argv they render to."""

    trtllm_version: str
    options: dict[str, Any]  # trtforge.toolchain.rules.EngineBuildOptions, as JSON
    argv: list[str]  # with CHECKPOINT_PLACEHOLDER / ENGINE_OUT_PLACEHOLDER, no timing-cache flags
    workers: int
    gpu: str
    sm: int | None


class TritonSpec(SpecSection):
    """Every value of the Triton model repository except the tokenizer's special-token ids (read from the
    checkpoint when the repository is written) and the engine's own config (checked against this)."""

    layout: Literal["inflight_batcher_llm", "llmapi"]
    runtime: Literal["tensorrtllm", "reference", "llmapi"]
    served_model_name: str
    max_batch_size: int
    streaming: bool  # decoupled models
    exclude_input_in_output: bool
    max_queue_delay_microseconds: int
    preprocessing_instances: int
    postprocessing_instances: int
    bls_instances: int
    trust_remote_code: bool
    kv_cache_free_gpu_mem_fraction: float
    max_tokens_in_paged_kv_cache: int | None
    enable_chunked_context: bool
    enable_kv_cache_reuse: bool
    batch_scheduler_policy: str
    max_beam_width: int
    max_seq_len: int
    max_input_len: int
    container_model_root: str
    world_size: int
    tp: int
    pp: int
    gpu: str
    trtllm_version: str
    triton_image: str
    checkpoint_format: str  # what the reference runtime must dequantize: none | fp8 | ...
    llm_api_args: dict[str, Any] = Field(default_factory=dict)  # model.yaml keys (llmapi layout)


class BuildSpec(SpecSection):
    recipe: str
    target: str
    backend: Literal["tensorrt", "pytorch", "reference"]
    download: DownloadSpec
    quantize: QuantizeSpec | None = None  # None: nothing is quantized here (unquantized or native weights)
    engine: EngineSpec | None = None  # backend tensorrt
    llm_api: dict[str, Any] | None = None  # backend pytorch: exactly the YAML mapping written
    triton: TritonSpec | None = None  # outputs.triton_repo
    decisions: list[str] = Field(default_factory=list)  # one line per non-obvious setting, saying why
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # non-empty => a step would refuse: plan exits 3
