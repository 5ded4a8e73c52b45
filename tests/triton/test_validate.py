"""validate-repo catches broken repositories offline, one line per problem, exit 2."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.cli_inprocess import cli_in_process as run_cli  # in process: no process behaviour under test here
from tests.triton.fixtures import engine_config_json, write_json
from trtforge.triton import specs
from trtforge.triton.pb import parse_pbtxt, to_pbtxt
from trtforge.triton.settings import RepoSettings
from trtforge.triton.validate import validate_repository
from trtforge.triton.writer import write_repository


@pytest.fixture(scope="module")
def good_repo(tiny_llama, tmp_path_factory) -> Path:
    s = RepoSettings(
        layout="inflight_batcher_llm",
        runtime="reference",
        served_model_name="tiny",
        max_batch_size=4,
        streaming=True,
        end_id=2,
        max_seq_len=256,
        trtllm_version="1.2.1",
        triton_image="nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3",
    )
    dest = tmp_path_factory.mktemp("validate") / "repo"
    write_repository(s, dest, tokenizer_src=tiny_llama, checkpoint_src=tiny_llama)
    return dest


@pytest.fixture
def repo(good_repo, tmp_path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(good_repo, copy)
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _messages(repo: Path) -> list[str]:
    return [p.one_line() for p in validate_repository(repo)]


def test_written_repository_is_valid(good_repo):
    assert validate_repository(good_repo) == []


def test_missing_model_py(repo):
    (repo / "preprocessing" / "1" / "model.py").unlink()
    assert _messages(repo) == ["preprocessing/1/model.py: missing (python backend model)"]


def test_missing_shared_helpers_beside_a_model(repo):
    (repo / "tensorrt_llm_bls" / "1" / "trtforge_model_utils.py").unlink()
    assert _messages(repo) == ["tensorrt_llm_bls/1/trtforge_model_utils.py: missing (model.py imports it)"]


def test_missing_tokenizer_and_checkpoint(repo):
    shutil.rmtree(repo / "preprocessing" / "1" / "tokenizer")
    (repo / "tensorrt_llm" / "1" / "checkpoint" / "config.json").unlink()
    msgs = _messages(repo)
    assert any("tokenizer_dir preprocessing/1/tokenizer holds no tokenizer files" in m for m in msgs)
    assert any(m.startswith("tensorrt_llm/1/checkpoint/config.json: missing") for m in msgs)


def test_unfilled_placeholder_and_unparseable_value(repo):
    _edit(repo / "ensemble" / "config.pbtxt", "max_batch_size: 4", "max_batch_size: ${triton_max_batch_size}")
    msgs = _messages(repo)
    assert any(m.startswith("ensemble/config.pbtxt: unfilled placeholder at line") for m in msgs)
    assert any("does not parse as a Triton ModelConfig" in m for m in msgs)


def test_decoupled_on_one_model_only(repo):
    _edit(repo / "tensorrt_llm_bls" / "config.pbtxt", "decoupled: true", "decoupled: false")
    assert (
        "tensorrt_llm_bls/config.pbtxt: decoupled false but tensorrt_llm has true: streaming would fail (P9)"
        in _messages(repo)
    )


def test_batch_size_disagreement(repo):
    _edit(repo / "postprocessing" / "config.pbtxt", "max_batch_size: 4", "max_batch_size: 8")
    assert any("max_batch_size differs between models" in m for m in _messages(repo))


def test_absolute_build_machine_path(repo):
    _edit(repo / "postprocessing" / "config.pbtxt", '"preprocessing/1/tokenizer"', '"/home/builder/tok"')
    assert any(
        "absolute path outside the mount point /models: /home/builder/tok" in m for m in _messages(repo)
    )


def test_ensemble_step_names_a_missing_tensor(repo):
    _edit(repo / "ensemble" / "config.pbtxt", 'key: "QUERY"', 'key: "PROMPT"')
    msgs = _messages(repo)
    assert "ensemble/config.pbtxt: preprocessing has no input 'PROMPT'" in msgs


def test_engine_repository_checks(tmp_path, tiny_llama):
    """An engine repository: parameter typos, engine files vs world size, batch size vs the engine,
    version."""
    engine = tmp_path / "engine"
    write_json(engine / "config.json", engine_config_json(world_size=2, max_batch_size=8, version="0.18.2"))
    s = RepoSettings(
        layout="inflight_batcher_llm",
        runtime="tensorrtllm",
        served_model_name="m",
        max_batch_size=16,
        streaming=False,
        end_id=2,
        world_size=1,
        trtllm_version="0.19.0",
        triton_image="nvcr.io/nvidia/tritonserver:25.12-trtllm-python-py3",
    )
    repo = tmp_path / "repo"
    write_repository(s, repo, tokenizer_src=tiny_llama, engine_src=engine)
    _edit(
        repo / "tensorrt_llm" / "config.pbtxt",
        'key: "kv_cache_free_gpu_mem_fraction"',
        'key: "kv_cache_free_gpu_memory_fraction"',
    )
    msgs = "\n".join(_messages(repo))
    assert "parameter 'kv_cache_free_gpu_memory_fraction' is not read by the tensorrtllm backend" in msgs
    assert "0 rank*.engine file(s) for engine world size 2" in msgs
    assert "max_batch_size 16 exceeds the engine's build_config.max_batch_size 8" in msgs
    assert "world_size 1 but the engine mapping says 2" in msgs
    assert "engine built with TensorRT-LLM 0.18.2, repository records 0.19.0" in msgs
    assert "image nvcr.io/nvidia/tritonserver:25.12-trtllm-python-py3 ships TensorRT-LLM 1.1.0" in msgs


def test_cli_exit_2_one_line_per_problem(repo):
    (repo / "preprocessing" / "1" / "model.py").unlink()
    _edit(repo / "tensorrt_llm_bls" / "config.pbtxt", "decoupled: true", "decoupled: false")
    r = run_cli("validate-repo", str(repo))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and all(re.match(r"^[\w/.]+: ", ln) for ln in lines)
    r = run_cli("validate-repo", str(repo), "--json")
    data = json.loads(r.stdout)
    assert r.returncode == 2 and data["valid"] is False and len(data["problems"]) == 2


def test_cli_ok(good_repo):
    r = run_cli("validate-repo", str(good_repo))
    assert r.returncode == 0 and r.stdout.strip().endswith(": ok")


def test_lock_file_next_to_the_repository_must_agree(repo):
    # `trtforge build` publishes trtforge.lock.json beside model_repository/.
    (repo.parent / "trtforge.lock.json").write_text(
        json.dumps({"plan": {"toolchain": {"trtllm_version": "1.1.0"}}})
    )
    assert "trtforge.lock.json: TensorRT-LLM 1.1.0 in the lock file, 1.2.1 in trtforge.json" in _messages(
        repo
    )


# -- NVIDIA's required parameters, per pinned version --------------------------------------------------------

EXTRACTED = [v for v, e in specs.versions_index()["versions"].items() if e["status"] == "extracted"]


def _engine_repo(tmp_path: Path, tokenizer: Path, version: str) -> Path:
    """An engine repository written by the writer from hand-made inputs: the engine's config.json only (no
    *.engine file is faked; validate-repo reports that separately)."""
    engine = tmp_path / "engine"
    write_json(engine / "config.json", engine_config_json(version=version))
    s = RepoSettings(
        layout="inflight_batcher_llm",
        runtime="tensorrtllm",
        served_model_name="m",
        max_batch_size=8,
        streaming=True,
        end_id=2,
        trtllm_version=version,
    )
    write_repository(s, tmp_path / "repo", tokenizer_src=tokenizer, engine_src=engine)
    return tmp_path / "repo"


@pytest.mark.parametrize("version", EXTRACTED)
def test_each_required_parameter_removed_fails_validation(version, tiny_llama, tmp_path):
    repo = _engine_repo(tmp_path, tiny_llama, version)
    # Valid but for the engine files no test may fake.
    assert _messages(repo) == ["tensorrt_llm/1/engine: 0 rank*.engine file(s) for engine world size 1"]
    required = {
        name: specs.required_parameters(version, name)
        for name in ("preprocessing", "tensorrt_llm", "postprocessing", "tensorrt_llm_bls")
    }
    assert (
        required["tensorrt_llm"] and required["preprocessing"]
    )  # every release reads some without a fallback
    for name, keys in required.items():
        path = repo / name / "config.pbtxt"
        original = path.read_text()
        for key in keys:
            config = parse_pbtxt(original)
            assert key in config.parameters, f"{name}: the writer did not emit {key}"
            del config.parameters[key]
            path.write_text(to_pbtxt(config))
            msgs = _messages(repo)
            assert any(
                m.startswith(f"{name}/config.pbtxt: parameter {key!r} missing: NVIDIA's {name} at ")
                and f"(v{version})" in m
                for m in msgs
            ), (version, name, key, msgs)
        path.write_text(original)


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "1.2.0", "1.2.1", "1.3"])
def test_engine_repository_of_an_unextracted_version_is_refused(version, tiny_llama, tmp_path):
    repo = _engine_repo(tmp_path, tiny_llama, "0.19.0")
    manifest = json.loads((repo / "trtforge.json").read_text())
    manifest["settings"]["trtllm_version"] = version
    (repo / "trtforge.json").write_text(json.dumps(manifest))
    msgs = _messages(repo)
    assert any(m.startswith("trtforge.json: ") and f"TensorRT-LLM {version} " in m for m in msgs), msgs
    s = RepoSettings.from_json({**manifest["settings"]})
    with pytest.raises(specs.SpecUnavailable):  # and the writer writes nothing for it
        write_repository(s, tmp_path / "other", tokenizer_src=tiny_llama, engine_src=tmp_path / "engine")
    assert not (tmp_path / "other").exists()


def test_public_input_missing_from_the_ensemble_is_named(repo):
    config = parse_pbtxt((repo / "ensemble" / "config.pbtxt").read_text())
    kept = [i for i in config.input if i.name != "lora_task_id"]
    del config.input[:]
    config.input.extend(kept)
    for step in config.ensemble_scheduling.step:
        for key in [k for k, v in step.input_map.items() if v == "lora_task_id"]:
            del step.input_map[key]
    (repo / "ensemble" / "config.pbtxt").write_text(to_pbtxt(config))
    assert any("input 'lora_task_id' of NVIDIA's ensemble at" in m for m in _messages(repo))


def test_bls_without_its_routes_is_named(repo):
    config = parse_pbtxt((repo / "tensorrt_llm_bls" / "config.pbtxt").read_text())
    del config.parameters["routes"]
    (repo / "tensorrt_llm_bls" / "config.pbtxt").write_text(to_pbtxt(config))
    assert _messages(repo) == [
        "tensorrt_llm_bls/config.pbtxt: parameter 'routes' missing (trtforge's BLS routes inputs by it)"
    ]
