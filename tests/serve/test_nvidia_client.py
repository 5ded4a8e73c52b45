"""NVIDIA's client contract against a NON-decoupled repository (serving.streaming: false) on a real Triton
server: NVIDIA's end-to-end client always uses a gRPC stream, and gets exactly one response per request.

Written through the repository writer (reference runtime, the tiny Llama), one server for the module (~20
s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serve.nvidia_client import nvidia_inputs, run
from trtforge.serve.launch import ServeOptions, running_server
from trtforge.triton.settings import RepoSettings
from trtforge.triton.writer import write_repository

# slow: a Triton server start; one xdist worker runs the module, so the server starts once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("nvidia-client")]
PROMPT = "The capital of France is"
MAX_TOKENS = 8


@pytest.fixture(scope="module")
def expected(tiny_llama) -> str:
    """Greedy decoding by transformers itself on the same weights."""
    import torch
    from transformers import AutoTokenizer

    from trtforge.triton.models.reference.model import load_model

    model, _ = load_model(str(tiny_llama))
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    ids = tok.encode(PROMPT)
    out = model.generate(
        torch.tensor([ids]), max_new_tokens=MAX_TOKENS, do_sample=False, eos_token_id=2, pad_token_id=0
    )[0, len(ids) :].tolist()
    return tok.decode([t for t in out if t != 2], skip_special_tokens=True)


@pytest.fixture(scope="module")
def server(tiny_llama, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nvidia-client")
    s = RepoSettings(
        layout="inflight_batcher_llm",
        runtime="reference",
        served_model_name="tiny",
        max_batch_size=4,
        streaming=False,
        end_id=2,
        max_seq_len=256,
        trtllm_version="1.2.1",
    )
    write_repository(s, tmp / "repo", tokenizer_src=tiny_llama, checkpoint_src=tiny_llama)
    opts = ServeOptions(runtime="reference", ready_timeout_s=300, log_file=tmp / "triton.log")
    with running_server(Path(tmp / "repo"), opts) as served:
        yield served


@pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
def test_nvidia_client_non_streaming(server, expected, model):
    url = server.server.endpoints.grpc
    text, _, errors = run(url, model, nvidia_inputs(PROMPT, MAX_TOKENS, False), False)
    assert errors == [] and text == PROMPT + expected  # NVIDIA's own check for exclude_input_in_output=false
    text, _, errors = run(
        url, model, nvidia_inputs(PROMPT, MAX_TOKENS, False, exclude_input_in_output=True), False
    )
    assert errors == [] and text == expected


@pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
def test_streaming_request_to_a_non_decoupled_model_fails_clearly(server, model):
    _, _, errors = run(server.server.endpoints.grpc, model, nvidia_inputs(PROMPT, 4, True), True)
    assert len(errors) == 1 and "decoupled" in str(errors[0])
