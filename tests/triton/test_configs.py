"""Config builders: protobuf messages that parse back, match golden files, and agree with each other."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trtforge.triton.kinds import ensemble
from trtforge.triton.pb import parse_pbtxt
from trtforge.triton.settings import RepoSettings
from trtforge.triton.writer import config_text, model_configs

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "triton"

ENGINE = RepoSettings(
    layout="inflight_batcher_llm",
    runtime="tensorrtllm",
    served_model_name="llama3.1-8b",
    max_batch_size=64,
    streaming=True,
    preprocessing_instances=4,
    postprocessing_instances=4,
    bls_instances=8,
    end_id=128009,
    pad_id=128009,
    stop_token_ids=(128001, 128008),
    kv_cache_free_gpu_mem_fraction=0.9,
    max_tokens_in_paged_kv_cache=262144,
    enable_chunked_context=True,
    enable_kv_cache_reuse=True,
    max_seq_len=8192,
    max_input_len=8191,
    world_size=2,
    tp=2,
    gpu="H100-SXM-80GB",
    # The newest release whose backend source is extracted (trtforge/data/triton/versions.json).
    trtllm_version="0.19.0",
    triton_image="nvcr.io/nvidia/tritonserver:25.05-trtllm-python-py3",
    checkpoint_format="fp8",
)
REFERENCE = RepoSettings(
    layout="inflight_batcher_llm",
    runtime="reference",
    served_model_name="tiny",
    max_batch_size=4,
    streaming=True,
    bls_instances=2,
    end_id=2,
    max_seq_len=256,
)
LLMAPI = RepoSettings(
    layout="llmapi",
    runtime="llmapi",
    served_model_name="gpt-oss",
    max_batch_size=32,
    streaming=False,
    llm_api_args={"backend": "pytorch", "tensor_parallel_size": 1},
)
CASES = {"engine": ENGINE, "reference": REFERENCE, "llmapi": LLMAPI}


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TRTFORGE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"golden file {path} missing (TRTFORGE_UPDATE_GOLDEN=1 to create)"
    assert text == path.read_text(), f"{name} differs from its golden file"


@pytest.mark.parametrize("case", sorted(CASES))
def test_configs_match_golden_and_parse_back(case):
    for name, config in model_configs(CASES[case]).items():
        text = config_text(config)
        assert "${" not in text
        parsed = parse_pbtxt(text)
        assert parsed == config
        assert parsed.name == name
        _golden(f"{case}/{name}.pbtxt", text)


def test_engine_config_is_filled_from_settings():
    cfg = model_configs(ENGINE)["tensorrt_llm"]
    p = {k: v.string_value for k, v in cfg.parameters.items()}
    assert cfg.backend == "tensorrtllm" and cfg.max_batch_size == 64
    assert cfg.model_transaction_policy.decoupled is True
    assert p["gpt_model_type"] == "inflight_fused_batching"
    assert p["gpt_model_path"] == "/models/tensorrt_llm/1/engine"
    assert p["kv_cache_free_gpu_mem_fraction"] == "0.9"
    assert p["max_tokens_in_paged_kv_cache"] == "262144"
    assert p["enable_chunked_context"] == "true" and p["exclude_input_in_output"] == "true"
    assert list(cfg.dynamic_batching.preferred_batch_size) == [64]


@pytest.mark.parametrize("streaming", [True, False])
def test_streaming_switch_sets_decoupled_on_llm_and_bls_together(streaming):
    s = RepoSettings(**{**ENGINE.to_json(), "streaming": streaming, "stop_token_ids": ENGINE.stop_token_ids})
    configs = model_configs(s)
    assert configs["tensorrt_llm"].model_transaction_policy.decoupled is streaming
    assert configs["tensorrt_llm_bls"].model_transaction_policy.decoupled is streaming
    assert not configs["preprocessing"].model_transaction_policy.decoupled


def test_reference_slot_has_the_engine_tensors_and_says_what_it_is():
    engine = model_configs(ENGINE)["tensorrt_llm"]
    ref = model_configs(ENGINE.with_runtime("reference"))["tensorrt_llm"]
    assert ref.backend == "python"
    assert [i.name for i in ref.input] == [i.name for i in engine.input]
    assert [o.name for o in ref.output] == [o.name for o in engine.output]
    assert ref.parameters["runtime"].string_value == "reference runtime (PyTorch on CPU), not TensorRT-LLM"


def test_preprocessing_carries_end_pad_and_extra_stop_ids():
    pre = model_configs(ENGINE)["preprocessing"]
    p = {k: v.string_value for k, v in pre.parameters.items()}
    assert (p["end_id"], p["pad_id"], p["stop_token_ids"]) == ("128009", "128009", "[128001,128008]")
    assert p["tokenizer_dir"] == "preprocessing/1/tokenizer"  # repository-relative: relocatable


def test_ensemble_wiring_uses_upstream_names_and_is_closed():
    steps = {kind: (inp, out) for kind, inp, out in ensemble.wiring(ENGINE.tensor_spec)}
    assert steps["preprocessing"][0]["QUERY"] == "text_input"
    assert steps["tensorrt_llm"][0]["input_ids"] == "_INPUT_ID"
    assert steps["tensorrt_llm"][0]["streaming"] == "stream"
    assert steps["postprocessing"][1] == {"OUTPUT": "text_output"}
    produced = {v for _, (_, out) in steps.items() for v in out.values()}
    consumed = {v for _, (inp, _) in steps.items() for v in inp.values()}
    internal = {v for v in produced if v.startswith("_")}
    assert internal <= consumed  # no dangling internal tensor


def test_llmapi_slot_is_one_prompt_per_request():
    cfg = model_configs(LLMAPI)["tensorrt_llm"]
    assert cfg.max_batch_size == 0 and cfg.backend == "python"
    assert "sampling_param_max_tokens" in {i.name for i in cfg.input}
