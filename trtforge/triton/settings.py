"""RepoSettings: every value the model-repository writer needs, decided once, as plain data.

Config builders (trtforge/triton/kinds/) are pure functions of RepoSettings; `settings_from_spec`
(triton/from_plan.py) is where the BuildSpec section, recipe, the plan, the engine's own config.json and the
tokenizer's special tokens are reconciled (the engine's build_config wins over the plan for batch size and
world size, because that is what the runtime enforces).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from trtforge.triton.specs import spec_name

Layout = Literal["inflight_batcher_llm", "llmapi"]
Runtime = Literal["tensorrtllm", "reference", "llmapi"]

REFERENCE_NOTE = "reference runtime (PyTorch on CPU), not TensorRT-LLM"
# Paths inside the repository (relative to its root): the repository can be moved or mounted anywhere.
TOKENIZER_DIR = "preprocessing/1/tokenizer"
CHECKPOINT_DIR = "tensorrt_llm/1/checkpoint"
ENGINE_DIR = "tensorrt_llm/1/engine"
LLMAPI_YAML = "tensorrt_llm/1/model.yaml"
MANIFEST = "trtforge.json"
LOCK_FILE = "trtforge.lock.json"


@dataclass(frozen=True)
class RepoSettings:
    """Inputs of the repository writer. Paths are repository-relative unless named *_container."""

    layout: Layout
    runtime: Runtime
    served_model_name: str
    max_batch_size: int
    streaming: bool
    exclude_input_in_output: bool = True
    max_queue_delay_microseconds: int = 0
    preprocessing_instances: int = 1
    postprocessing_instances: int = 1
    bls_instances: int = 1
    # tokenizer / special tokens (from generation_config.json + tokenizer, see tokens.py)
    trust_remote_code: bool = False
    add_special_tokens: bool = True
    skip_special_tokens: bool = True
    end_id: int = 0
    pad_id: int = 0
    stop_token_ids: tuple[int, ...] = ()
    accumulate_tokens: bool = True
    # engine (C++ tensorrtllm backend) parameters
    batching_strategy: str = "inflight_fused_batching"
    kv_cache_free_gpu_mem_fraction: float = 0.9
    max_tokens_in_paged_kv_cache: int | None = None
    enable_chunked_context: bool = False
    enable_kv_cache_reuse: bool = False
    batch_scheduler_policy: str = "guaranteed_no_evict"
    max_beam_width: int = 1
    max_seq_len: int | None = None
    max_input_len: int | None = None
    # deployment facts
    container_model_root: str = "/models"
    world_size: int = 1
    tp: int = 1
    pp: int = 1
    gpu: str = "cpu"
    trtllm_version: str = ""
    triton_image: str = ""
    checkpoint_format: str = "none"  # what the reference runtime must dequantize: none | fp8 | ...
    reference_dtype: str = "float32"
    llm_api_args: dict[str, Any] = field(default_factory=dict)  # model.yaml keys (llmapi layout)
    llm_api_text: str = ""  # the compile step's llm_api_options.yaml, verbatim: model.yaml starts with it

    @property
    def engine_dir_container(self) -> str:
        """gpt_model_path: the C++ backend needs an absolute path, so it lives under the documented mount
        point."""
        return f"{self.container_model_root.rstrip('/')}/{ENGINE_DIR}"

    @property
    def tensor_spec(self) -> str:
        """The extracted NVIDIA data file this repository follows (decided in specs.spec_name)."""
        return spec_name(self.runtime, self.trtllm_version)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop_token_ids"] = list(self.stop_token_ids)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RepoSettings:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["stop_token_ids"] = tuple(known.get("stop_token_ids", ()))
        return cls(**known)

    def with_runtime(self, runtime: Runtime) -> RepoSettings:
        return replace(self, runtime=runtime)
