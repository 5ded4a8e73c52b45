"""A build of a PyTorch-backend GPU target publishes deploy/ with the same LLM-API bytes as its llmapi/
output,
and `trtforge deploy OUTPUT` renders the same files again from the output's lock file."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.conftest import ROOT, run_cli


def test_build_publishes_deploy_files(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "models" / "tiny-llama", tmp_path / "model")
    recipe = {
        "name": "tiny-gpu",
        "model": {"path": "model"},
        "target": {"gpu": "H100-80GB"},
        "engine": {"max_batch_size": 4, "max_seq_len": 256},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    env = {"TRTFORGE_CACHE": str(tmp_path / "cache")}
    r = run_cli("build", "r.yaml", "--output", str(tmp_path / "out"), cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    compiled = (out / "llmapi" / "llm_api_options.yaml").read_bytes()
    # a local checkpoint: the one-node targets render; Kubernetes needs a claim (named as skipped in the lock)
    for target in ("trtllm-serve", "triton", "slurm"):
        assert (out / "deploy" / target / "llm_api_options.yaml").read_bytes() == compiled
        assert (out / "deploy" / target / "README.md").is_file()
    assert not (out / "deploy" / "k8s-lws").exists()
    # the build's Triton llmapi model.yaml starts with the same bytes, and equals the deploy triton target's
    model_yaml = (out / "model_repository" / "tensorrt_llm" / "1" / "model.yaml").read_bytes()
    assert model_yaml.startswith(compiled)
    assert model_yaml == (out / "deploy" / "triton" / "model.yaml").read_bytes()
    again = run_cli(
        "deploy", str(out), "--target", "slurm", "--output", str(tmp_path / "d"), cwd=tmp_path, env=env
    )
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "d" / "slurm" / "launch.sbatch").read_bytes() == (
        out / "deploy" / "slurm" / "launch.sbatch"
    ).read_bytes()
