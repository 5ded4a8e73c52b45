"""`plan` is the gate (issue 12): every case of the issue's "Why" list, on `plan`'s exit code and message and
on `build --dry-run` agreeing with it. In-process (trtforge.cli.app.main), on local copies of the bundled
config.json
files: no network, no subprocess."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from trtforge.cli.app import main
from trtforge.hardware import load_catalog
from trtforge.toolchain.spec import llm_api_default

CONFIGS = Path(__file__).resolve().parents[2] / "trtforge" / "data" / "model_configs"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
GPT_OSS = "openai/gpt-oss-120b"
DEEPSEEK = "deepseek-ai/DeepSeek-V3"


@dataclass
class Gate:
    code: int
    plan: dict[str, Any]
    stderr: str
    dry_code: int
    dry_stderr: str

    @property
    def errors(self) -> list[str]:
        return self.plan["errors"]


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def gate(tmp_path: Path, capsys, repo: str, gpu: str = "H100", gpus: int = 1, **sections: Any) -> Gate:
    """Plan a recipe (the model as a local config.json) and dry-run its build; both in-process."""
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    shutil.copy(CONFIGS / f"{repo.replace('/', '--')}.json", model / "config.json")
    doc: dict[str, Any] = {
        "name": "gate",
        "model": {"path": str(model)},
        "target": {"gpu": gpu, "gpus": gpus},
    }
    doc.update(sections)
    recipe = tmp_path / "gate.yaml"
    recipe.write_text(yaml.safe_dump(doc))
    code, out, err = _run(["plan", str(recipe), "--json"], capsys)
    dry_code, _dry_out, dry_err = _run(
        ["build", str(recipe), "--dry-run", "--json", "--cache-dir", str(tmp_path / "cache")], capsys
    )
    return Gate(code, json.loads(out), err, dry_code, dry_err)


def assert_refused(g: Gate, *fragments: str) -> None:
    """Exit 3 from both, every fragment in one of the plan's errors, and the dry run naming the same
    errors."""
    assert g.code == 3 and g.dry_code == 3, (g.code, g.dry_code, g.stderr, g.dry_stderr)
    assert g.plan["fits"] is False
    for fragment in fragments:
        assert any(fragment in e for e in g.errors), (fragment, g.errors)
    for error in g.errors:
        assert error in g.stderr and error in g.dry_stderr


def assert_passes(g: Gate) -> None:
    assert g.code == 0 and g.dry_code == 0, (g.stderr, g.dry_stderr)
    assert g.plan["fits"] is True and g.errors == [] and g.plan["build"]["errors"] == []


# An engine alone: NVIDIA's Triton backend source of 1.2.1 is not extracted, so its repository is refused
# (below).
ENGINE_ONLY = {"triton_repo": False}


# -------------------------------------------------------------------------- refusals a build used to hit late


def test_nvfp4_awq_on_the_engine_path_of_1_2_1(tmp_path, capsys) -> None:
    g = gate(
        tmp_path, capsys, LLAMA_8B, "B200",
        quantization={"format": "nvfp4_awq", "kv_cache": "bf16"}, engine={"backend": "tensorrt"},
    )  # fmt: skip
    # NVFP4_AWQ is not in 1.2.1's QuantAlgo enum (trtforge/data/quant_algos.json, extracted)
    assert_refused(g, "quant_algo NVFP4_AWQ cannot be built into an engine")


def test_int4_awq_with_an_fp8_kv_cache_on_the_engine_path(tmp_path, capsys) -> None:
    g = gate(
        tmp_path, capsys, LLAMA_8B, "H100",
        quantization={"format": "int4_awq", "kv_cache": "fp8"}, engine={"backend": "tensorrt"},
    )  # fmt: skip
    # builder.py: paged context FMHA + FP8 KV needs FP8 context FMHA, which W4A16_AWQ weights cannot have
    assert_refused(g, "paged context FMHA with an FP8 KV cache needs FP8 context FMHA")


@pytest.mark.parametrize(
    "speculative",
    [
        {"mode": "lookahead", "lookahead": {"window_size": 4, "ngram_size": 3, "verification_set_size": 4}},
        {"mode": "medusa", "max_draft_len": 4, "draft_model": "/drafts/medusa"},
    ],
    ids=["lookahead", "medusa"],
)
def test_lookahead_and_medusa_on_the_pytorch_backend(tmp_path, capsys, speculative) -> None:
    g = gate(tmp_path, capsys, LLAMA_8B, "H100", engine={"backend": "pytorch", "speculative": speculative})
    # the pinned version's extracted LLM-API spec says which decoding types the PyTorch backend takes
    decoding = {"lookahead": "Lookahead", "medusa": "Medusa"}[speculative["mode"]]
    assert_refused(g, f"LLM API of TensorRT-LLM 1.2.1: speculative_config: decoding_type '{decoding}'")


@pytest.mark.parametrize("mode", ["eagle", "medusa", "draft_tokens_external"])
def test_engine_speculative_decoding_needs_its_checkpoint(tmp_path, capsys, mode) -> None:
    g = gate(
        tmp_path, capsys, LLAMA_8B, "H100",
        quantization={"format": "fp8"},
        engine={"backend": "tensorrt", "speculative": {"mode": mode, "max_draft_len": 4}},
    )  # fmt: skip
    assert_refused(
        g, f"engine.speculative.mode {mode} on the engine backend needs", "set engine.speculative.draft_model"
    )


# ------------------------------------------------------------------------------ coherent limits


def test_chunked_prefill_off_with_a_long_context_caps_the_prompt(tmp_path, capsys) -> None:
    g = gate(tmp_path, capsys, LLAMA_8B, "H100", engine={"backend": "pytorch", "chunked_prefill": False})
    assert_passes(g)
    lim = g.plan["limits"]
    assert lim["chunked_prefill"] is False and lim["max_num_tokens"] >= lim["max_input_len"]
    assert lim["max_input_len"] < 131071  # the 128k context is not one forward pass...
    assert any(
        "max_input_len capped to max_num_tokens" in d for d in g.plan["decisions"]
    )  # ...and it says why
    cfg = g.plan["build"]["llm_api"]
    assert cfg["enable_chunked_prefill"] is False and cfg["max_num_tokens"] >= cfg["max_input_len"]


def test_chunked_prefill_off_on_the_engine_raises_max_num_tokens(tmp_path, capsys) -> None:
    g = gate(
        tmp_path, capsys, LLAMA_8B, "H100",
        outputs=ENGINE_ONLY, quantization={"format": "fp8"},
        engine={"backend": "tensorrt", "chunked_prefill": False, "max_seq_len": 8192},
    )  # fmt: skip
    assert_passes(g)
    argv = g.plan["build"]["engine"]["argv"]
    tokens = int(argv[argv.index("--max_num_tokens") + 1])
    assert tokens >= int(argv[argv.index("--max_input_len") + 1]) == 8191


def test_chunked_prefill_off_with_explicit_limits_that_cannot_work(tmp_path, capsys) -> None:
    g = gate(
        tmp_path, capsys, LLAMA_8B, "H100",
        engine={"chunked_prefill": False, "max_num_tokens": 4096, "max_input_len": 8192,
                "max_seq_len": 16384},
    )  # fmt: skip
    assert_refused(g, "max_num_tokens 4096 < max_input_len 8192 without chunked prefill")


def test_llama_engine_batch_4_seq_256_keeps_max_num_tokens_within_one_pass(tmp_path, capsys) -> None:
    g = gate(
        tmp_path, capsys, LLAMA_8B, "H100",
        outputs=ENGINE_ONLY, quantization={"format": "fp8"},
        engine={"backend": "tensorrt", "max_batch_size": 4, "max_seq_len": 256},
    )  # fmt: skip
    assert_passes(g)
    lim = g.plan["limits"]
    assert lim["max_num_tokens"] <= 4 * 256  # trtllm-build clamps anything above (hand calculation: 1024)
    why = " ".join(g.plan["decisions"])
    assert "max_batch_size x max_seq_len = 4 x 256" in why and "rounding of 64 requests" not in why


def _gpt_oss_gpus() -> list[str]:
    return [g.name for g in load_catalog() if not g.is_cpu]


@pytest.mark.parametrize("gpu", _gpt_oss_gpus())
def test_gpt_oss_on_every_catalog_gpu(tmp_path, capsys, gpu) -> None:
    """gpt-oss-120b (native MXFP4, no chunked prefill on <= 1.2): passes wherever MXFP4 runs (SM 90+) with a
    coherent max_num_tokens >= max_input_len; elsewhere one refusal that points at GPUs that can run it."""
    catalog = {g.name: g for g in load_catalog()}
    target = catalog[gpu]
    n = 1 if target.memory_gib > 70 else min(2, target.node_gpus)
    g = gate(tmp_path, capsys, GPT_OSS, gpu, gpus=n)
    if (target.sm or 0) >= 90:
        assert_passes(g)
        cfg = g.plan["build"]["llm_api"]
        assert cfg["enable_chunked_prefill"] is False and cfg["max_num_tokens"] >= cfg["max_input_len"]
    else:
        assert_refused(g, "native mxfp4 needs SM 90+")
        assert not any("use target.gpus" in e for e in g.errors)  # more of a GPU that cannot run it: no


# ------------------------------------------------------------------------------ useful infeasible answers


def test_deepseek_v3_on_8_h100_points_at_bigger_gpus_within_one_node(tmp_path, capsys) -> None:
    g = gate(tmp_path, capsys, DEEPSEEK, "H100", gpus=8)
    assert_refused(g, "8×H200-141GB", "4×B200-180GB")
    assert len(g.errors) == 1 and "16×" not in g.errors[0]


def test_more_gpus_than_one_node_holds_is_refused(tmp_path, capsys) -> None:
    g = gate(tmp_path, capsys, DEEPSEEK, "H100", gpus=16)
    assert_refused(g, "one node holds at most 8×H100-SXM-80GB")


def test_fp8_for_an_fp8_checkpoint_means_native(tmp_path, capsys) -> None:
    asked = gate(tmp_path, capsys, DEEPSEEK, "H200", gpus=8, quantization={"format": "fp8"})
    assert_passes(asked)
    q = asked.plan["quantization"]
    assert (
        q["format"] == "native"
        and q["weight_format"] == "fp8_block"
        and asked.plan["build"]["quantize"] is None
    )
    assert any("already ships fp8_block weights" in d for d in asked.plan["decisions"])
    small = gate(tmp_path, capsys, DEEPSEEK, "H100", gpus=8, quantization={"format": "fp8"})
    assert_refused(small, "DeepseekV3ForCausalLM (fp8_block) does not fit")
    assert len(small.errors) == 1  # one answer, sized as FP8 - not a refusal plus a BF16-sized error


def test_nvfp4_checkpoint_is_not_served_by_the_cpu_reference_runtime(tmp_path, capsys) -> None:
    g = gate(tmp_path, capsys, LLAMA_8B, "cpu", quantization={"format": "nvfp4"})
    assert_refused(g, "the CPU reference runtime serves unquantized or FP8 checkpoints only")


# ---------------------------------------------------------------------- NVIDIA's tuned configs, read directly

NVIDIA = Path(__file__).resolve().parents[1] / "golden" / "compile" / "nvidia-tuned"


@pytest.mark.parametrize("gpu", ["H200", "B200"])
def test_gpt_oss_plans_agree_with_nvidia_tuned_yaml(tmp_path, capsys, gpu) -> None:
    """Compared with NVIDIA's own files (shipped copies naming their source commit), not with
    trtforge/data/tuned_configs.yaml: this test can disagree with the planner's table."""
    path = NVIDIA / f"gpt-oss-120b_{gpu}_1k1k_tp1_conc64.yaml"
    assert "@ " in path.read_text().splitlines()[0]  # provenance: upstream path and commit
    theirs = yaml.safe_load(path.read_text())
    g = gate(
        tmp_path, capsys, GPT_OSS, gpu,
        engine={"workload": {"input_len": 1024, "output_len": 1024, "concurrency": 64}},
        quantization={"kv_cache": "fp8" if theirs["kv_cache_config"]["dtype"] == "fp8" else "auto"},
    )  # fmt: skip
    assert_passes(g)
    ours = g.plan["build"]["llm_api"]
    for key in ("max_num_tokens", "max_seq_len", "tensor_parallel_size", "moe_expert_parallel_size"):
        assert ours[key] == theirs[key], key
    assert ours["moe_config"] == theirs["moe_config"]
    for key in ("free_gpu_memory_fraction", "enable_block_reuse"):
        # a key NVIDIA's file leaves out has the LLM API's default (extracted from TensorRT-LLM's source)
        expected = theirs["kv_cache_config"].get(key, llm_api_default(f"kv_cache_config.{key}"))
        assert ours["kv_cache_config"][key] == expected, key
    assert ours["cuda_graph_config"] == theirs["cuda_graph_config"]
    assert ours["max_num_tokens"] >= ours["max_input_len"]  # chunked prefill off (gpt-oss, <= 1.2)


def test_engine_lookahead_raises_automatic_max_num_tokens(tmp_path, capsys) -> None:
    lookahead = {"window_size": 4, "ngram_size": 3, "verification_set_size": 4}
    g = gate(
        tmp_path, capsys, LLAMA_8B, "H100",
        outputs=ENGINE_ONLY, quantization={"format": "fp8"},
        engine={"backend": "tensorrt", "max_batch_size": 256,
                "speculative": {"mode": "lookahead", "lookahead": lookahead}},
    )  # fmt: skip
    assert_passes(g)
    # hand calculation (LookaheadDecodingConfig): draft = (3 - 2) + (4 - 1 + 4) x (3 - 1) = 15;
    # 256 x 16 = 4096
    argv = g.plan["build"]["engine"]["argv"]
    assert argv[argv.index("--max_draft_len") + 1] == "15"
    assert int(argv[argv.index("--max_num_tokens") + 1]) == 4096


def test_engine_triton_repository_needs_the_pinned_backend_facts(tmp_path, capsys) -> None:
    """The Triton writer refuses an engine repository whose version's backend source was not extracted
    (trtforge/data/triton/versions.json); the plan must say so before any download, not the build's last
    step."""
    g = gate(
        tmp_path, capsys, LLAMA_8B, "H100", quantization={"format": "fp8"}, engine={"backend": "tensorrt"},
    )  # fmt: skip
    assert_refused(
        g, "engine Triton repository for TensorRT-LLM 1.2.1 cannot be written", "outputs.triton_repo"
    )
    assert_passes(
        gate(
            tmp_path,
            capsys,
            LLAMA_8B,
            "H100",
            quantization={"format": "fp8"},
            engine={"backend": "tensorrt"},
            outputs=ENGINE_ONLY,
        )
    )
