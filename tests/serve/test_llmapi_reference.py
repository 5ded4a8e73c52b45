"""PyTorch-backend (llmapi) repositories served here by the CPU reference runtime: a GPU recipe's repository
with the runtime swapped in at serve time, a CPU llmapi repository, and a checkpoint the runtime must refuse.

Each test starts its own server from the tiny Llama alone (no module build), so xdist spreads them freely.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.serve.serving import NOTE, pids_mentioning, serve_process
from tests.triton.fixtures import h100_llmapi_repo, loaded_and_plan, run_step, tiny_recipe
from trtforge.serve import client
from trtforge.serve.launch import ServeOptions, running_server
from trtforge.triton.settings import CHECKPOINT_DIR

pytestmark = pytest.mark.slow  # a Triton server start per test (but the refusal)


def _write_llmapi_reference_repo(tmp: Path, checkpoint: Path) -> Path:
    recipe = tiny_recipe(
        tmp, checkpoint, name="tiny-llmapi-cpu", serving={"frontend": "llmapi", "model_name": "tiny"}
    )
    loaded, plan = loaded_and_plan(recipe)
    run_step(loaded, plan, {"download": checkpoint}, tmp / "out")
    return tmp / "out" / "model_repository"


def test_cli_serve_gpu_repository_with_reference_swap_then_sigterm(tiny_llama, tmp_path):
    """An H100 / PyTorch-backend (llmapi) repository, served here: no GPU -> the reference runtime is swapped
    in at serve time (text contract), the built repository is left untouched; SIGTERM stops everything."""
    repo = h100_llmapi_repo(tmp_path, tiny_llama)
    config_before = (repo / "tensorrt_llm" / "config.pbtxt").read_text()
    proc = serve_process(repo, tmp_path / "triton.log")
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready" and ready["runtime"] == "reference" and ready["runtime_note"] == NOTE
        assert ready["served_from"] != str(repo)  # an overlay
        assert ready["generate"] == [ready["endpoints"]["http"] + "/v2/models/tensorrt_llm/generate"]
        r = run_cli("infer", "Hello", "--url", ready["endpoints"]["http"], "--max-tokens", "6", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["model"] == "tensorrt_llm" and json.loads(r.stdout)["text"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == {"event": "stopped"}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)
    assert pids_mentioning(str(repo)) == [] and pids_mentioning(ready["served_from"]) == []
    assert (repo / "tensorrt_llm" / "config.pbtxt").read_text() == config_before


def test_llmapi_reference_streams_text(tiny_llama, tmp_path):
    """A CPU recipe with serving.frontend llmapi: the reference runtime behind NVIDIA's llmapi tensor API."""
    repo = _write_llmapi_reference_repo(tmp_path, tiny_llama)
    with running_server(repo, ServeOptions(ready_timeout_s=240, log_file=tmp_path / "t.log")) as served:
        target = client.discover(served.server.endpoints.http)
        assert target.api == "llmapi" and target.model == "tensorrt_llm" and target.decoupled
        whole = client.generate(target, client.payload(target, "Hello", 6, False))
        streamed = client.generate_stream(target, client.payload(target, "Hello", 6, True))
        assert len(streamed.chunks) > 1 and "".join(streamed.chunks) == whole.text


def test_cli_serve_refuses_a_checkpoint_it_cannot_dequantize(tiny_llama, tmp_path):
    """A checkpoint the reference model would refuse at load is refused before Triton starts (exit 2, one
    line, no process left). The model applies the same rule where it loads (tests/triton/test_models.py)."""
    import shutil

    ck = tmp_path / "nvfp4-claim"
    shutil.copytree(tiny_llama, ck)
    cfg = json.loads((ck / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "modelopt", "quant_algo": "NVFP4"}
    (ck / "config.json").write_text(json.dumps(cfg))
    repo = _write_llmapi_reference_repo(tmp_path, ck)
    t0 = time.monotonic()
    proc = serve_process(repo, tmp_path / "triton.log")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and out == "", (out, err)
    (line,) = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    bundled = repo / CHECKPOINT_DIR
    assert line.startswith(f"error: {bundled}: checkpoint quantization 'NVFP4' cannot be dequantized")
    assert "refusing to serve different weights (serve it on a GPU (--runtime container)" in line
    assert time.monotonic() - t0 < 60 and not (tmp_path / "triton.log").exists()
    assert pids_mentioning(str(repo)) == []
