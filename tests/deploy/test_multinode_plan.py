"""Multi-node plans: TP inside a node (NVLink), PP across nodes, topology in the plan, answers in nodes x
GPUs.

The worked examples of docs/planning.md §8 are checked against hand calculations from the models' published
configs (Meta's Llama-3.1-405B config.json; DeepSeek-V3's), not against the planner's own numbers.
"""

from __future__ import annotations

import pytest

from tests.deploy.conftest import recipe_and_plan

GIB = 1024**3
LLAMA_405B = "meta-llama/Llama-3.1-405B-Instruct"
DEEPSEEK_V3 = "deepseek-ai/DeepSeek-V3"


def test_llama_405b_bf16_on_two_nodes_of_8_h100() -> None:
    _, plan = recipe_and_plan(LLAMA_405B, "H100", gpus=8, nodes=2)
    assert plan.fits, plan.errors
    assert (plan.parallel.tp, plan.parallel.pp, plan.parallel.world_size) == (8, 2, 16)
    topo = plan.topology
    assert topo is not None
    assert (topo.nodes, topo.gpus_per_node, topo.ranks_per_node, topo.world_size) == (2, 8, 8, 16)
    # Hand calculation from Meta's config: hidden 16384, 128 heads / 8 KV heads of 128, MLP 53248, 126 layers,
    # vocab 128256. A stage holds 63 layers and the embedding (vocab-parallel); attention and MLP split over
    # tp=8.
    hidden, kv, inter, vocab = 16384, 8 * 128, 53248, 128256
    per_layer = (
        2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * inter + 2 * hidden
    )  # q,o + k,v + MLP + norms
    stage = 63 * per_layer / 8 + vocab * hidden / 8
    assert plan.memory.weights_gib_per_gpu == pytest.approx(stage * 2 / GIB, abs=0.02)  # 47.25 GiB
    assert plan.memory.kv_cache_gib_per_gpu > 10  # room for KV on every GPU
    assert "pp=2 stages across 2 nodes" in topo.placement


def test_deepseek_v3_on_two_nodes_of_8_h100() -> None:
    _, plan = recipe_and_plan(DEEPSEEK_V3, "H100", gpus=8, nodes=2, quantization={"format": "native"})
    assert plan.fits, plan.errors
    assert (plan.parallel.tp, plan.parallel.pp, plan.parallel.ep, plan.parallel.world_size) == (8, 2, 8, 16)
    assert plan.topology is not None and plan.topology.ranks_per_node == 8
    # 671.03B parameters: FP8 with 128x128 block scales except the BF16 embedding and lm_head
    # (2 x 129280 x 7168); sixteen GPUs hold it, the busier pipeline stage a little more than a 1/16 share.
    embed = 2 * 129280 * 7168
    whole = (671.03e9 - embed) * (1 + 4 / (128 * 128)) + embed * 2
    share = whole / 16 / GIB
    assert share * 0.98 < plan.memory.weights_gib_per_gpu < share * 1.10


def test_one_node_of_8_h100_is_not_enough_and_says_so_in_gpus() -> None:
    _, plan = recipe_and_plan(DEEPSEEK_V3, "H100", gpus=8, quantization={"format": "native"})
    assert not plan.fits
    assert plan.topology is None  # single-node plans carry no topology section
    # issue 12: one node holds 8 H100s, so the answer is a bigger GPU (or target.nodes), never "16×H100"
    assert "16×" not in plan.errors[0] and "8×H200-141GB" in plan.errors[0]


def test_infeasible_multi_node_answers_in_nodes_times_gpus() -> None:
    _, plan = recipe_and_plan(LLAMA_405B, "H100", gpus=4, nodes=2)
    assert not plan.fits
    assert "does not fit 2 nodes × 4×H100-SXM-80GB" in plan.errors[0]
    assert "use target.nodes: 3" in plan.errors[0]


def test_tensor_parallel_never_spans_h100_nodes() -> None:
    _, plan = recipe_and_plan(
        LLAMA_405B, "H100", gpus=8, nodes=2, target={"gpu": "H100", "gpus": 8, "nodes": 2, "tp": 16}
    )
    assert not plan.fits
    assert any("tp=16 would span nodes" in e for e in plan.errors)


def test_gb200_nvl72_domain_lets_tp_span_compute_trays() -> None:
    # GB200 NVL72: 4 GPUs per compute tray, one NVLink domain of 72 -> tp=8 over two trays, no pipeline
    _, plan = recipe_and_plan(LLAMA_405B, "GB200", gpus=4, nodes=4)
    assert plan.fits, plan.errors
    assert (plan.parallel.tp, plan.parallel.pp) == (8, 1)
    assert plan.topology is not None and plan.topology.nodes == 2 and plan.topology.nvlink_domain_gpus == 16


def test_single_node_plans_serialize_without_topology() -> None:
    _, plan = recipe_and_plan("meta-llama/Llama-3.1-8B-Instruct", "H100")
    assert "topology" not in plan.model_dump(mode="json")


def test_a_pinned_tp_that_places_is_not_refused_for_the_pp_values_that_do_not() -> None:
    # tp=8 pinned on 2 x 8: pp=1 fits one node, pp=2 both; no layout in between is an error
    _, plan = recipe_and_plan(
        LLAMA_405B,
        "H100",
        gpus=8,
        nodes=2,
        quantization={"format": "fp8"},
        target={"gpu": "H100", "gpus": 8, "nodes": 2, "tp": 4},
    )
    assert plan.fits, plan.errors
    assert plan.parallel.tp == 4
