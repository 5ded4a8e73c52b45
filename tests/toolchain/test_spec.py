"""Validators against the extracted specs: trtllm-build argv and LLM-API YAML."""

from __future__ import annotations

import pytest

from trtforge.toolchain import spec

BASE = ["trtllm-build", "--checkpoint_dir", "/ck", "--output_dir", "/out"]


def test_minimal_command_is_valid() -> None:
    assert spec.validate_build_command(BASE, "1.2.1") == []


def test_types_choices_and_aliases() -> None:
    argv = BASE + [
        "--max_batch_size",
        "64",
        "--max_decoder_seq_len",
        "4096",
        "--kv_cache_type",
        "PAGED",
        "--gemm_plugin",
        "nvfp4",
        "--use_paged_context_fmha",
        "enable",
        "--lora_dir",
        "/a",
        "/b",
        "--strip_plan",
        "--log_level=warning",
    ]
    parsed = spec.parse_build_command(argv, "1.2.1")
    assert parsed.problems == []
    assert parsed.values["max_seq_len"] == 4096
    assert parsed.values["kv_cache_type"] == "paged"
    assert parsed.values["lora_dir"] == ["/a", "/b"]
    assert parsed.values["strip_plan"] is True
    assert parsed.values["log_level"] == "warning"


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--max_batch_size", "many"], "expects an integer"),
        (["--gemm_plugin", "int4"], "expected one of"),
        (["--use_paged_context_fmha", "true"], "expected one of enable, disable"),
        (["--no_such_flag", "1"], "has no option --no_such_flag"),
        (["--multi_block_mode", "enable"], "moved to runtime"),
        (["--max_output_len", "100"], "replaced by --max_seq_len"),
        (["--max_batch_size", "8", "--max_batch_size", "16"], "more than once"),
        (["--strip_plan=1"], "takes no value"),
        (["stray"], "positional"),
        (["--output_timing_cache"], "expects a value"),
    ],
)
def test_bad_commands(extra: list[str], needle: str) -> None:
    problems = spec.validate_build_command(BASE + extra, "1.2.1")
    assert any(needle in p for p in problems), problems


def test_era_markers() -> None:
    argv = BASE + ["--auto_parallel", "2"]
    assert spec.validate_build_command(argv, "1.1.0") == []
    problems = spec.validate_build_command(argv, "1.2.1")
    assert problems and "removed in TensorRT-LLM 1.2.0" in problems[0]


def test_no_trtllm_build_after_1_2() -> None:
    problems = spec.validate_build_command(BASE, "1.3.0rc27")
    assert any("no trtllm-build" in p and "1.2.1" in p for p in problems)


def test_must_be_trtllm_build_with_a_checkpoint() -> None:
    assert spec.validate_build_command(["python", "build.py"], "1.2.1")
    assert any(
        "--checkpoint_dir" in p
        for p in spec.validate_build_command(["trtllm-build", "--output_dir", "/o"], "1.2.1")
    )


def test_defaults_from_build_config() -> None:
    assert spec.build_option_default("--max_batch_size") == 2048
    assert spec.build_option_default("--max_num_tokens") == 8192
    assert spec.build_option_default("--tokens_per_block") == 32
    assert spec.build_option_default("--use_paged_context_fmha") == "enable"
    assert spec.build_option_default("--gemm_plugin") is None


# ------------------------------------------------------------------------------------------------ LLM API


def test_tuned_configs_validate(tuned_configs) -> None:
    for name, cfg in tuned_configs.items():
        problems = spec.validate_llm_api_config(cfg, "pytorch")
        if "curated_latency" in name:
            # NVIDIA's curated file uses the trtllm-serve CLI name, which LlmArgs 1.2 does not accept
            assert problems == [
                (
                    "kv_cache_free_gpu_memory_fraction: unknown field: TensorRT-LLM 1.2.1 rejects it "
                    "(interim hand-transcribed llm_args.py spec; not extracted at v1.2.1)"
                )
            ]
        else:
            assert problems == [], (name, problems)


@pytest.mark.parametrize(
    "cfg,needle",
    [
        ({"kv_cache_config": {"free_gpu_memory_fraction": 1.5}}, "must be <= 1"),
        ({"kv_cache_config": {"enable_blok_reuse": True}}, "did you mean enable_block_reuse"),
        ({"kv_cache_dtype": "fp8"}, "unknown field"),
        ({"moe_config": {"backend": "MARLIN"}}, "not one of"),
        ({"max_batch_size": "64"}, "expected int"),
        ({"enable_chunked_prefill": 1}, "expected bool"),
        ({"cuda_graph_config": {"batch_sizes": [1, 2, 4], "max_batch_size": 8}}, "max(batch_sizes)"),
        (
            {"speculative_config": {"decoding_type": "Medusa", "max_draft_len": 3}},
            "not supported by the pytorch backend",
        ),
        ({"speculative_config": {"decoding_type": "Eagle3", "max_draft_len": 3}}, "needs speculative_model"),
        ({"speculative_config": {"decoding_type": "Turbo"}}, "is not one of"),
        (
            {"scheduler_config": {"dynamic_batch_config": {"enable_batch_size_tuning": True}}},
            "only the tensorrt backend",
        ),
        ({"build_config": {"max_batch_size": 8}}, "unknown field"),
        ({"batched_logits_processor": "x"}, "cannot be set from YAML"),
    ],
)
def test_bad_llm_api_configs(cfg: dict, needle: str) -> None:
    problems = spec.validate_llm_api_config(cfg, "pytorch")
    assert any(needle in p for p in problems), problems


def test_llm_api_good_config_and_backends() -> None:
    cfg = {
        "tensor_parallel_size": 2,
        "moe_expert_parallel_size": 2,
        "kv_cache_config": {"dtype": "fp8"},
        "cuda_graph_config": None,
        "moe_config": {"backend": "TRTLLM"},
        "load_format": "dummy",
        "speculative_config": {
            "decoding_type": "Eagle3",
            "max_draft_len": 3,
            "speculative_model_dir": "/draft",
        },
        "scheduler_config": {"capacity_scheduler_policy": "MAX_UTILIZATION"},
        "env_overrides": {"A": 1},
    }
    assert spec.validate_llm_api_config(cfg, "pytorch") == []
    trt = spec.validate_llm_api_config({"kv_cache_config": {"dtype": "fp8"}, "build_config": {}}, "tensorrt")
    assert any("must be 'auto' on the TensorRT backend" in p for p in trt)
    assert spec.validate_llm_api_config([], "pytorch")


def test_llm_api_defaults() -> None:
    assert spec.llm_api_default("kv_cache_config.free_gpu_memory_fraction") == 0.9
    assert spec.llm_api_default("kv_cache_config.enable_block_reuse") is True
    assert spec.llm_api_default("enable_chunked_prefill") is False
    assert spec.llm_api_default("attn_backend") == "TRTLLM"
    assert spec.llm_api_default("stream_interval") == 1
    assert spec.llm_api_default("max_batch_size") == 2048


def test_triton_model_yaml_keys_can_be_ignored() -> None:
    model_yaml = {"model": "/models/ckpt", "tensor_parallel_size": 1, "triton_config": {"max_batch_size": 0}}
    assert spec.validate_llm_api_config(model_yaml)[0].startswith("triton_config: unknown field")
    assert spec.validate_llm_api_config(model_yaml, require_model=True, ignore_keys=("triton_config",)) == []


# ------------------------------------------------------------------------------------------------ versions


def test_every_pinnable_version_is_in_the_manifest_with_its_tag() -> None:
    import re

    from trtforge.toolchain import versions

    assert versions.spec_manifest_versions() == ["1.3.0rc29", "1.2.1", "1.2.0", "1.1.0", "1.0.0"]
    for v in versions.spec_manifest_versions():
        prov = spec.spec_provenance(v)
        assert prov["tag"] == f"v{v}" and prov["repo"] == "NVIDIA/TensorRT-LLM"
        assert prov["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", prov["commit"])
        if not prov["extracted"]:
            assert prov["missing"]  # says exactly what could not be read


def test_interim_spec_is_named_as_such() -> None:
    prov = spec.spec_provenance("1.2.1")
    if prov["extracted"]:
        pytest.skip("1.2.1 has an extracted spec now")
    assert prov["commit"] == "376f7e1bd8ed543f75014309e3fd4b237e9b0e73"
    assert "hand-transcribed" in prov["interim_source"]
    problems = spec.validate_llm_api_config({"no_such_key": 1}, version="1.2.1")
    assert problems == [
        (
            "no_such_key: unknown field: TensorRT-LLM 1.2.1 rejects it "
            "(interim hand-transcribed llm_args.py spec; not extracted at v1.2.1)"
        )
    ]


@pytest.mark.parametrize("version", ["1.3.0rc29", "1.3.0rc21", "0.21.0"])
def test_version_without_a_spec_is_refused(version: str) -> None:
    from trtforge.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        spec.validate_llm_api_config({"model": "/m"}, version=version)
    line = err.value.one_line()
    assert f"TensorRT-LLM {version} has no option spec extracted" in line
    assert "versions with an extracted spec" in line
    with pytest.raises(InvalidInput):
        spec.llm_api_default("max_batch_size", version=version)


def test_default_version_is_used_when_none_is_given() -> None:
    from trtforge.toolchain.versions import default_version

    assert spec.spec_provenance()["version"] == default_version()
    assert spec.build_option_default("--max_batch_size", None) == spec.build_option_default(
        "--max_batch_size", default_version()
    )
