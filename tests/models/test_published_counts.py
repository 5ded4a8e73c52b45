"""Parameter counts against the figures the model authors publish (within 2%), and exact KV arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trtforge.models import load_model_spec, spec_from_config
from trtforge.models.source import BUNDLED_DIR

# (hub id, published total, published active, active convention, source of the figures)
# convention "without_embedding": the author counts active parameters without the input embedding table.
PUBLISHED = [
    ("openai/gpt-oss-120b", 116.83e9, 5.13e9, "without_embedding", "OpenAI gpt-oss model card, table 1"),
    ("openai/gpt-oss-20b", 20.91e9, 3.61e9, "without_embedding", "OpenAI gpt-oss model card, table 1"),
    (
        "meta-llama/Llama-4-Scout-17B-16E-Instruct",
        109e9,
        17e9,
        "without_embedding",
        "Meta Llama 4 model card",
    ),
    (
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
        400e9,
        17e9,
        "without_embedding",
        "Meta Llama 4 model card",
    ),
    ("meta-llama/Llama-3.1-8B-Instruct", 8.03e9, 8.03e9, "all", "Hugging Face safetensors metadata"),
    ("meta-llama/Llama-3.1-70B-Instruct", 70.6e9, 70.6e9, "all", "Hugging Face safetensors metadata"),
    (
        "meta-llama/Llama-3.1-405B-Instruct",
        406e9,
        406e9,
        "all",
        "Hugging Face safetensors metadata (405B in the name)",
    ),
    ("Qwen/Qwen2.5-7B-Instruct", 7.61e9, 7.61e9, "all", "Qwen2.5-7B-Instruct model card"),
    ("Qwen/Qwen3-8B", 8.2e9, 8.2e9, "all", "Qwen3-8B model card"),
    ("Qwen/Qwen3-32B", 32.8e9, 32.8e9, "all", "Qwen3-32B model card"),
    ("Qwen/Qwen3-30B-A3B", 30.5e9, 3.3e9, "all", "Qwen3-30B-A3B model card"),
    ("Qwen/Qwen3-235B-A22B", 235e9, 22e9, "all", "Qwen3-235B-A22B model card"),
    ("mistralai/Mistral-7B-v0.1", 7.3e9, 7.3e9, "all", "Mistral AI, 'Mistral 7B' announcement"),
    ("mistralai/Mistral-7B-Instruct-v0.3", 7.25e9, 7.25e9, "all", "Hugging Face safetensors metadata"),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", 46.7e9, 12.9e9, "all", "Mistral AI, 'Mixtral of experts'"),
    ("mistralai/Mixtral-8x22B-Instruct-v0.1", 141e9, 39e9, "all", "Mistral AI, Mixtral 8x22B announcement"),
    (
        "deepseek-ai/DeepSeek-V3",
        671e9,
        37e9,
        "without_embedding",
        "DeepSeek-V3 technical report / model card (685B on the hub includes the 14B MTP module)",
    ),
    ("microsoft/Phi-3-mini-4k-instruct", 3.8e9, 3.8e9, "all", "Phi-3 model card"),
    ("microsoft/Phi-3-medium-4k-instruct", 14e9, 14e9, "all", "Phi-3 model card"),
    ("google/gemma-2-9b-it", 9.24e9, 9.24e9, "all", "Hugging Face safetensors metadata"),
    ("google/gemma-2-27b-it", 27.2e9, 27.2e9, "all", "Hugging Face safetensors metadata"),
]


@pytest.mark.parametrize("repo,total,active,convention,source", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_counts_match_published_figures(
    repo: str, total: float, active: float, convention: str, source: str
) -> None:
    spec = load_model_spec(repo)
    assert spec.source == f"bundled:{repo}"
    assert abs(spec.total_params - total) / total < 0.02, (spec.total_params, total, source)
    ours = (
        spec.params.active_params_without_embedding
        if convention == "without_embedding"
        else spec.active_params
    )
    assert abs(ours - active) / active < 0.02, (ours, active, source)


# shared/models/README.md's table of published totals, for the configs of shared/models/configs. Those five
# files ship in this repository as bundled snapshots (trtforge/data/model_configs/, JSON-identical to the
# shared copies), so the check runs in a clean clone too.
SHARED_TABLE = [
    ("openai/gpt-oss-120b", 116.8e9, 5.1e9, "without_embedding"),
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", 109e9, 17e9, "without_embedding"),
    ("meta-llama/Llama-3.1-8B-Instruct", 8.03e9, 8.03e9, "all"),
    ("meta-llama/Llama-3.1-70B-Instruct", 70.6e9, 70.6e9, "all"),
    ("Qwen/Qwen2.5-7B-Instruct", 7.61e9, 7.61e9, "all"),
]


@pytest.mark.parametrize("repo,total,active,convention", SHARED_TABLE, ids=[t[0] for t in SHARED_TABLE])
def test_shared_configs_match_the_published_table(
    repo: str, total: float, active: float, convention: str
) -> None:
    """shared/models/README.md lists these totals (and active counts) for shared/models/configs."""
    spec = load_model_spec(str(BUNDLED_DIR / (repo.replace("/", "--") + ".json")))
    assert abs(spec.total_params - total) / total < 0.02
    without = convention == "without_embedding"
    ours = spec.params.active_params_without_embedding if without else spec.active_params
    assert abs(ours - active) / active < 0.02


def test_exact_counts_of_known_checkpoints() -> None:
    # Exact: the sum of the published safetensors shapes (= transformers' count, see test_oracle).
    assert load_model_spec("meta-llama/Llama-3.1-8B-Instruct").total_params == 8_030_261_248
    assert load_model_spec("openai/gpt-oss-120b").total_params == 116_829_156_672
    assert load_model_spec("Qwen/Qwen2.5-7B-Instruct").total_params == 7_615_616_512


def test_gpt_oss_counts_biases_and_sinks() -> None:
    spec = load_model_spec("openai/gpt-oss-20b")
    small = spec.params.total["small"]
    layers, hidden, heads, experts, inter = 24, 2880, 64, 32, 2880
    sinks = layers * heads
    expert_biases = layers * experts * (2 * inter + hidden)
    attn_biases = layers * (heads * 64 + 2 * 8 * 64 + hidden)
    norms = layers * 2 * hidden + hidden
    assert small == sinks + expert_biases + attn_biases + norms
    assert spec.params.total["router"] == layers * (hidden * experts + experts)


def test_llama4_maverick_interleaves_moe_and_dense_layers() -> None:
    scout = load_model_spec("meta-llama/Llama-4-Scout-17B-16E-Instruct")
    maverick = load_model_spec("meta-llama/Llama-4-Maverick-17B-128E-Instruct")
    assert scout.num_moe_layers == 48 and maverick.num_moe_layers == 24
    assert scout.params.total["mlp"] == 0
    assert maverick.params.total["mlp"] == 24 * 3 * 5120 * 16384  # dense layers use intermediate_size_mlp
    assert scout.params.total["shared_experts"] == 48 * 3 * 5120 * 8192
    assert 0.4e9 < scout.params.total["vision"] < 1.0e9  # vision tower + projector


def test_deepseek_v3_dense_first_layers_and_mtp_note() -> None:
    spec = load_model_spec("deepseek-ai/DeepSeek-V3")
    assert spec.num_moe_layers == 58  # first_k_dense_replace = 3
    assert spec.params.total["mlp"] == 3 * 3 * 7168 * 18432
    assert spec.mla and spec.num_shared_experts == 1
    assert any("multi-token-prediction" in n for n in spec.notes)


def test_kv_bytes_per_token() -> None:
    llama8 = load_model_spec("meta-llama/Llama-3.1-8B-Instruct")
    assert llama8.kv_bytes_per_token("bf16") == 32 * 2 * 8 * 128 * 2 == 131072
    assert llama8.kv_bytes_per_token("fp8") == 65536
    # MLA: one latent (512) + rope key (64) per layer, shared by all 128 heads.
    ds = load_model_spec("deepseek-ai/DeepSeek-V3")
    assert ds.kv_bytes_per_token("bf16") == 61 * (512 + 64) * 2
    # gpt-oss: only the 18 full-attention layers grow; the 18 sliding layers hold 128 tokens.
    oss = load_model_spec("openai/gpt-oss-120b")
    assert oss.kv_bytes_per_token("bf16") == 18 * 2 * 8 * 64 * 2
    assert oss.kv_window_bytes_per_sequence("bf16") == 18 * 2 * 8 * 64 * 2 * 128
    assert oss.kv_bytes_for_sequence(100, "bf16") == 36 * 2 * 8 * 64 * 2 * 100
    # Llama 4 Scout: 12 global NoPE layers, 36 chunked (8192) layers; 10M tokens need ~0.5 TB (shared README).
    scout = load_model_spec("meta-llama/Llama-4-Scout-17B-16E-Instruct")
    assert scout.kv_bytes_per_token("bf16") == 12 * 2 * 8 * 128 * 2
    assert 0.45e12 < scout.kv_bytes_for_sequence(10_485_760, "bf16") < 0.55e12


def test_gemma2_alternates_sliding_layers_and_config_wide_windows_are_not_assumed() -> None:
    gemma = load_model_spec("google/gemma-2-9b-it")
    assert {(g.window, g.layers) for g in gemma.kv_groups} == {(None, 21), (4096, 21)}
    mistral = load_model_spec("mistralai/Mistral-7B-v0.1")  # sliding_window 4096 for every layer
    assert [g.window for g in mistral.kv_groups] == [None]


def test_kv_per_gpu_splits_heads_and_replicates_mla() -> None:
    llama = load_model_spec("meta-llama/Llama-3.1-70B-Instruct")
    one = llama.kv_bytes_for_sequence_per_gpu(1000, "bf16", tp=1, pp=1)
    assert llama.kv_bytes_for_sequence_per_gpu(1000, "bf16", tp=2, pp=1) == one / 2
    # 8 KV heads over 16 ranks: one head per rank (replicated), like trtllm-bench's max(tp, kv_heads).
    assert llama.kv_bytes_for_sequence_per_gpu(1000, "bf16", tp=16, pp=1) == one / 8
    assert llama.kv_bytes_for_sequence_per_gpu(1000, "bf16", tp=1, pp=2) == one / 2
    ds = load_model_spec("deepseek-ai/DeepSeek-V3")
    assert ds.kv_bytes_for_sequence_per_gpu(1000, "bf16", 8, 1) == ds.kv_bytes_for_sequence(1000, "bf16")


def test_native_quantization() -> None:
    oss = load_model_spec("openai/gpt-oss-120b").native_quantization
    assert oss is not None and oss.format == "mxfp4" and oss.groups == ("experts",)
    ds = load_model_spec("deepseek-ai/DeepSeek-V3").native_quantization
    assert (
        ds is not None
        and ds.format == "fp8_block"
        and set(ds.groups) == {"attention", "mlp", "experts", "shared_experts"}
    )
    assert load_model_spec("meta-llama/Llama-3.1-8B-Instruct").native_quantization is None


def test_backends_per_architecture() -> None:
    assert load_model_spec("openai/gpt-oss-120b").backends == {"tensorrt": False, "pytorch": True}
    assert load_model_spec("meta-llama/Llama-4-Scout-17B-16E-Instruct").backends["tensorrt"] is False
    assert load_model_spec("meta-llama/Llama-3.1-8B-Instruct").backends == {"tensorrt": True, "pytorch": True}


def test_spec_from_inline_config_is_pure() -> None:
    cfg = json.loads(
        (Path(__file__).resolve().parents[2] / "trtforge/data/model_configs/Qwen--Qwen3-8B.json").read_text()
    )
    a, b = spec_from_config(cfg), spec_from_config(dict(cfg))
    assert a == b and a.total_params == 8_190_735_360
