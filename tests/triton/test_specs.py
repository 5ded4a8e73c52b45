"""The tensor data file: provenance, and every emitted tensor / parameter key exists upstream."""

from __future__ import annotations

import re

import pytest

from trtforge.triton import specs
from trtforge.triton.kinds import tensorrt_llm
from trtforge.triton.settings import RepoSettings


def test_provenance_names_repo_path_and_commit():
    src = specs.source()
    assert src["repo"] == "triton-inference-server/tensorrtllm_backend"
    assert re.fullmatch(r"[0-9a-f]{40}", src["commit"])
    for key, entry in specs.tensor_data()["upstream"].items():
        assert entry["source"]["commit"] == src["commit"], key
        assert entry["source"]["path"].endswith("/config.pbtxt"), key


@pytest.mark.parametrize(
    "kind", ["preprocessing", "postprocessing", "tensorrt_llm", "ensemble", "tensorrt_llm_bls", "llmapi"]
)
def test_every_emitted_tensor_exists_upstream(kind):
    emitted = specs.emitted(kind)
    upstream = specs.upstream_model(emitted["upstream"])
    up_in = {t["name"] for t in upstream["inputs"]}
    up_out = {t["name"] for t in upstream["outputs"]}
    assert set(emitted["inputs"]) <= up_in
    assert set(emitted["outputs"]) <= up_out
    assert len(emitted["inputs"]) == len(set(emitted["inputs"]))


def test_required_upstream_inputs_are_emitted():
    # Leaving out a required input would make NVIDIA's clients fail; optional ones may be left out.
    for kind in ("preprocessing", "ensemble", "tensorrt_llm_bls", "tensorrt_llm", "llmapi"):
        emitted = specs.emitted(kind)
        required = {
            t["name"] for t in specs.upstream_model(emitted["upstream"])["inputs"] if not t.get("optional")
        }
        assert required <= set(emitted["inputs"]), kind


def test_engine_parameter_keys_are_upstream_keys():
    s = RepoSettings(
        layout="inflight_batcher_llm",
        runtime="tensorrtllm",
        served_model_name="m",
        max_batch_size=8,
        streaming=True,
        max_tokens_in_paged_kv_cache=4096,
    )
    keys = set(tensorrt_llm.engine_parameters(s))
    assert keys <= specs.parameter_keys("inflight_batcher_llm/tensorrt_llm")
    # The two keys whose names differ from their template placeholders (NOTES.md 1.3).
    assert {"gpt_model_type", "gpt_model_path"} <= keys


def test_model_inputs_carry_upstream_types_and_shapes():
    from trtforge.triton.pb import data_type_name

    by_name = {m.name: m for m in specs.model_inputs("tensorrt_llm")}
    assert data_type_name(by_name["input_ids"].data_type) == "TYPE_INT32"
    assert list(by_name["input_ids"].dims) == [-1] and by_name["input_ids"].allow_ragged_batch
    assert list(by_name["input_lengths"].reshape.shape) == [] and by_name["input_lengths"].HasField("reshape")
    assert not by_name["input_lengths"].optional and by_name["streaming"].optional
    # A placeholder-typed tensor gets the documented default type.
    assert data_type_name(by_name["draft_logits"].data_type) == "TYPE_FP32"
