"""`tensorrt_llm`: the engine (C++ `tensorrtllm` backend) or, in the same slot, the CPU reference runtime.

The reference config is derived from the engine config (same tensors, batch size, decoupled mode, batching),
so everything around the slot is exercised exactly as it will be deployed.
"""

from __future__ import annotations

from trtforge.triton.kinds.common import bool_str, cpu_instances, decoupled, dynamic_batching, set_parameters
from trtforge.triton.kinds.ensemble import wiring
from trtforge.triton.pb import model_config_pb2, new_config
from trtforge.triton.settings import CHECKPOINT_DIR, REFERENCE_NOTE, RepoSettings
from trtforge.triton.specs import model_inputs, model_outputs, parameter_keys, required_parameters


def engine_parameters(s: RepoSettings) -> dict[str, str]:
    """Every parameter the C++ backend of the pinned version reads that trtforge decides, plus the ones it
    reads without a fallback (empty string = unset, as NVIDIA's code and templates treat it). Keys the
    version's
    backend does not know are left out (they would be ignored silently)."""
    params: dict[str, object] = {
        "gpt_model_type": s.batching_strategy,
        "gpt_model_path": s.engine_dir_container,
        "max_beam_width": s.max_beam_width,
        "batch_scheduler_policy": s.batch_scheduler_policy,
        "kv_cache_free_gpu_mem_fraction": s.kv_cache_free_gpu_mem_fraction,
        "enable_chunked_context": s.enable_chunked_context,
        "enable_kv_cache_reuse": s.enable_kv_cache_reuse,
        "exclude_input_in_output": s.exclude_input_in_output,
        "normalize_log_probs": True,
        "cancellation_check_period_ms": 100,
        "stats_check_period_ms": 100,
        "num_nodes": 1,
        "FORCE_CPU_ONLY_INPUT_TENSORS": "no",
    }
    if s.max_tokens_in_paged_kv_cache:
        params["max_tokens_in_paged_kv_cache"] = s.max_tokens_in_paged_kv_cache
    spec = s.tensor_spec
    known = parameter_keys(spec, "tensorrt_llm")
    params = {**{key: "" for key in required_parameters(spec, "tensorrt_llm")}, **params}
    return {k: bool_str(v) if isinstance(v, bool) else str(v) for k, v in params.items() if k in known}


def build_engine(s: RepoSettings):
    config = new_config(name="tensorrt_llm", backend="tensorrtllm", max_batch_size=s.max_batch_size)
    decoupled(config, s.streaming)
    dynamic_batching(config, s.max_batch_size, s.max_queue_delay_microseconds)
    config.input.extend(model_inputs(s.tensor_spec, "tensorrt_llm"))
    config.output.extend(model_outputs(s.tensor_spec, "tensorrt_llm"))
    set_parameters(config, engine_parameters(s))
    # One instance: the backend itself spreads the engine over the GPUs of its MPI world (leader mode).
    cpu_instances(config, 1)
    return config


def reference_parameters(s: RepoSettings, checkpoint_dir: str = CHECKPOINT_DIR) -> dict[str, object]:
    """What the reference model reads; `runtime` also tells anyone reading the config what serves it."""
    params: dict[str, object] = {
        "runtime": REFERENCE_NOTE,
        "contract": "text" if s.layout == "llmapi" else "ids",
        "checkpoint_dir": checkpoint_dir,
        "checkpoint_format": s.checkpoint_format,
        "dtype": s.reference_dtype,
        "exclude_input_in_output": s.exclude_input_in_output,
        "max_seq_len": s.max_seq_len or 0,
    }
    if s.layout == "llmapi":  # text in/out: the model tokenizes itself
        params.update({"end_id": s.end_id, "stop_token_ids": list(s.stop_token_ids)})
    else:  # so that a refusal names the input the client sent (length_penalty, not len_penalty)
        params["public_names"] = public_names(s.tensor_spec)
    return params


def public_names(spec: str) -> dict[str, str]:
    """tensorrt_llm input -> the ensemble input NVIDIA's wiring feeds it from, where they differ."""
    return {
        tensor: source
        for kind, input_map, _ in wiring(spec)
        if kind == "tensorrt_llm"
        for tensor, source in sorted(input_map.items())
        if not source.startswith("_") and source != tensor
    }


def to_reference(config, s: RepoSettings, checkpoint_dir: str = CHECKPOINT_DIR):
    """The reference runtime's config: `config` (engine or llmapi slot) with backend python and reference
    parameters; tensors, batch size, decoupled mode and batching stay exactly as built."""
    out = model_config_pb2().ModelConfig()
    out.CopyFrom(config)
    out.backend = "python"
    out.ClearField("parameters")
    set_parameters(out, reference_parameters(s, checkpoint_dir))
    # One instance: several would each hold a copy of the weights for no gain on CPU.
    del out.instance_group[:]
    cpu_instances(out, 1)
    return out


def to_llmapi_ids(engine_config, s: RepoSettings):
    """The PyTorch backend behind the classic ensemble/BLS: the engine slot's tensors (token ids in and out),
    served by trtforge's LLM-API python model from model.yaml."""
    out = model_config_pb2().ModelConfig()
    out.CopyFrom(engine_config)
    out.backend = "python"
    out.ClearField("parameters")
    set_parameters(
        out,
        {"contract": "ids", "llm_config": "model.yaml", "exclude_input_in_output": s.exclude_input_in_output},
    )
    return out


def build(s: RepoSettings):
    engine = build_engine(s)
    if s.runtime == "reference":
        return to_reference(engine, s)
    if s.runtime == "llmapi":
        return to_llmapi_ids(engine, s)
    return engine
