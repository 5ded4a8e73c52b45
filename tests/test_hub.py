"""trtforge.hub, the one Hugging Face client: its cache directory is huggingface_hub's, and planning and the
download step give the same line for the same hub failure (real huggingface_hub against the local hub of
tests/pipeline/hubserver.py).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipeline.hubserver import FakeHub
from trtforge import hub
from trtforge.errors import EXIT_INVALID, EXIT_MISSING, TrtforgeError
from trtforge.models import resolve_config

CONFIG = (
    Path(__file__).resolve().parents[1] / "trtforge/data/model_configs/Qwen--Qwen3-8B.json"
).read_bytes()
HF_VARS = (
    "HF_HUB_CACHE",
    "HF_HOME",
    "XDG_CACHE_HOME",
    "HF_TOKEN",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_ENDPOINT",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in HF_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "env",
    [
        {"HF_HUB_CACHE": "/x/hub-cache", "HF_HOME": "/x/home"},
        {"HF_HOME": "/x/home"},
        {"XDG_CACHE_HOME": "/x/xdg"},
        {"HOME": "/x/user"},
    ],
)
def test_cache_dir_is_the_one_huggingface_hub_itself_uses(env: dict, clean_env: pytest.MonkeyPatch) -> None:
    """The oracle: huggingface_hub's constants, computed at its import in a fresh process with that env."""
    import os

    base = {k: v for k, v in os.environ.items() if k not in HF_VARS}
    code = "import huggingface_hub.constants as c; print(c.HF_HUB_CACHE)"
    theirs = subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True, check=True
    ).stdout.strip()
    for key, value in env.items():
        clean_env.setenv(key, value)
    assert str(hub.cache_dir()) == theirs


def _closed_port_url() -> str:
    """An address nothing listens on (connection refused), like a hub that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _line(call) -> tuple[str, int]:  # noqa: ANN001
    with pytest.raises(TrtforgeError) as exc:
        call()
    return exc.value.one_line(), exc.value.exit_code


@pytest.fixture
def local_hub(tmp_path: Path, clean_env: pytest.MonkeyPatch):
    clean_env.setenv("HF_HOME", str(tmp_path / "hf-home"))
    server = FakeHub().start()
    clean_env.setenv("HF_ENDPOINT", server.url)
    yield server
    server.stop()


def test_planning_and_download_say_the_same_line(local_hub: FakeHub, clean_env: pytest.MonkeyPatch) -> None:
    sha = local_hub.add_repo("acme/open", {"config.json": CONFIG})
    local_hub.add_repo("acme/gated", {"config.json": CONFIG}, gated_token="hf_secretsecretsecret")
    cases = {
        "not found": ("acme/missing", "main", f"model repo acme/missing was not found at {local_hub.url}"),
        "revision missing": ("acme/open", "v9", "revision 'v9' does not exist in acme/open"),
    }
    for what, (repo, rev, message) in cases.items():
        planning = _line(lambda repo=repo, rev=rev: resolve_config(f"{repo}@{rev}"))
        download = _line(lambda repo=repo, rev=rev: hub.list_repo(repo, rev, None))
        assert planning == download and planning[0].startswith(message) and planning[1] == EXIT_INVALID, what
    gated_plan = _line(lambda: resolve_config("acme/gated"))
    gated_sha = hub.list_repo("acme/gated", "main", None).sha
    gated_download = _line(lambda: hub.download_snapshot("acme/gated", gated_sha, ["config.json"], None))
    assert (
        gated_plan
        == gated_download
        == (
            "acme/gated is gated and needs a token: set HF_TOKEN "
            "(and accept the model's licence on its hub page)",
            EXIT_INVALID,
        )
    )
    assert hub.read_ref("acme/open", "main") is None
    assert hub.list_repo("acme/open", "main", None).sha == sha == hub.read_ref("acme/open", "main")
    url = _closed_port_url()
    clean_env.setenv("HF_ENDPOINT", url)
    # (resolve_config says the same line after huggingface_hub's own ~23 s of retries: not waited for here)
    unreachable = _line(lambda: hub.list_repo("acme/other", "main", None))
    assert (
        unreachable[0].startswith(f"cannot reach the hub at {url} to fetch acme/other")
        and unreachable[1] == EXIT_MISSING
    )
    clean_env.setenv("HF_HUB_OFFLINE", "1")
    offline_plan = _line(lambda: resolve_config("acme/other"))
    assert offline_plan[0].startswith(
        "offline (HF_HUB_OFFLINE=1) and acme/other@main (config.json) is not "
        f"in the Hugging Face cache at {hub.cache_dir()}"
    )
    assert offline_plan[1] == EXIT_MISSING


def test_a_dropped_connection_is_tried_again(local_hub: FakeHub) -> None:
    local_hub.add_repo("acme/flaky", {"config.json": CONFIG})
    local_hub.drop_once["config.json"] = 100  # the first transfer breaks after 100 bytes
    found = resolve_config("acme/flaky")
    assert found.config == json.loads(CONFIG) and not local_hub.drop_once
    assert len(local_hub.requests("GET", "/resolve/")) == 2


def test_refs_stay_inside_the_repo_folder(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HF_HUB_CACHE", str(tmp_path))
    sha = "a" * 40
    for bad in ("../../escape", "/abs", ""):
        hub.record_ref("acme/x", bad, sha)
        assert hub.read_ref("acme/x", bad) is None
    hub.record_ref("acme/x", "refs/pr/1", sha)
    assert (tmp_path / "models--acme--x" / "refs" / "refs" / "pr" / "1").read_text() == sha
    assert hub.read_ref("acme/x", "refs/pr/1") == sha and hub.read_ref("acme/x", "b" * 40) == "b" * 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models--acme--x"]
