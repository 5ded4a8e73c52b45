"""TritonRepoStep: reads the upstream outputs, writes a self-contained, relocatable, valid repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.triton.fixtures import engine_config_json, loaded_and_plan, run_step, tiny_recipe, write_json
from trtforge.errors import InvalidInput, StepFailed
from trtforge.triton.pb import parse_pbtxt
from trtforge.triton.validate import validate_repository


def _configs(repo: Path) -> dict:
    return {p.parent.name: parse_pbtxt(p.read_text()) for p in repo.glob("*/config.pbtxt")}


@pytest.mark.slow
@pytest.mark.xdist_group("tiny-fp8")  # one worker makes the shared FP8 export (it takes no lock)
def test_cpu_fp8_recipe_writes_the_reference_repository(cpu_plan, tiny_fp8, tmp_path):
    loaded, plan = cpu_plan
    meta = run_step(loaded, plan, {"quantize": tiny_fp8}, tmp_path / "out")
    repo = tmp_path / "out" / "model_repository"
    assert meta["layout"] == "inflight_batcher_llm" and meta["runtime"] == "reference"
    assert meta["models"] == [
        "ensemble",
        "postprocessing",
        "preprocessing",
        "tensorrt_llm",
        "tensorrt_llm_bls",
    ]
    configs = _configs(repo)
    assert set(configs) == set(meta["models"])  # every config.pbtxt parses with protobuf
    assert (
        configs["tensorrt_llm"]
        .parameters["runtime"]
        .string_value.startswith("reference runtime (PyTorch on CPU)")
    )
    assert configs["tensorrt_llm"].parameters["checkpoint_format"].string_value == "fp8"
    assert (repo / "tensorrt_llm/1/checkpoint/hf_quant_config.json").is_file()  # the FP8 weights travel along
    assert (repo / "preprocessing/1/tokenizer/tokenizer.json").is_file()
    assert configs["tensorrt_llm"].max_batch_size == plan.limits.max_batch_size == 4
    assert configs["tensorrt_llm_bls"].instance_group[0].count == 2  # recipe instance_counts.bls
    manifest = json.loads((repo / "trtforge.json").read_text())
    assert manifest["settings"]["end_id"] == 2 and manifest["build"]["recipe"] == "tiny-llama-cpu"
    readme = (repo / "README.md").read_text()
    assert "reference runtime (PyTorch on CPU), not TensorRT-LLM" in readme
    # Relocatable: moved elsewhere, it still validates (no path points outside it).
    moved = tmp_path / "elsewhere" / "repo"
    shutil.move(str(repo), moved)
    assert validate_repository(moved) == []
    assert not any(p.is_symlink() for p in moved.rglob("*"))


def test_unquantized_download_input(cpu_plan, tiny_llama, tmp_path):
    loaded, plan = cpu_plan
    meta = run_step(loaded, plan, {"download": tiny_llama}, tmp_path / "out")
    assert meta["end_id"] == 2
    assert (tmp_path / "out/model_repository/tensorrt_llm/1/checkpoint/model.safetensors").is_file()


def test_missing_checkpoint_input_is_an_input_error(cpu_plan, tmp_path):
    loaded, plan = cpu_plan
    with pytest.raises(InvalidInput, match="needs a checkpoint"):
        run_step(loaded, plan, {}, tmp_path / "out")


def test_pytorch_backend_writes_the_llmapi_layout(tiny_llama, tmp_path):
    from trtforge.pipeline.step import StepContext
    from trtforge.steps.llmapi_config import LlmApiConfigStep

    recipe = tiny_recipe(
        tmp_path,
        tiny_llama,
        name="tiny-h100",
        target={"gpu": "H100-80GB"},
        engine={"backend": "pytorch", "max_batch_size": 8, "max_seq_len": 256},
        serving={"model_name": "tiny", "streaming": False},
    )
    loaded, plan = loaded_and_plan(recipe)
    assert plan.backend == "pytorch"
    compile_out = tmp_path / "compile"
    compile_out.mkdir()
    LlmApiConfigStep("llmapi_config", loaded, plan).run(
        StepContext(
            loaded=loaded,
            plan=plan,
            out_dir=compile_out,
            inputs={"download": tiny_llama},
            cache_root=tmp_path / "cache",
        )
    )
    meta = run_step(loaded, plan, {"download": tiny_llama, "llmapi_config": compile_out}, tmp_path / "out")
    repo = tmp_path / "out" / "model_repository"
    assert meta["layout"] == "llmapi" and meta["models"] == ["tensorrt_llm"]
    cfg = _configs(repo)["tensorrt_llm"]
    assert cfg.backend == "python" and cfg.max_batch_size == 0
    assert cfg.model_transaction_policy.decoupled is False
    model_yaml = yaml.safe_load((repo / "tensorrt_llm/1/model.yaml").read_text())
    upstream = yaml.safe_load(next(compile_out.glob("*.yaml")).read_text())
    assert model_yaml["model"] == "checkpoint" and (repo / "tensorrt_llm/1/checkpoint/config.json").is_file()
    assert model_yaml["triton_config"] == {"max_batch_size": 0, "decoupled": False}
    for key, value in upstream.items():  # every LLM-API argument from the compile step reaches model.yaml
        if key not in ("model", "triton_config"):
            assert model_yaml[key] == value, key
    assert "/v2/models/tensorrt_llm/generate" in (repo / "README.md").read_text()


def test_engine_backend_needs_real_engine_files(tiny_llama, tmp_path):
    """No engine can be built here: a compile output holding only config.json is refused by the step's own
    validation (the repository would not load), and a version mismatch is refused before writing. Pinned to
    0.19.0: the newest release whose Triton backend source is extracted (1.x is refused, see below)."""
    recipe = tiny_recipe(
        tmp_path,
        tiny_llama,
        name="tiny-trt",
        target={"gpu": "H100-80GB"},
        engine={"backend": "tensorrt", "max_batch_size": 8, "max_seq_len": 256},
        toolchain={"trtllm_version": "0.19.0"},
    )
    loaded, plan = loaded_and_plan(recipe)
    assert plan.backend == "tensorrt"
    compile_out = tmp_path / "compile"
    write_json(compile_out / "engine" / "config.json", engine_config_json(max_batch_size=8))
    with pytest.raises(StepFailed, match=r"0 rank\*.engine file\(s\) for engine world size 1"):
        run_step(loaded, plan, {"download": tiny_llama, "compile_engine": compile_out}, tmp_path / "out")
    write_json(compile_out / "engine" / "config.json", engine_config_json(version="1.1.0"))
    with pytest.raises(InvalidInput, match="engine was built with TensorRT-LLM 1.1.0"):
        run_step(loaded, plan, {"download": tiny_llama, "compile_engine": compile_out}, tmp_path / "out")


def test_pytorch_backend_with_the_ensemble_front(tiny_llama, tmp_path):
    """serving.frontend ensemble on the PyTorch backend: the classic five models, the LLM API in the slot."""
    from trtforge.pipeline.step import StepContext
    from trtforge.steps.llmapi_config import LlmApiConfigStep

    recipe = tiny_recipe(
        tmp_path,
        tiny_llama,
        name="tiny-h100-ens",
        target={"gpu": "H100-80GB"},
        engine={"backend": "pytorch", "max_batch_size": 8, "max_seq_len": 256},
        serving={"model_name": "tiny", "frontend": "ensemble"},
    )
    loaded, plan = loaded_and_plan(recipe)
    (tmp_path / "compile").mkdir()
    LlmApiConfigStep("llmapi_config", loaded, plan).run(
        StepContext(
            loaded=loaded, plan=plan, out_dir=tmp_path / "compile", inputs={}, cache_root=tmp_path / "cache"
        )
    )
    meta = run_step(
        loaded, plan, {"download": tiny_llama, "llmapi_config": tmp_path / "compile"}, tmp_path / "out"
    )
    repo = tmp_path / "out" / "model_repository"
    assert meta["layout"] == "inflight_batcher_llm" and meta["runtime"] == "llmapi"
    assert "ensemble" in meta["models"] and "tensorrt_llm_bls" in meta["models"]
    slot = _configs(repo)["tensorrt_llm"]
    assert slot.backend == "python" and slot.parameters["contract"].string_value == "ids"
    assert {"input_ids", "request_output_len"} <= {i.name for i in slot.input}
    assert (repo / "tensorrt_llm/1/model.yaml").is_file() and (
        repo / "tensorrt_llm/1/checkpoint/config.json"
    ).is_file()
    assert (
        yaml.safe_load((repo / "tensorrt_llm/1/model.yaml").read_text())["triton_config"]["max_batch_size"]
        == slot.max_batch_size
    )


def test_fingerprint_covers_every_file_copied_into_the_repository(tmp_path, monkeypatch):
    """A change to trtforge_model_utils.py (copied beside each model.py) must rebuild the repository."""
    from trtforge.steps import triton_repo
    from trtforge.triton import models

    before = triton_repo._models_digest()
    edited = tmp_path / models.UTILS_FILE.name
    edited.write_text(models.UTILS_FILE.read_text() + "\n# changed\n")
    monkeypatch.setattr(triton_repo, "UTILS_FILE", edited)  # the name the digest reads
    assert triton_repo._models_digest() != before
