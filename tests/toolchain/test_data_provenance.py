"""Every extracted spec names where it came from (repo, path, commit or index id, date), and is well
formed."""

from __future__ import annotations

import re

import pytest

from trtforge.toolchain.data import (
    BUILD_OPTIONS,
    LLM_API_ARGS,
    MODEL_MAP,
    QUANT_ALGOS,
    VERSIONS,
    has_versioned,
    load,
    versioned_name,
)

SHA = re.compile(r"^[0-9a-f]{40}$")
ALL = [BUILD_OPTIONS, LLM_API_ARGS, MODEL_MAP, QUANT_ALGOS, VERSIONS]


@pytest.mark.parametrize("name", ALL)
def test_every_data_file_has_provenance(name: str) -> None:
    data = load(name)
    prov = data["provenance"]
    assert re.match(r"^\d{4}-\d{2}-\d{2}$", prov["extracted_on"])
    commits = re.findall(r"[0-9a-f]{40}", str(data))
    assert commits, f"{name} names no commit"
    assert all(SHA.match(c) for c in commits)


def test_build_options_name_their_sources() -> None:
    data = load(BUILD_OPTIONS)
    sources = {s["path"] for s in data["provenance"]["sources"]}
    assert {
        "tensorrt_llm/commands/build.py",
        "tensorrt_llm/plugin/plugin.py",
        "tensorrt_llm/builder.py",
    } <= sources
    for s in data["provenance"]["sources"]:
        assert s["commit"] is None or SHA.match(s["commit"])
        assert s["commit"] or s.get("index_id") or s["path"].startswith("docs:")
    names = [o["name"] for o in data["options"]]
    assert len(names) == len(set(names))
    for o in data["options"]:
        assert o["name"].startswith("--") and o["help"]
        assert o["type"] in {"str", "int", "bool", "enum", "float"}
        assert o["source"] in {"build.py", "build.py@old", "plugin.py"}
        if o["choices"] is not None and o["default"] is not None and o["type"] != "bool":
            assert o["default"] in o["choices"], o["name"]


def test_plugin_flags_come_from_plugin_config() -> None:
    plugin = {o["name"] for o in load(BUILD_OPTIONS)["options"] if o["group"] == "plugin"}
    # cli_plugin_args of PluginConfig @c20322ff: 13 plugins + 15 features
    assert len(plugin) == 28
    for flag in (
        "--gemm_plugin",
        "--gpt_attention_plugin",
        "--use_paged_context_fmha",
        "--use_fp8_context_fmha",
        "--context_fmha",
        "--remove_input_padding",
        "--moe_plugin",
        "--reduce_fusion",
        "--multiple_profiles",
        "--norm_quant_fusion",
        "--tokens_per_block",
    ):
        assert flag in plugin


def test_llm_api_spec_classes_and_unions() -> None:
    data = load(LLM_API_ARGS)
    classes = data["classes"]
    for cls in (
        "BaseLlmArgs",
        "TorchLlmArgs",
        "TrtLlmArgs",
        "KvCacheConfig",
        "SchedulerConfig",
        "CudaGraphConfig",
        "MoeConfig",
        "DynamicBatchConfig",
    ):
        assert classes[cls], cls
    for cls, fields in classes.items():
        names = [f["name"] for f in fields]
        assert len(names) == len(set(names)), cls
        for f in fields:
            if f["kind"] in ("model",):
                assert f["model"] in classes, (cls, f["name"])
            if f["kind"] == "union":
                assert f["model"] in data["unions"]
    assert set(data["unions"]["SpeculativeConfig"]["variants"]) >= {
        "Eagle",
        "Eagle3",
        "MTP",
        "NGram",
        "Medusa",
        "Lookahead",
    }


def test_versions_table_is_ordered_and_consistent() -> None:
    data = load(VERSIONS)
    for row in data["releases"]:
        assert len(row["triton_images"]) == len(row["triton_tags"])
        for tag, image in zip(row["triton_tags"], row["triton_images"], strict=False):
            assert image == f"nvcr.io/nvidia/tritonserver:{tag}-trtllm-python-py3"
    assert data["default_version"] == data["latest_release"] == "1.2.1"
    assert data["engine_backend"]["last_version"] == "1.2.1"


def test_model_map_separates_backends() -> None:
    data = load(MODEL_MAP)
    engine = set(data["engine_model_map"]["architectures"])
    for arch in data["engine_model_map"]["never"]:
        assert arch not in engine
    assert "LlamaForCausalLM" in engine and "Qwen3MoeForCausalLM" in engine


def test_quant_algos() -> None:
    data = load(QUANT_ALGOS)
    assert "MXFP4" not in data["quant_algo"]
    assert {"W4A16_MXFP4", "W4A8_MXFP4_MXFP8", "NVFP4", "FP8", "W4A16_AWQ"} <= set(data["quant_algo"])
    assert data["kv_cache_quant_algo"] == ["FP8", "INT8", "NVFP4"]
    for algo in data["engine_rejected_on_sm100_to_119"]["quant_algo"]:
        assert algo in data["quant_algo"]


# ---------------------------------------------------------------------------- per-version extracted specs

_MANIFEST = load("trtllm/specs.json")
_EXTRACTED = [
    (v, kind)
    for v in sorted(_MANIFEST["versions"])
    for kind in ("llm_api_args", "trtllm_build_options", "quant_algos", "model_map")
    if has_versioned(kind, v)
]


def test_manifest_says_what_was_extracted() -> None:
    """A version is marked extracted exactly when its folder holds the spec files; otherwise it says what is
    missing."""
    for version, entry in _MANIFEST["versions"].items():
        assert entry["tag"] == f"v{version}"
        assert entry["commit"] is None or SHA.match(entry["commit"])
        assert entry["commit_evidence"]
        assert entry["extracted"] == has_versioned("llm_api_args", version), version
        if not entry["extracted"]:
            assert entry["missing"]
            assert (
                entry["commit"] is None
                or entry["commit"][:8] in entry["missing"]
                or "unknown" in entry["missing"]
            )


@pytest.mark.parametrize(
    "version,kind",
    _EXTRACTED
    or [
        pytest.param(
            None,
            None,
            marks=pytest.mark.skip(
                reason="no version has an extracted spec yet (see trtforge/data/trtllm/specs.json)"
            ),
        )
    ],
)
def test_extracted_files_name_tag_and_commit(version: str, kind: str) -> None:
    prov = load(versioned_name(kind, version))["provenance"]
    assert prov["repo"] == "NVIDIA/TensorRT-LLM"
    assert prov["tag"] == _MANIFEST["versions"][version]["tag"]
    assert SHA.match(prov["commit"]) and prov["commit"] == _MANIFEST["versions"][version]["commit"]
    assert prov["extracted_by"] == "scripts/extract_trtllm_spec.py"
    assert prov["paths"] and all(p.startswith("tensorrt_llm/") for p in prov["paths"])
    assert re.match(r"^\d{4}-\d{2}-\d{2}$", prov["extracted_on"])
