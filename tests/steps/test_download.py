"""The download step against a local HTTP endpoint that answers like the hub (real huggingface_hub, no
mocks)."""
# ruff: noqa: F811 - fixtures imported from tests/pipeline/conftest.py are re-bound as arguments

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import start_cli
from tests.pipeline.conftest import (  # noqa: F401
    PYTHONPATH,
    clean_hf_env,
    events,
    fake_hub,
    leftovers,
    tiny_model,
    write_recipe,
)
from trtforge.errors import InvalidInput, ToolMissing
from trtforge.pipeline.cache import CacheStore
from trtforge.pipeline.runner import BuildRequest, run_build
from trtforge.plan import make_plan
from trtforge.recipe.loader import load_recipe
from trtforge.steps import builtin_registry
from trtforge.steps.download import select_files
from trtforge.steps.graph import publish_layout, steps_for

REPO = "acme/tiny-llama"
CANARY = "hf_CANARYtokenDoNotLeak0123456789abcdef"


def hub_files(tiny_model: Path) -> dict[str, bytes]:
    """The tiny model as a hub repo, plus the files a build must not fetch."""
    files = {p.name: p.read_bytes() for p in tiny_model.iterdir() if p.is_file()}
    files.update(
        {
            "pytorch_model.bin": b"legacy weights, never fetched when safetensors exist",
            "pytorch_model.bin.index.json": b"{}",
            "original/consolidated.00.pth": b"meta's original format",
            "original/params.json": b"{}",
            "README.md": b"# model card",
            ".gitattributes": b"*.safetensors filter=lfs",
            "modeling_custom.py": b"print('remote code')",
        }
    )
    return files


def expected_files(tiny_model: Path) -> list[str]:
    return sorted(p.name for p in tiny_model.iterdir() if p.is_file())


class HubBuild:
    """Build a hub recipe in process (the plan comes from the same model as a local directory)."""

    def __init__(self, tmp: Path, tiny_model: Path, **model) -> None:
        self.tmp = tmp
        self.recipe = write_recipe(tmp, model={"repo": REPO, **model})
        self.twin = load_recipe(write_recipe(tmp, name="twin", model={"path": str(tiny_model)}))
        self.cache = CacheStore(tmp / "cache")
        self.out = tmp / "out"

    def __call__(self, **kw):
        loaded = load_recipe(self.recipe)
        plan = make_plan(self.twin.recipe, self.twin.recipe.target).model_copy(update={"recipe": "t"})
        reg = builtin_registry()
        steps = steps_for(loaded, plan, reg)
        req = BuildRequest(
            loaded=loaded,
            plan=plan,
            steps=steps,
            layout=publish_layout(steps, loaded, reg),
            output_dir=self.out,
            cache=self.cache,
            **kw,
        )
        evs: list[dict] = []
        return run_build(req, evs.append), evs


@pytest.fixture
def hub_env(fake_hub, clean_hf_env, tmp_path):
    clean_hf_env.setenv("HF_ENDPOINT", fake_hub.url)
    clean_hf_env.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return fake_hub


def test_select_files_rules() -> None:
    repo = [
        "config.json",
        "generation_config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "pytorch_model-00001-of-00002.bin",
        "pytorch_model.bin.index.json",
        "consolidated.safetensors",
        "original/model.safetensors",
        "metal/model.bin",
        "tokenizer.json",
        "tokenizer.model",
        "tokenizer_config.json",
        "chat_template.jinja",
        "README.md",
        ".gitattributes",
        "LICENSE",
        "modeling_x.py",
        "onnx/model.onnx",
    ]
    assert select_files(repo) == sorted(
        [
            "LICENSE",
            "chat_template.jinja",
            "config.json",
            "generation_config.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "model.safetensors.index.json",
            "tokenizer.json",
            "tokenizer.model",
            "tokenizer_config.json",
        ]
    )
    assert "modeling_x.py" in select_files(repo, trust_remote_code=True)
    legacy = [
        "config.json",
        "pytorch_model.bin",
        "model.safetensors.index.json",
        "pytorch_model.bin.index.json",
    ]
    assert select_files(legacy) == ["config.json", "pytorch_model.bin", "pytorch_model.bin.index.json"]
    assert select_files(["consolidated.safetensors", "params.json"]) == [
        "consolidated.safetensors",
        "params.json",
    ]
    assert select_files(repo, allow_patterns=["*.json"]) == sorted(f for f in repo if f.endswith(".json"))


def test_downloads_only_what_the_build_needs_at_a_pinned_commit(hub_env, tiny_model, tmp_path) -> None:
    sha = hub_env.add_repo(REPO, hub_files(tiny_model))
    build = HubBuild(tmp_path, tiny_model)
    result, evs = build()
    assert result.status == "complete", result.error
    got = sorted(p.name for p in (build.out / "checkpoint").iterdir())
    assert got == expected_files(tiny_model)
    for name in got:
        assert (build.out / "checkpoint" / name).read_bytes() == (tiny_model / name).read_bytes()
    lock = json.loads((build.out / "trtforge.lock.json").read_text())
    assert lock["model"] == {
        "source": "hub",
        "repo": REPO,
        "revision_requested": "main",
        "revision_resolved": sha,
        "content_digest": result.steps[0].digest,
    }
    assert lock["steps"][0]["source"] == f"hub:{REPO}@{sha}"
    fetched = {r["path"] for r in hub_env.requests("GET")}
    assert not [p for p in fetched if ".bin" in p or "original" in p or "README" in p or ".py" in p]
    assert any(e["event"] == "progress" and e.get("unit") == "B" for e in evs)
    # Second build: one API call to resolve `main`, no file transfer.
    before = len(hub_env.requests())
    again, _ = build()
    assert [s.status for s in again.steps] == ["cached"]
    assert [r["path"].split("?")[0] for r in hub_env.requests()[before:]] == [
        f"/api/models/{REPO}/revision/main"
    ]


def test_pinned_commit_rebuilds_without_network_and_branch_moves_are_noticed(
    hub_env, tiny_model, tmp_path
) -> None:
    files = hub_files(tiny_model)
    sha = hub_env.add_repo(REPO, files)
    HubBuild(tmp_path, tiny_model, revision=sha)()
    pinned = HubBuild(tmp_path, tiny_model, revision=sha)
    hub_env.stop()
    result, _ = pinned()  # nothing to ask the hub: a commit never changes
    assert [s.status for s in result.steps] == ["cached"]


def test_new_commit_on_the_branch_is_downloaded(hub_env, tiny_model, tmp_path) -> None:
    files = hub_files(tiny_model)
    hub_env.add_repo(REPO, files)
    build = HubBuild(tmp_path, tiny_model)
    first, _ = build()
    files["generation_config.json"] = b'{"temperature": 0.5}'
    sha2 = hub_env.add_repo(REPO, files)
    second, _ = build()
    assert second.steps[0].status == "built" and second.steps[0].fingerprint != first.steps[0].fingerprint
    assert json.loads((build.out / "trtforge.lock.json").read_text())["model"]["revision_resolved"] == sha2
    assert (build.out / "checkpoint" / "generation_config.json").read_bytes() == b'{"temperature": 0.5}'


# huggingface_hub writes what it receives in 10 MiB chunks: a break after 15 MiB leaves 10 MiB to resume from.
BIG = 24 << 20
BREAK_AT = 15 << 20
WRITTEN = 10 << 20


def test_dropped_connection_is_resumed(hub_env, tiny_model, tmp_path) -> None:
    big = os.urandom(BIG)
    hub_env.add_repo(REPO, {**hub_files(tiny_model), "extra.safetensors": big})
    hub_env.drop_once["extra.safetensors"] = BREAK_AT
    build = HubBuild(tmp_path, tiny_model)
    result, evs = build()
    assert result.status == "complete", result.error
    ranges = [r["range"] for r in hub_env.requests("GET", "/cdn/") if r["range"]]
    assert ranges == [f"bytes={WRITTEN}-"]  # resumed from what was on disk, not restarted
    assert (build.out / "checkpoint" / "extra.safetensors").read_bytes() == big
    assert any("resuming" in (e.get("message") or "") for e in evs)
    assert not list((build.cache.hub).rglob("*.incomplete"))


def test_gated_repo_needs_a_token_and_never_records_it(hub_env, tiny_model, tmp_path, clean_hf_env) -> None:
    hub_env.add_repo(REPO, hub_files(tiny_model), gated_token=CANARY)
    build = HubBuild(tmp_path, tiny_model)
    result, _ = build()
    assert result.status == "failed" and isinstance(result.error, InvalidInput)
    assert "gated and needs a token: set HF_TOKEN" in result.error.message
    clean_hf_env.setenv("HF_TOKEN", "hf_wrongwrongwrongwrong")
    result, _ = build()
    assert "refused the token" in result.error.message and "hf_wrong" not in result.error.one_line()
    clean_hf_env.setenv("HF_TOKEN", CANARY)
    before = len(hub_env.requests())
    result, evs = build()
    assert result.status == "complete", result.error
    heads = [r for r in hub_env.requests()[before:] if r["method"] == "HEAD"]
    assert heads and all(r["auth"] == f"Bearer {CANARY}" for r in heads)
    assert CANARY not in json.dumps(evs)
    for root in (build.out, build.cache.root):
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink():
                assert CANARY.encode() not in p.read_bytes(), p


def test_missing_repo_and_revision_are_invalid_input(hub_env, tiny_model, tmp_path) -> None:
    result, _ = HubBuild(tmp_path, tiny_model)()
    assert (
        isinstance(result.error, InvalidInput) and f"model repo {REPO} was not found" in result.error.message
    )
    hub_env.add_repo(REPO, hub_files(tiny_model))
    result, _ = HubBuild(tmp_path, tiny_model, revision="v9.9")()
    assert isinstance(result.error, InvalidInput) and "revision 'v9.9' does not exist" in result.error.message


def test_unreachable_hub_is_exit_4(hub_env, tiny_model, tmp_path) -> None:
    hub_env.stop()
    result, _ = HubBuild(tmp_path, tiny_model)()
    assert isinstance(result.error, ToolMissing) and "cannot reach the hub" in result.error.message


def test_offline_mode_uses_the_cache(hub_env, tiny_model, tmp_path, clean_hf_env) -> None:
    hub_env.add_repo(REPO, hub_files(tiny_model))
    build = HubBuild(tmp_path, tiny_model)
    build()
    hub_env.stop()
    clean_hf_env.setenv("HF_HUB_OFFLINE", "1")
    result, _ = build()
    assert [s.status for s in result.steps] == ["cached"]
    forced, _ = build(force=True)  # re-runs the download step from the hub cache, no network
    assert forced.status == "complete" and [s.status for s in forced.steps] == ["built"]
    assert forced.steps[0].fingerprint == result.steps[0].fingerprint
    (tmp_path / "b").mkdir()
    other = HubBuild(tmp_path / "b", tiny_model)
    other.recipe = write_recipe(tmp_path / "b", model={"repo": "acme/never-downloaded"})
    missing, _ = other()
    assert isinstance(missing.error, ToolMissing) and "offline (HF_HUB_OFFLINE=1)" in missing.error.message


# --------------------------------------------------------------------------------------------- CLI, processes


def cli_env(workdir: Path, hub_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TRTFORGE_DEBUG")
    }
    env.update(
        {
            "HF_ENDPOINT": hub_url,
            "HF_HOME": str(workdir / "hf-home"),
            "TRTFORGE_CACHE": str(workdir / "cache"),
            "PYTHONPATH": PYTHONPATH,
            **extra,
        }
    )
    return env


def trtforge(workdir: Path, env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trtforge", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow  # a build process SIGKILLed mid-transfer, then a second one
def test_cli_build_killed_mid_download_resumes(fake_hub, tiny_model, tmp_path) -> None:
    big = os.urandom(BIG)
    fake_hub.add_repo(REPO, {**hub_files(tiny_model), "extra.safetensors": big})
    fake_hub.stall["extra.safetensors"] = BREAK_AT
    write_recipe(tmp_path, model={"repo": REPO})
    env = cli_env(tmp_path, fake_hub.url)
    proc = start_cli("build", "t.yaml", "--json", cwd=tmp_path, env=env)
    try:
        assert fake_hub.stalled.wait(60), "the transfer never started"
        time.sleep(0.3)  # let the client write what it received
        partial = list((tmp_path / "hf-home" / "hub").rglob("*.incomplete"))
        assert partial and partial[0].stat().st_size > 0
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    fake_hub.stall.clear()
    fake_hub.release.set()
    assert not (tmp_path / "out").exists() and not list((tmp_path / "cache" / "steps").iterdir())
    done = trtforge(tmp_path, env, "build", "t.yaml", "--json")
    assert done.returncode == 0, done.stderr
    ranges = [r["range"] for r in fake_hub.requests("GET", "/cdn/") if r["range"]]
    assert ranges == [f"bytes={WRITTEN}-"]  # resumed from the killed process's .incomplete file
    out = tmp_path / "out" / "t" / "checkpoint"
    assert (out / "extra.safetensors").read_bytes() == big
    assert (out / "model.safetensors").read_bytes() == (tiny_model / "model.safetensors").read_bytes()
    assert leftovers(tmp_path / "cache", tmp_path / "out") == []
    assert [e["event"] for e in events(done.stdout) if e.get("step") == "download"][0] == "started"


@pytest.mark.slow  # five build/cache processes against a gated hub
def test_cli_token_never_printed_or_written(fake_hub, tiny_model, tmp_path) -> None:
    fake_hub.add_repo(REPO, hub_files(tiny_model), gated_token=CANARY)
    write_recipe(tmp_path, model={"repo": REPO, "token": "${HF_TOKEN}"})
    no_token = trtforge(tmp_path, cli_env(tmp_path, fake_hub.url, HF_TOKEN=""), "build", "t.yaml")
    assert no_token.returncode == 2 and "HF_TOKEN" in no_token.stderr
    env = cli_env(tmp_path, fake_hub.url, HF_TOKEN=CANARY)
    runs = [
        trtforge(tmp_path, env, "build", "t.yaml", "--json"),
        trtforge(tmp_path, env, "build", "t.yaml"),
        trtforge(tmp_path, env, "build", "t.yaml", "--dry-run", "--json"),
        trtforge(tmp_path, env, "cache", "ls"),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], runs[0].stderr
    for r in runs:
        assert CANARY not in r.stdout + r.stderr
    for root in (tmp_path / "out", tmp_path / "cache"):
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink():
                assert CANARY.encode() not in p.read_bytes(), p
