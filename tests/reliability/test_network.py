"""The network during a download: drops are resumed in the same run; an outage longer than the retries stops
the build with exit 4 and one line, and the next run (network back, even through another endpoint) resumes the
partial file instead of starting over. Real huggingface_hub against the local hub of
tests/pipeline/hubserver.py.

tests/steps/test_download.py already proves one dropped connection resumed in process and a SIGKILL
mid-transfer resumed by the next process; this adds drops on several files at once and a full outage.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipeline.conftest import leftovers
from tests.pipeline.hubserver import FakeHub
from tests.reliability.conftest import base_env, figure, json_lines, trtforge, write_yaml

REPO_ID = "acme/tiny-net"
BIG = 24 << 20


def _files(tiny_model: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in tiny_model.iterdir() if p.is_file()}
    files["extra.safetensors"] = hashlib.sha256(b"seed").digest() * (BIG // 32)
    return files


@pytest.fixture
def hub():
    hubs: list[FakeHub] = []

    def start() -> FakeHub:
        hubs.append(FakeHub().start())
        return hubs[-1]

    yield start
    for h in hubs:
        h.stop()


def go_down(h: FakeHub) -> None:
    """A real outage: new connections refused, and the open keep-alive connections cut on their next
    request."""

    def cut(handler) -> None:  # noqa: ANN001
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    h._server.RequestHandlerClass._route = cut  # type: ignore[union-attr]
    h.stop()


RECIPE = {
    "name": "n",
    "model": {"repo": REPO_ID},
    "target": {"gpu": "cpu"},
    "quantization": {"format": "none"},
    "outputs": {"triton_repo": False},
}


@pytest.mark.slow  # a 24 MB download with a dropped connection per file
def test_drops_on_every_file_are_resumed_in_one_run(tmp_path: Path, tiny_model: Path, hub) -> None:
    h = hub()
    files = _files(tiny_model)
    h.add_repo(REPO_ID, files)
    for name, data in files.items():  # every file's first transfer breaks half way
        h.drop_once[name] = max(1, len(data) // 2)
    write_yaml(tmp_path / "n.yaml", RECIPE)
    r = trtforge(tmp_path, "build", "n.yaml", "--json", env=base_env(tmp_path, HF_ENDPOINT=h.url))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out" / "n" / "checkpoint"
    for name, data in files.items():
        assert (out / name).read_bytes() == data, name
    assert not h.drop_once, "some planned drops never happened"
    assert any("resuming" in (e.get("message") or "") for e in json_lines(r.stdout))
    figure("network drops injected (all resumed)", len(files))


@pytest.mark.slow  # waits out the hub client's retries, then a second build process
def test_outage_beyond_retries_is_exit_4_and_the_next_run_resumes(
    tmp_path: Path, tiny_model: Path, hub
) -> None:
    first = hub()
    files = _files(tiny_model)
    first.add_repo(REPO_ID, files)
    first.stall["extra.safetensors"] = 15 << 20
    write_yaml(tmp_path / "n.yaml", RECIPE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trtforge", "build", "n.yaml"],
        cwd=tmp_path,
        env=base_env(tmp_path, HF_ENDPOINT=first.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stalled.wait(60), "the transfer never started"
        time.sleep(0.3)
        go_down(first)  # the hub goes away mid-transfer and stays away
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 4, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: step 'download' could not run here: cannot reach the hub at "), err
    assert "extra.safetensors" in err and "a rerun resumes the transfer" in err, err
    partial = list((tmp_path / "hf-home" / "hub").rglob("*.incomplete"))
    assert partial and partial[0].stat().st_size >= 10 << 20
    assert not list((tmp_path / "cache" / "steps").iterdir())  # no entry for the unfinished download
    second = hub()  # the network is back (on another address)
    second.add_repo(REPO_ID, files)
    r = trtforge(tmp_path, "build", "n.yaml", env=base_env(tmp_path, HF_ENDPOINT=second.url))
    assert r.returncode == 0, r.stderr
    ranges = [q["range"] for q in second.requests("GET", "/cdn/") if q["range"]]
    assert ranges and all(int(rg.split("=")[1].rstrip("-")) >= 10 << 20 for rg in ranges), ranges
    assert (tmp_path / "out" / "n" / "checkpoint" / "extra.safetensors").read_bytes() == files[
        "extra.safetensors"
    ]
    assert leftovers(tmp_path / "cache", tmp_path / "out") == []
    assert not list((tmp_path / "hf-home" / "hub").rglob("*.incomplete"))
    figure("network outages beyond the retries (resumed by the next run)")


def test_hub_model_config_unreachable_is_exit_4_in_one_line(tmp_path: Path) -> None:
    """`inspect`/`plan` of a hub id whose config.json is neither cached nor reachable (offline): exit 4 (tool
    or network missing), one line from trtforge.hub's error table, the same line the download step gives; it
    was exit 2 'has no config.json' before (LocalEntryNotFoundError is a subclass of EntryNotFoundError), with
    huggingface_hub's retry warnings on stderr."""
    env = base_env(tmp_path, HF_HUB_OFFLINE="1")
    for argv in (
        ["inspect", "acme/not-cached"],
        ["plan", "--model", "acme/not-cached", "--gpu", "H100-80GB"],
    ):
        r = trtforge(tmp_path, *argv, env=env)
        assert r.returncode == 4, r.stderr
        assert r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith(
            "error: offline (HF_HUB_OFFLINE=1) and acme/not-cached@main (config.json) is "
            f"not in the Hugging Face cache at {tmp_path / 'hf-home' / 'hub'}"
        ), r.stderr
