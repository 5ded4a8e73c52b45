"""Quick-form plans (`plan --model X --gpu Y --isl/--osl/--concurrency`) size for a workload and pick up
NVIDIA's tuned config where one exists.

Expected values are read from NVIDIA's own YAML files (tests/golden/compile/nvidia-tuned/, copies with their
source path and commit in the first line), never from trtforge's data/tuned_configs.yaml. The workload comes
from NVIDIA's file name: `<isl>k<osl>k_tp<N>_conc<C>` with k = 1024 (the H200 file's max_seq_len 2304 is
1024 + 1024 + 256).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.cli_inprocess import invoke
from tests.conftest import ROOT

NVIDIA = ROOT / "tests" / "golden" / "compile" / "nvidia-tuned"
DATABASE = re.compile(
    r"examples/configs/database/(?P<org>[^/]+)/(?P<model>[^/]+)/(?P<gpu>[^/]+)/"
    r"(?P<isl>\d+)k(?P<osl>\d+)k_tp(?P<tp>\d+)_conc(?P<conc>\d+)\.yaml @ (?P<commit>[0-9a-f]{40})"
)
DTYPES = {"bfloat16": "bf16", "float16": "fp16"}


def database_files() -> list[Path]:
    return sorted(p for p in NVIDIA.glob("*.yaml") if DATABASE.search(p.read_text().splitlines()[0]))


@pytest.mark.parametrize("path", database_files(), ids=lambda p: p.stem)
def test_quick_form_takes_nvidia_tuned_config(capsys, path: Path) -> None:
    m = DATABASE.search(path.read_text().splitlines()[0])
    assert m is not None
    nvidia = yaml.safe_load(path.read_text())
    code, out, err = invoke(
        capsys,
        "plan",
        "--model",
        f"{m['org']}/{m['model']}",
        "--gpu",
        m["gpu"],
        "--gpus",
        m["tp"],
        "--isl",
        str(int(m["isl"]) * 1024),
        "--osl",
        str(int(m["osl"]) * 1024),
        "--concurrency",
        m["conc"],
        "--json",
    )
    assert code == 0, err
    plan = json.loads(out)
    name = f"{m['isl']}k{m['osl']}k_tp{m['tp']}_conc{m['conc']}"
    assert plan["tuned_config"] == f"database/{m['org']}/{m['model']}/{m['gpu']}/{name}"
    assert plan["parallel"]["tp"] == nvidia["tensor_parallel_size"]
    assert plan["parallel"]["ep"] == nvidia["moe_expert_parallel_size"]
    assert plan["limits"]["max_num_tokens"] == nvidia["max_num_tokens"]
    assert plan["limits"]["max_seq_len"] == nvidia["max_seq_len"]
    if "max_batch_size" in nvidia:  # the B200 file sets only cuda_graph_config.max_batch_size
        assert plan["limits"]["max_batch_size"] == nvidia["max_batch_size"]
    kv = nvidia["kv_cache_config"]
    assert plan["memory"]["free_gpu_memory_fraction"] == kv["free_gpu_memory_fraction"]
    expected_kv = (
        DTYPES[plan["model"]["dtype"]] if kv["dtype"] == "auto" else kv["dtype"]
    )  # auto = model dtype
    assert plan["quantization"]["kv_cache"] == expected_kv


def test_table_names_the_tuned_config(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    code, out, err = invoke(
        capsys,
        "plan",
        "--model",
        "openai/gpt-oss-120b",
        "--gpu",
        "H200",
        "--isl",
        "1024",
        "--osl",
        "1024",
        "--concurrency",
        "64",
    )
    assert code == 0, err
    text = " ".join(out.split())
    assert "tuned config database/openai/gpt-oss-120b/H200/1k1k_tp1_conc64" in text
    assert "max_batch_size 64, max_num_tokens 20000, max_seq_len 2304" in text


def test_unset_workload_flags_take_the_recipe_defaults(capsys) -> None:
    """One flag given: the others are the recipe's Workload defaults (1024/1024/64, NVIDIA's 1k1k conc64)."""
    from trtforge.recipe.schema import Workload

    defaults = {k: f.default for k, f in Workload.model_fields.items()}
    assert defaults == {"input_len": 1024, "output_len": 1024, "concurrency": 64}
    code, out, _ = invoke(
        capsys, "plan", "--model", "openai/gpt-oss-120b", "--gpu", "H200", "--concurrency", "64", "--json"
    )
    assert (
        code == 0 and json.loads(out)["tuned_config"] == "database/openai/gpt-oss-120b/H200/1k1k_tp1_conc64"
    )
    # no flag at all: like a recipe without engine.workload (limits from the model's context, no tuned config)
    code, out, _ = invoke(capsys, "plan", "--model", "openai/gpt-oss-120b", "--gpu", "H200", "--json")
    assert code == 0 and json.loads(out)["tuned_config"] is None
    # another workload: no tuned config, sized for it (ISL + OSL + 256)
    code, out, _ = invoke(
        capsys,
        "plan",
        "--model",
        "openai/gpt-oss-120b",
        "--gpu",
        "H200",
        "--isl",
        "2048",
        "--osl",
        "512",
        "--concurrency",
        "8",
        "--json",
    )
    plan = json.loads(out)
    assert code == 0 and plan["tuned_config"] is None


def test_help_documents_the_defaults(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = invoke(capsys, "plan", "--help")
    text = " ".join(out.split())
    assert code == 0
    from trtforge.recipe.schema import Workload

    for flag, key in (("--isl", "input_len"), ("--osl", "output_len"), ("--concurrency", "concurrency")):
        default = Workload.model_fields[key].default
        assert flag in text and f"(default {default}" in text


def test_quick_flags_with_a_recipe_are_refused(capsys) -> None:
    code, _, err = invoke(capsys, "plan", "recipes/gpt-oss-120b-h100.yaml", "--isl", "512")
    assert code == 2 and "go with --model" in err
