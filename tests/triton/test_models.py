"""The shipped python models, imported and run outside Triton (their glue driven by a stand-in pb_utils)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.triton import fake_pb_utils as pb
from trtforge.triton.models.postprocessing import model as post_mod
from trtforge.triton.models.preprocessing import model as pre_mod
from trtforge.triton.models.reference import model as ref_mod
from trtforge.triton.models.tensorrt_llm_bls import model as bls_mod


@pytest.fixture(scope="module")
def tokenizer(tiny_llama):
    return pre_mod.load_tokenizer(str(tiny_llama))


def _config(params: dict, decoupled: bool = False, outputs=()):
    return json.dumps(
        {
            "parameters": {k: {"string_value": str(v)} for k, v in params.items()},
            "model_transaction_policy": {"decoupled": decoupled},
            "output": [{"name": n} for n in outputs],
        }
    )


def test_preprocessing_tokenizes_and_builds_word_lists(tokenizer):
    pre = pre_mod.Preprocessor(tokenizer, end_id=2, pad_id=0, stop_token_ids=[5, 2])
    out = pre.process(["Hello, world!", "Hi"], np.array([[8], [4]]), stop_words=[["world", "fox"], []])
    ids = tokenizer.encode("Hello, world!")
    assert out["INPUT_ID"][0].tolist() == ids and out["REQUEST_INPUT_LEN"].tolist() == [
        [len(ids)],
        [len(tokenizer.encode("Hi"))],
    ]
    assert out["INPUT_ID"][1, len(tokenizer.encode("Hi")) :].tolist() == [0] * (
        len(ids) - len(tokenizer.encode("Hi"))
    )
    assert out["OUT_END_ID"].tolist() == [[2], [2]] and out["REQUEST_OUTPUT_LEN"].tolist() == [[8], [4]]
    stop = out["STOP_WORDS_IDS"]
    assert stop.shape[:2] == (2, 2)
    # row 1: the extra eos id (5) only; the end id itself is not repeated as a stop word
    assert ref_mod.word_sequences(stop[1]) == [[5]]
    world, fox = (tokenizer.encode(w, add_special_tokens=False) for w in ("world", "fox"))
    assert ref_mod.word_sequences(stop[0]) == [world, fox, [5]]


def test_preprocessing_glue_resolves_repo_relative_tokenizer(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setattr(pre_mod, "pb_utils", pb)
    (tmp_path / "preprocessing" / "1").mkdir(parents=True)
    shutil.copytree(tiny_llama, tmp_path / "tok")
    cfg = {
        **json.loads(_config({"tokenizer_dir": "tok", "end_id": 2, "pad_id": 0, "stop_token_ids": "[]"})),
        "output": [{"name": n} for n in ("INPUT_ID", "REQUEST_INPUT_LEN", "OUT_END_ID")],
    }
    model = pre_mod.TritonPythonModel()
    model.initialize({"model_config": json.dumps(cfg), "model_repository": str(tmp_path / "preprocessing")})
    ok, bad = model.execute(
        [
            pb.request(QUERY=np.array([[b"Hello"]], dtype=object), REQUEST_OUTPUT_LEN=np.array([[4]])),
            pb.request(QUERY=np.array([[b"Hi"]], dtype=object), REQUEST_OUTPUT_LEN=np.array([[4], [5]])),
        ]
    )
    assert pb.outputs(ok)["OUT_END_ID"].tolist() == [[2]]
    assert bad.error().message().startswith("preprocessing: ")  # an error response, not a crashed stub


def test_preprocessing_refuses_a_prompt_without_tokens(tokenizer):
    pre = pre_mod.Preprocessor(tokenizer, add_special_tokens=False, end_id=2)
    with pytest.raises(ValueError, match="empty prompt"):
        pre.process([""], np.array([[4]]))


def test_postprocessing_decodes_up_to_sequence_length(tokenizer):
    post = post_mod.Postprocessor(tokenizer)
    ids = tokenizer.encode("the quick brown fox", add_special_tokens=False)
    tokens = np.array([[ids + [2, 2, 2]]], np.int32)
    out = post.decode(tokens, np.array([[len(ids)]]))
    # 1-D [batch * beams], as NVIDIA's postprocessing returns it (its clients call output[0].decode()).
    assert out.shape == (1,) and out[0] == b"the quick brown fox"


def test_word_sequences_roundtrip():
    arr = np.array([[7, 8, 9, 0], [2, 3, -1, -1]])
    assert ref_mod.word_sequences(arr) == [[7, 8], [9]]
    assert ref_mod.word_sequences(np.array([[0], [-1]])) == []


def test_text_accumulator_streams_deltas_that_concatenate_to_the_full_text(tokenizer):
    ids = tokenizer.encode("Hello, world! How are you today?", add_special_tokens=False)

    def decode(t):
        return tokenizer.decode(t, skip_special_tokens=True)

    acc = bls_mod.TextAccumulator(accumulate=True)
    pieces = [p for p in (acc.add([t], decode) for t in ids) if p]
    rest = acc.flush(decode)
    assert "".join(pieces) + (rest or "") == decode(ids)
    assert len(pieces) > 1


def test_reference_refuses_formats_it_cannot_dequantize(tiny_llama, tmp_path):
    ck = tmp_path / "nvfp4"
    shutil.copytree(tiny_llama, ck)
    cfg = json.loads((ck / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "modelopt", "quant_algo": "NVFP4"}
    (ck / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ref_mod.ReferenceUnsupported, match="NVFP4.*refusing to serve different weights"):
        ref_mod.load_model(str(ck))


@pytest.mark.slow
@pytest.mark.xdist_group("tiny-fp8")  # one worker makes the shared FP8 export (it takes no lock)
def test_fp8_dequantization_matches_the_original_weights(tiny_llama, tiny_fp8):
    import torch
    from transformers import AutoModelForCausalLM

    model, desc = ref_mod.load_model(str(tiny_fp8 / "hf"))
    assert "FP8" in desc
    orig = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).state_dict()
    got = model.state_dict()
    w = "model.layers.0.mlp.down_proj.weight"
    # FP8 E4M3 keeps ~3 mantissa bits: error within ~1/16 of the tensor's range, not zero, not large.
    err = (got[w] - orig[w]).abs().max().item()
    assert 0 < err <= orig[w].abs().max().item() / 16
    assert torch.equal(got["lm_head.weight"], orig["lm_head.weight"])  # excluded from quantization


@pytest.mark.slow
@pytest.mark.xdist_group("tiny-fp8")
def test_reference_generation_matches_transformers_greedy(tiny_fp8, tokenizer):
    import torch

    model, _ = ref_mod.load_model(str(tiny_fp8 / "hf"))
    ids = tokenizer.encode("Hello, world! How are")
    ours = [t for t, *_ in ref_mod.Generation(model).run(ids, 12, end_id=2) if t is not None]
    hf = model.generate(
        torch.tensor([ids]), max_new_tokens=12, do_sample=False, eos_token_id=2, pad_token_id=0
    )[0, len(ids) :].tolist()
    assert ours == [t for t in hf if t != 2][: len(ours)] and len(ours) >= 1


@pytest.mark.slow
@pytest.mark.xdist_group("tiny-fp8")
def test_reference_glue_ids_contract(tiny_fp8, tmp_path, tokenizer, monkeypatch):
    monkeypatch.setattr(ref_mod, "pb_utils", pb)
    repo = tmp_path / "repo"
    (repo / "tensorrt_llm" / "1").mkdir(parents=True)
    cfg = _config(
        {"checkpoint_dir": str(tiny_fp8 / "hf"), "exclude_input_in_output": "true", "max_seq_len": 64},
        decoupled=True,
    )
    model = ref_mod.TritonPythonModel()
    model.initialize({"model_config": cfg, "model_repository": str(repo / "tensorrt_llm")})
    ids = tokenizer.encode("Hello")
    common = dict(
        input_ids=np.array([ids], np.int32),
        input_lengths=np.array([[len(ids)]], np.int32),
        request_output_len=np.array([[5]], np.int32),
        end_id=np.array([[-1]], np.int32),
    )
    whole = pb.request(**common)
    streamed = pb.request(**common, streaming=np.array([[True]]))
    lora = pb.request(**common, lora_task_id=np.array([[3]], np.uint64))
    assert model.execute([whole, streamed, lora]) is None  # decoupled: everything goes through the senders
    ((resp, flags),) = whole.sender.sent
    assert flags == pb.TRITONSERVER_RESPONSE_COMPLETE_FINAL
    tokens = pb.outputs(resp)["output_ids"][0, 0].tolist()
    assert len(tokens) == 5 and pb.outputs(resp)["sequence_length"].tolist() == [[5]]
    chunks = [pb.outputs(r)["output_ids"][0, 0].tolist() for r, _ in streamed.sender.sent if r is not None]
    assert sum(chunks, []) == tokens and len(chunks) == 5
    assert streamed.sender.sent[-1] == (None, pb.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
    ((err, _),) = lora.sender.sent
    assert "lora_task_id not supported by the reference runtime" in err.error().message()
