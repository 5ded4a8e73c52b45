"""`trtforge plan` / `inspect` as a user runs them: exit codes, one-line errors, no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli_inprocess import cli_in_process as run_cli  # in process: no process behaviour under test here
from tests.conftest import ROOT


def test_plan_recipe_json() -> None:
    out = run_cli("plan", "recipes/gpt-oss-120b-h100.yaml", "--json")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    for key in (
        "fits",
        "backend",
        "gpu",
        "parallel",
        "memory",
        "limits",
        "quantization",
        "warnings",
        "errors",
    ):
        assert key in plan
    assert set(plan["parallel"]) >= {"tp", "pp", "ep", "world_size"}
    assert set(plan["memory"]) >= {"weights_gib_per_gpu", "kv_cache_gib_per_gpu", "reserve_gib", "total_gib"}
    assert set(plan["limits"]) >= {"max_batch_size", "max_num_tokens", "max_seq_len", "max_kv_tokens"}


def test_plan_model_that_does_not_fit_exits_3_with_one_line() -> None:
    out = run_cli("plan", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "H100", "--json")
    assert out.returncode == 3
    assert json.loads(out.stdout)["fits"] is False
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert (
        len(lines) == 1
        and "needs 2×H100-SXM-80GB: use target.gpus: 2, or quantization.format: fp8" in lines[0]
    )
    two = run_cli(
        "plan", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "H100", "--gpus", "2", "--json"
    )
    assert two.returncode == 0 and json.loads(two.stdout)["parallel"]["tp"] == 2


def test_plan_table_has_memory_bar() -> None:
    out = run_cli("plan", "--model", "openai/gpt-oss-120b", "--gpu", "h100")
    assert out.returncode == 0, out.stderr
    assert "fits" in out.stdout and "per GPU" in out.stdout and "weights" in out.stdout


def test_plan_bad_inputs_are_one_line() -> None:
    bad_gpu = run_cli("plan", "--model", "openai/gpt-oss-120b", "--gpu", "H1000")
    assert bad_gpu.returncode == 2 and "did you mean H100-SXM-80GB" in bad_gpu.stderr
    assert "Traceback" not in bad_gpu.stderr
    neither = run_cli("plan")
    assert neither.returncode == 2 and "RECIPE" in neither.stderr
    bad_quant = run_cli("plan", "--model", "openai/gpt-oss-120b", "--gpu", "H100", "--quant", "fp7")
    assert bad_quant.returncode == 2 and "Traceback" not in bad_quant.stderr


def test_nvfp4_on_h100_exits_3() -> None:
    out = run_cli("plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "H100", "--quant", "nvfp4")
    assert out.returncode == 3 and "nvfp4 needs SM 100+" in out.stderr


def test_inspect(tmp_path) -> None:
    out = run_cli("inspect", "openai/gpt-oss-120b", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    for key in (
        "architecture",
        "model_type",
        "total_params",
        "active_params",
        "num_layers",
        "hidden_size",
        "num_attention_heads",
        "num_kv_heads",
        "head_dim",
        "num_experts",
        "experts_per_token",
        "vocab_size",
        "max_position_embeddings",
        "kv_cache_bytes_per_token",
        "native_quantization",
        "backends",
    ):
        assert key in r
    assert r["kv_cache_bytes_per_token"] == {"bf16": 36864, "fp8": 18432}
    assert r["native_quantization"]["method"] == "mxfp4" and r["backends"] == {
        "tensorrt": False,
        "pytorch": True,
    }
    table = run_cli("inspect", str(ROOT / "models" / "tiny-moe"))
    assert table.returncode == 0 and "MixtralForCausalLM" in table.stdout
    unknown = tmp_path / "config.json"
    unknown.write_text('{"architectures": ["RwkvForCausalLM"]}')
    bad = run_cli("inspect", str(unknown))
    assert bad.returncode == 3 and bad.stderr.count("\n") == 1 and "RwkvForCausalLM" in bad.stderr


def test_plan_and_inspect_import_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from trtforge.cli.app import app\n"
        "for argv in (['plan', 'recipes/gpt-oss-120b-h100.yaml', '--json'],"
        " ['inspect', 'models/tiny-llama', '--json'],"
        " ['plan', 'recipes/tiny-llama-cpu.yaml', '--json']):\n"
        "    try:\n"
        "        app(args=argv, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'modelopt', 'tritonclient') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_matrix_recipe_plans_every_target(tmp_path) -> None:
    recipe = tmp_path / "matrix.yaml"
    recipe.write_text(
        f"name: tiny-matrix\nmodel:\n  path: {ROOT / 'models' / 'tiny-llama'}\n"
        "targets:\n  - gpu: cpu\n  - gpu: H100-80GB\n  - gpu: L4\n    gpus: 2\n"
    )
    out = run_cli("plan", str(recipe), "--json")
    assert out.returncode == 0, out.stderr
    plans = json.loads(out.stdout)
    assert [p["target"] for p in plans] == ["cpu", "h100-80gb", "l4x2"]
    assert [p["backend"] for p in plans] == ["reference", "pytorch", "pytorch"]
    assert all(p["fits"] for p in plans) and plans[2]["parallel"]["tp"] == 1
