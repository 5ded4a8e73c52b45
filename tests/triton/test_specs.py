"""The per-version data files: provenance, NVIDIA's facts as issues and NOTES.md state them, and the rules
that
pick a data file for a repository."""

from __future__ import annotations

import re

import pytest

from trtforge.triton import specs
from trtforge.triton.kinds import tensorrt_llm
from trtforge.triton.settings import RepoSettings

EXTRACTED = [v for v, e in specs.versions_index()["versions"].items() if e["status"] == "extracted"]


def test_every_version_a_recipe_may_pin_is_accounted_for():
    import json
    from importlib import resources

    pinnable = json.loads(resources.files("trtforge").joinpath("data/trtllm_versions.json").read_text())
    known = set(specs.versions_index()["versions"])
    assert {r["version"] for r in pinnable["releases"]} <= known
    assert "0.19.0" in EXTRACTED and "1.2.1" not in EXTRACTED  # see versions.json "why"


@pytest.mark.parametrize("version", EXTRACTED)
def test_provenance_is_a_release_tag_and_commit(version):
    src = specs.source(version)
    assert src["repo"] == "triton-inference-server/tensorrtllm_backend" and src["tag"] == f"v{version}"
    assert re.fullmatch(r"[0-9a-f]{40}", src["commit"]) and re.fullmatch(
        r"[0-9a-f]{40}", src["trtllm_commit"]
    )
    for key, model in specs.release_data(version)["models"].items():
        assert model["path"] == f"all_models/{key}/config.pbtxt"
        for site in model["parameter_read_sites"]:
            assert re.fullmatch(r"(inflight_batcher_llm/src/.*\.cc|all_models/.*/model\.py)", site["file"])


def test_required_engine_parameters_since_0_19():
    """The issue and NOTES.md: since TensorRT-LLM 0.19 the C++ backend reads tokenizer_dir,
    guided_decoding_backend and xgrammar_tokenizer_info_path without a try/catch ("Cannot find parameter with
    name: tokenizer_dir"); gpt_model_type has always been read without one (the template has no default)."""
    three = {"tokenizer_dir", "guided_decoding_backend", "xgrammar_tokenizer_info_path"}
    assert set(specs.required_parameters("0.19.0", "tensorrt_llm")) == three | {"gpt_model_type"}
    assert not three & set(specs.required_parameters("0.18.2", "tensorrt_llm"))
    # ... and about 28 others inside try/catch with defaults (NOTES.md "Fidelity findings").
    assert len(specs.template("0.19.0", "tensorrt_llm")["parameter_reads"]["optional"]) >= 28


def test_nvidia_public_inputs_at_0_19():
    # The issue counts 34 ensemble and 40 BLS inputs in NVIDIA's templates.
    assert len(specs.tensor_names("0.19.0", "ensemble", "inputs")) == 34
    assert len(specs.tensor_names("0.19.0", "tensorrt_llm_bls", "inputs")) == 40


def _settings(runtime: str, version: str) -> RepoSettings:
    return RepoSettings(
        layout="inflight_batcher_llm",
        runtime=runtime,
        served_model_name="m",
        max_batch_size=8,
        streaming=True,
        max_tokens_in_paged_kv_cache=4096,
        trtllm_version=version,
    )


def test_engine_repositories_follow_the_pinned_version_or_are_refused():
    assert _settings("tensorrtllm", "0.18.2").tensor_spec == "0.18.2"
    with pytest.raises(specs.SpecUnavailable, match=r"TensorRT-LLM 1\.2\.1 was not extracted.*2fdb9e66"):
        _ = _settings("tensorrtllm", "1.2.1").tensor_spec
    with pytest.raises(specs.SpecUnavailable, match="no engine .* backend, only llmapi"):
        _ = _settings("tensorrtllm", "1.3").tensor_spec
    # trtforge's own runtimes in every slot: the pinned version when extracted, else the contract source.
    assert _settings("reference", "0.19.0").tensor_spec == "0.19.0"
    assert _settings("reference", "1.2.1").tensor_spec == specs.CONTRACT_SOURCE


@pytest.mark.parametrize("version", EXTRACTED)
def test_engine_parameters_are_keys_the_pinned_backend_reads(version):
    s = _settings("tensorrtllm", version)
    params = tensorrt_llm.engine_parameters(s)
    assert set(params) <= specs.parameter_keys(version, "tensorrt_llm")
    assert set(specs.required_parameters(version, "tensorrt_llm")) <= set(params)
    assert params["gpt_model_type"] == "inflight_fused_batching"


def test_model_inputs_carry_upstream_types_and_shapes():
    from trtforge.triton.pb import data_type_name

    by_name = {m.name: m for m in specs.model_inputs("0.19.0", "tensorrt_llm")}
    assert data_type_name(by_name["input_ids"].data_type) == "TYPE_INT32"
    assert list(by_name["input_ids"].dims) == [-1] and by_name["input_ids"].allow_ragged_batch
    assert list(by_name["input_lengths"].reshape.shape) == [] and by_name["input_lengths"].HasField("reshape")
    assert not by_name["input_lengths"].optional and by_name["streaming"].optional
    # A placeholder-typed tensor gets the documented default type.
    assert data_type_name(by_name["draft_logits"].data_type) == "TYPE_FP32"


def test_release_commits_agree_with_the_trtllm_spec_manifest():
    """trtforge/data/trtllm/specs.json maps each release tag to its NVIDIA/TensorRT-LLM commit by its own
    route;
    every such commit is one the Triton data records as pinned by that release."""
    import json
    from importlib import resources

    manifest = json.loads(resources.files("trtforge").joinpath("data/trtllm/specs.json").read_text())
    checked = 0
    for version, entry in manifest["versions"].items():
        ours = specs.version_entry(version)
        if not entry.get("commit") or ours is None or ours["status"] == "extracted":
            continue
        assert entry["commit"] in {p["trtllm_commit"] for p in ours.get("pinned_by", [])}, version
        checked += 1
    assert checked >= 2  # 1.0.0 and 1.1.0 at least
