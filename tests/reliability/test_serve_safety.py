"""Serving: loopback by default, a warning when exposed, and a server that never becomes ready is given up at
the deadline with nothing left behind (no tritonserver, no python stub, no /dev/shm region, no temp overlay).

tests/serve/test_process.py proves the deadline on a stand-in process; here it is the real `trtforge serve` on
the real bundled tritonserver 2.51 with a python model whose initialize() never returns.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import (
    base_env,
    figure,
    processes_with,
    trtforge_here,
    write_yaml,
)
from trtforge.cli.serve_cmds import is_loopback
from trtforge.serve.process import SHM_DIR

CPU = {
    "name": "s",
    "model": {"path": "model"},
    "target": {"gpu": "cpu"},
    "quantization": {"format": "none"},
    "engine": {"max_batch_size": 2, "max_seq_len": 128},
    "serving": {"instance_counts": {"preprocessing": 1, "postprocessing": 1, "bls": 1}},
}
H100 = {**CPU, "name": "sg", "target": {"gpu": "H100-80GB"}}


@pytest.fixture
def repos(tmp_path: Path, model_dir: Path) -> dict[str, Path]:
    write_yaml(tmp_path / "s.yaml", CPU)
    write_yaml(tmp_path / "sg.yaml", H100)
    for name in ("s", "sg"):
        r = trtforge_here(tmp_path, "build", f"{name}.yaml")
        assert r.returncode == 0, r.stderr
    return {
        "cpu": tmp_path / "out" / "s" / "model_repository",
        "h100": tmp_path / "out" / "sg" / "model_repository",
    }


def _argv_host_flags(argv: list[str]) -> dict[str, str]:
    return dict(a.lstrip("-").split("=", 1) for a in argv if a.startswith("--") and "address=" in a)


def test_binds_loopback_unless_told_and_warns_when_exposed(tmp_path: Path, repos: dict[str, Path]) -> None:
    local = trtforge_here(tmp_path, "serve", str(repos["cpu"]), "--print-command", "--json")
    assert local.returncode == 0, local.stderr
    flags = _argv_host_flags(json.loads(local.stdout)["argv"])
    assert flags == {"http-address": "127.0.0.1", "grpc-address": "127.0.0.1", "metrics-address": "127.0.0.1"}
    assert local.stderr == ""
    container = trtforge_here(
        tmp_path, "serve", str(repos["h100"]), "--runtime", "container", "--print-command", "--json"
    )
    assert container.returncode == 0, container.stderr
    argv = json.loads(container.stdout)["argv"]
    published = [argv[i + 1] for i, a in enumerate(argv) if a == "-p"]
    assert published and all(p.startswith("127.0.0.1:") for p in published), published
    assert container.stderr == ""
    for host in ("0.0.0.0", "::", "192.168.1.20", "my-host.example"):
        exposed = trtforge_here(
            tmp_path, "serve", str(repos["cpu"]), "--host", host, "--print-command", "--json"
        )
        assert exposed.returncode == 0, exposed.stderr
        assert _argv_host_flags(json.loads(exposed.stdout)["argv"])["http-address"] == host
        assert (
            exposed.stderr.startswith(f"warning: binding {host}: ") and "no authentication" in exposed.stderr
        )
        figure("serve bind addresses checked")
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.1", "example.com", ""):
        assert not is_loopback(host), host


@pytest.mark.slow  # a real tritonserver waited for until its 12 s deadline
def test_server_never_ready_is_given_up_at_the_deadline_leaving_nothing(
    tmp_path: Path, repos: dict[str, Path]
) -> None:
    """A python model whose initialize() never returns (a copy of the built repository, one line added)."""
    repo = tmp_path / "hanging-repo"
    shutil.copytree(repos["cpu"], repo)
    marker = tmp_path / "initialize-entered"
    model_py = repo / "tensorrt_llm" / "1" / "model.py"
    text = model_py.read_text()
    hook = "    def initialize(self, args):\n"
    assert hook in text
    model_py.write_text(
        text.replace(
            hook,
            hook + f"        open({str(marker)!r}, 'w').close()\n        import time; time.sleep(3600)\n",
            1,
        )
    )
    tmp = tmp_path / "tmp"
    env = base_env(tmp_path)
    deadline = 12  # ample for the stub to reach initialize() on a busy 2-core machine
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trtforge", "serve", str(repo), "--ready-timeout", str(deadline), "--json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    prefix = f"trtforge{proc.pid}_"  # the python-backend shm prefix and stub argument of this server
    try:
        while proc.poll() is None and time.monotonic() - t0 < deadline + 40:
            time.sleep(0.1)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    took = time.monotonic() - t0
    assert proc.returncode == 1, (out, err)
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"error: Triton was not ready within {deadline} s"), err
    assert "Traceback" not in err and out == ""
    assert marker.exists(), "the server never reached the model's initialize(): the test proves nothing"
    assert deadline <= took < deadline + 25, took  # the deadline, plus the stop grace period at most
    time.sleep(0.5)
    assert processes_with(prefix) == [] and processes_with(str(repo)) == []
    assert not list(SHM_DIR.glob(prefix + "*"))
    assert not [
        p.name for p in tmp.iterdir() if p.name.startswith("trtforge-serve-")
    ]  # the overlay is removed
    assert not list((tmp_path / "cache" / "serve").glob("*.json"))  # `infer` will not find a dead server
    figure("server never ready: deadline enforced, no process left")
