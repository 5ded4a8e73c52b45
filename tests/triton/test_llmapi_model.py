"""The llmapi model.py with TensorRT-LLM mocked (the one thing that cannot run here): model.yaml handling,
SamplingParams mapping, decoupled streaming of text deltas, errors as responses."""

from __future__ import annotations

import json
import sys
import time
import types

import numpy as np
import pytest
import yaml

from tests.triton import fake_pb_utils as pb
from trtforge.triton.models.llmapi import model as llmapi_mod


class _Completion:
    def __init__(self, text, diff, finish=None, token_ids=(), token_ids_diff=()):
        self.text, self.text_diff, self.finish_reason = text, diff, finish
        self.stop_reason, self.cumulative_logprob = None, -1.5
        self.token_ids, self.token_ids_diff = list(token_ids), list(token_ids_diff)


class _Output:
    def __init__(self, completion):
        self.outputs = [completion]

    async def aresult(self):
        return self


class _Stream:
    def __init__(self, pieces):
        self.pieces = pieces

    def __aiter__(self):
        return self._gen()

    async def _gen(self):
        text, ids = "", []
        for i, piece in enumerate(self.pieces):
            text += piece
            ids.append(10 + i)
            yield _Output(
                _Completion(text, piece, "length" if i == len(self.pieces) - 1 else None, ids, [10 + i])
            )


class FakeLLM:
    created: list[dict] = []

    def __init__(self, **kwargs):
        FakeLLM.created.append(kwargs)
        self.calls = []

    def generate_async(self, prompt, sampling, streaming=False):
        self.calls.append((prompt, sampling.kwargs, streaming))
        if prompt == "boom":
            raise RuntimeError("engine exploded")
        if streaming:
            return _Stream([" one", " two", " three"])
        return _Output(_Completion(" one two three", " one two three", "length", [10, 11, 12], [10, 11, 12]))

    def shutdown(self):
        pass


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


@pytest.fixture
def fake_trtllm(monkeypatch):
    mod = types.ModuleType("tensorrt_llm")
    mod.LLM, mod.SamplingParams = FakeLLM, FakeSamplingParams
    monkeypatch.setitem(sys.modules, "tensorrt_llm", mod)
    monkeypatch.setattr(llmapi_mod, "pb_utils", pb)
    FakeLLM.created.clear()
    return mod


def _model(tmp_path, decoupled: bool, contract: str = "text"):
    version = tmp_path / "tensorrt_llm" / "1"
    (version / "checkpoint").mkdir(parents=True)
    (version / "model.yaml").write_text(
        yaml.safe_dump(
            {
                "model": "checkpoint",
                "backend": "pytorch",
                "tensor_parallel_size": 1,
                "kv_cache_config": {"free_gpu_memory_fraction": 0.9},
                "triton_config": {"max_batch_size": 0, "decoupled": decoupled},
            }
        )
    )
    config = {
        "parameters": {
            "llm_config": {"string_value": "model.yaml"},
            "contract": {"string_value": contract},
            "exclude_input_in_output": {"string_value": "true"},
        },
        "model_transaction_policy": {"decoupled": decoupled},
    }
    model = llmapi_mod.TritonPythonModel()
    model.initialize(
        {
            "model_config": json.dumps(config),
            "model_repository": str(tmp_path / "tensorrt_llm"),
            "model_version": "1",
        }
    )
    return model, version


def _text(prompt, **extra):
    arrays = {"text_input": np.array([prompt.encode()], dtype=object)}
    arrays.update(extra)
    return pb.request(**arrays)


def test_model_yaml_becomes_llm_arguments(fake_trtllm, tmp_path):
    model, version = _model(tmp_path, decoupled=False)
    args = FakeLLM.created[-1]
    assert args["model"] == str(version / "checkpoint")  # relative to model.yaml: relocatable
    assert "triton_config" not in args and "backend" not in args
    assert args["kv_cache_config"] == {"free_gpu_memory_fraction": 0.9}
    model.finalize()


def test_non_decoupled_generate_maps_sampling_params(fake_trtllm, tmp_path):
    model, _ = _model(tmp_path, decoupled=False)
    ok, bad, stream = model.execute(
        [
            _text(
                "Hi",
                sampling_param_max_tokens=np.array([7], np.int32),
                sampling_param_temperature=np.array([0.5], np.float32),
                sampling_param_stop=np.array([b"\n"], dtype=object),
                return_finish_reason=np.array([True]),
            ),
            _text("boom"),
            _text("Hi", streaming=np.array([True])),
        ]
    )
    out = pb.outputs(ok)
    assert out["text_output"].tolist() == [b" one two three"] and out["finish_reason"].tolist() == [b"length"]
    prompt, kwargs, streaming = model.llm.calls[0]
    assert kwargs == {"max_tokens": 7, "temperature": 0.5, "stop": ["\n"]} and not streaming
    assert "engine exploded" in bad.error().message()
    assert "not decoupled" in stream.error().message()
    model.finalize()


def test_decoupled_streaming_sends_deltas_then_final(fake_trtllm, tmp_path):
    model, _ = _model(tmp_path, decoupled=True)
    request = _text("Hi", streaming=np.array([True]))
    assert model.execute([request]) is None
    deadline = time.monotonic() + 10
    while (not request.sender.sent or request.sender.sent[-1][0] is not None) and time.monotonic() < deadline:
        time.sleep(0.01)
    pieces = [pb.outputs(r)["text_output"][0].decode() for r, _ in request.sender.sent if r is not None]
    assert pieces == [" one", " two", " three"]
    assert request.sender.sent[-1] == (None, pb.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
    model.finalize()


def _ids(prompt, **extra):
    arrays = {
        "input_ids": np.array([prompt], np.int32),
        "input_lengths": np.array([[len(prompt)]], np.int32),
        "request_output_len": np.array([[3]], np.int32),
        "end_id": np.array([[2]], np.int32),
    }
    arrays.update(extra)
    return pb.request(**arrays)


def test_ids_contract_serves_the_classic_ensemble_slot(fake_trtllm, tmp_path):
    model, _ = _model(tmp_path, decoupled=True, contract="ids")
    whole = _ids([1, 5, 6], stop_words_list=np.array([[[7, 0], [1, -1]]], np.int32))
    echo = _ids([1, 5, 6], exclude_input_in_output=np.array([[False]]))
    streamed = _ids([1, 5, 6], streaming=np.array([[True]]))
    multi = _ids([1, 5, 6], stop_words_list=np.array([[[7, 8], [2, -1]]], np.int32))
    lora = _ids([1, 5, 6], lora_task_id=np.array([[1]], np.uint64))
    assert model.execute([whole, echo, streamed, multi, lora]) is None
    deadline = time.monotonic() + 10
    while (
        any(not r.sender.sent or r.sender.sent[-1][1] == 0 for r in (whole, echo, streamed, multi, lora))
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    ((resp, _),) = whole.sender.sent
    assert pb.outputs(resp)["output_ids"].tolist() == [[[10, 11, 12]]]
    assert pb.outputs(resp)["sequence_length"].tolist() == [[3]]
    prompt, kwargs, _ = model.llm.calls[0]
    assert prompt == [1, 5, 6] and kwargs == {"end_id": 2, "max_tokens": 3, "stop_token_ids": [7]}
    assert pb.outputs(echo.sender.sent[0][0])["output_ids"].tolist() == [[[1, 5, 6, 10, 11, 12]]]
    chunks = [pb.outputs(r)["output_ids"][0, 0].tolist() for r, _ in streamed.sender.sent if r is not None]
    assert chunks == [[10], [11], [12]] and streamed.sender.sent[-1] == (
        None,
        pb.TRITONSERVER_RESPONSE_COMPLETE_FINAL,
    )
    assert "multi-token stop/bad words" in multi.sender.sent[0][0].error().message()
    assert "lora_task_id not supported" in lora.sender.sent[0][0].error().message()
    model.finalize()
