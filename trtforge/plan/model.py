"""The Plan: every decision the planner made for one (recipe, target), and why. Pure data, JSON-serialisable.

Steps read only the plan (and the recipe) to know what to do; `trtforge plan --json` prints it as is.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

Backend = Literal["tensorrt", "pytorch", "reference"]


class PlanSection(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GpuInfo(PlanSection):
    name: str  # catalog name, e.g. "H100-SXM-80GB", or "cpu"
    sm: int | None = None  # compute capability x10 (90 = Hopper, 100 = Blackwell); None for cpu
    memory_gib: float  # per GPU (host RAM budget for cpu)
    count: int = 1
    detected: str | None = (
        None  # target.gpu auto: what NVML found here, e.g. "2 x NVIDIA H100 80GB HBM3 (H100-SXM-80GB)"
    )

    @model_serializer(mode="wrap")
    def _without_unset_detected(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Named GPUs serialise as before (golden plans, lock files): `detected` appears only for gpu auto."""
        data = handler(self)
        if isinstance(data, dict) and data.get("detected") is None:
            data.pop("detected", None)
        return data


class Parallel(PlanSection):
    tp: int = 1
    pp: int = 1
    ep: int = 1
    world_size: int = 1


class Memory(PlanSection):
    weights_gib_per_gpu: float
    kv_cache_gib_per_gpu: float
    reserve_gib: float  # activations, workspace, CUDA context, runtime buffers
    total_gib: float  # usable memory per GPU
    free_gpu_memory_fraction: float = 0.9  # what the runtime config will say for the KV cache


class Topology(PlanSection):
    """Where the ranks run, for a multi-node target (absent from single-node plans)."""

    nodes: int  # nodes the layout uses
    nodes_available: int  # target.nodes
    gpus_per_node: int  # target.gpus
    ranks_per_node: int  # MPI ranks (one per GPU) on each used node
    world_size: int  # tp x pp
    nvlink_domain_gpus: int  # GPUs one TP group may span (the node, or e.g. 72 on GB200 NVL72)
    placement: str  # why TP and PP sit where they do


class Limits(PlanSection):
    max_batch_size: int
    max_num_tokens: int
    max_seq_len: int
    max_input_len: int
    max_kv_tokens: int
    max_beam_width: int = 1
    chunked_prefill: bool = (
        True  # prompts longer than max_num_tokens are split (decided once, in the planner)
    )


class QuantPlan(PlanSection):
    format: str  # recipe format after resolution: none | native | fp8 | nvfp4 | ...
    kv_cache: str  # bf16 | fp16 | fp8 | nvfp4
    source: Literal["none", "native", "modelopt"]  # who produces the quantized weights
    quant_algo: str | None = None  # TensorRT-LLM QuantAlgo name, e.g. "FP8", "W4A16_AWQ", "W4A16_MXFP4"
    kv_cache_quant_algo: str | None = None  # "FP8" | "NVFP4" | None
    group_size: int | None = None
    bytes_per_weight: float = 2.0  # including scale overhead
    exclude_modules: list[str] = Field(default_factory=list)
    modelopt_config: str | None = None  # e.g. "FP8_DEFAULT_CFG"; None when nothing is quantized here
    weight_format: str | None = None  # concrete format of the quantized weights (mxfp4 when format is native)


class ToolchainPlan(PlanSection):
    trtllm_version: str
    triton_image: str  # full image name with registry and tag
    engine_backend_available: bool


class ModelSummary(PlanSection):
    architecture: str
    model_type: str
    total_params: int
    active_params: int
    dtype: str  # checkpoint dtype, e.g. bfloat16


class Plan(PlanSection):
    recipe: str  # recipe name
    target: str  # target label (see recipe.schema.target_label)
    fits: bool
    backend: Backend
    gpu: GpuInfo
    model: ModelSummary
    parallel: Parallel
    memory: Memory
    limits: Limits
    quantization: QuantPlan
    toolchain: ToolchainPlan
    moe_backend: str | None = (
        None  # PyTorch backend MoE kernels: TRITON (Hopper) | TRTLLM (Blackwell) | CUTLASS
    )
    tuned_config: str | None = None  # NVIDIA tuned config this plan matched, if any
    decisions: list[str] = Field(default_factory=list)  # one line per decision, saying why
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # non-empty => infeasible (exit 3)
    topology: Topology | None = None  # multi-node targets only

    @model_serializer(mode="wrap")
    def _single_node_unchanged(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Single-node plans serialize exactly as before multi-node support (no `topology` key)."""
        data = handler(self)
        if isinstance(data, dict) and data.get("topology") is None:
            data.pop("topology", None)
        return data
