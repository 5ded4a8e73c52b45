"""A canary HF_TOKEN never appears in any output, log, lock file, error message, `--json` event or emitted
repository; and code shipped with a model never runs unless the recipe sets trust_remote_code (then the plan
warns).

One real build through every step (gated hub repo -> download -> ModelOpt FP8 -> Triton repository) with the
canary as the only token that opens the repo, then every command a CI job would run, the error paths that
handle the token, and a scan of every byte written under the test's directory (cache, hub cache, logs, temp
files, outputs). The model also carries remote code (auto_map + modeling/configuration .py files that leave a
marker when imported): the build must work without ever importing it.

tests/steps/test_download.py scans a download-only build; this covers the whole pipeline and every command.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.pipeline.hubserver import FakeHub
from tests.reliability.conftest import CANARY, base_env, figure, trtforge, write_yaml

REPO_ID = "acme/gated-remote"
MARKER_ENV = "RELIABILITY_REMOTE_CODE_MARKER"
REMOTE_CODE = """
import os
with open(os.environ.get("{env}", "/tmp/remote-code-ran"), "a") as f:
    f.write(__name__ + "\\n")
from transformers import LlamaConfig, LlamaForCausalLM
class EvilConfig(LlamaConfig):
    model_type = "llama"
class EvilForCausalLM(LlamaForCausalLM):
    config_class = EvilConfig
""".replace("{env}", MARKER_ENV)
RECIPE = {
    "name": "sec",
    "model": {"repo": REPO_ID, "token": "${HF_TOKEN}"},
    "target": {"gpu": "cpu"},
    "quantization": {
        "format": "fp8",
        "calibration": {"dataset": "synthetic", "samples": 8, "seq_len": 32, "batch_size": 4},
        "accuracy": {"samples": 4},
    },
    "engine": {"max_batch_size": 4, "max_seq_len": 256},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model: Path):  # noqa: ANN201
    """The gated hub with the remote-code model, a work dir, and the outputs of every command run there."""
    work = tmp_path_factory.mktemp("secrets")
    files = {p.name: p.read_bytes() for p in tiny_model.iterdir() if p.is_file()}
    config = json.loads(files["config.json"])
    config["auto_map"] = {
        "AutoConfig": "configuration_evil.EvilConfig",
        "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM",
    }
    files["config.json"] = json.dumps(config).encode()
    files["modeling_evil.py"] = REMOTE_CODE.encode()
    files["configuration_evil.py"] = REMOTE_CODE.encode()
    hub = FakeHub().start()
    hub.add_repo(REPO_ID, files, gated_token=CANARY)
    marker = work / "remote-code-ran.txt"
    env = base_env(work, HF_ENDPOINT=hub.url, HF_TOKEN=CANARY, **{MARKER_ENV: str(marker)})
    write_yaml(work / "sec.yaml", RECIPE)
    runs: dict[str, subprocess.CompletedProcess] = {}

    def run(label: str, *args: str, **kw) -> subprocess.CompletedProcess:
        runs[label] = trtforge(work, *args, env=kw.pop("env", env), **kw)
        return runs[label]

    yield {"work": work, "hub": hub, "env": env, "run": run, "runs": runs, "marker": marker}
    hub.stop()


def _scan(root: Path, needle: bytes) -> tuple[int, list[str]]:
    files, hits = 0, []
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            files += 1
            try:
                data = p.read_bytes()
            except OSError:
                continue
            if needle in data:
                hits.append(str(p.relative_to(root)))
    return files, hits


@pytest.mark.slow  # a real build of every step and every CI command as processes
@pytest.mark.xdist_group("secrets-world")  # one worker sets up the module's world for both its users
def test_canary_token_appears_nowhere(world) -> None:
    run, work = world["run"], world["work"]
    built = run("build --json", "build", "sec.yaml", "--json")
    assert built.returncode == 0, built.stderr
    repo = work / "out" / "sec" / "model_repository"
    ok = [
        run("build (plain, cached)", "build", "sec.yaml"),
        run("build --dry-run --json", "build", "sec.yaml", "--dry-run", "--json"),
        run("build --dry-run", "build", "sec.yaml", "--dry-run"),
        run("validate", "validate", "sec.yaml"),
        run("plan --json", "plan", "sec.yaml", "--json"),
        run("plan", "plan", "sec.yaml"),
        run("inspect hub id --json", "inspect", REPO_ID, "--json"),
        run("plan --model hub id", "plan", "--model", REPO_ID, "--gpu", "H100-80GB", "--json"),
        run("cache ls --json", "cache", "ls", "--json"),
        run("cache verify --json", "cache", "verify", "--json"),
        run("validate-repo --json", "validate-repo", str(repo), "--json"),
        run("serve --print-command", "serve", str(repo), "--print-command", "--json"),
        run(
            "build --lock (fingerprints reproduce)",
            "build",
            "sec.yaml",
            "--lock",
            "out/sec/trtforge.lock.json",
        ),
    ]
    assert [r.returncode for r in ok] == [0] * len(ok), [
        (r.args, r.stderr[-300:]) for r in ok if r.returncode
    ]
    # error paths that carry or need the token
    bad = dict(
        RECIPE, serving={"model_name": "${HF_TOKEN}"}, description="token ${HF_TOKEN} in a description"
    )
    write_yaml(work / "bad-field.yaml", bad)
    write_yaml(work / "bad-rev.yaml", dict(RECIPE, model={**RECIPE["model"], "revision": "no-such-branch"}))
    errors = [
        run("invalid field holding the token", "build", "bad-field.yaml"),
        run("validate of it", "validate", "bad-field.yaml"),
        run("unknown revision", "build", "bad-rev.yaml", "--json"),
        run(
            "wrong token",
            "build",
            "sec.yaml",
            env={
                **world["env"],
                "HF_TOKEN": CANARY + "x",
                "TRTFORGE_CACHE": str(work / "cache-2"),
                "HF_HOME": str(work / "hf-home-2"),
            },
        ),
        run("plan, wrong token", "plan", "--model", REPO_ID + "@no-such", "--gpu", "H100-80GB"),
    ]
    assert all(r.returncode != 0 for r in errors), [(r.args, r.returncode) for r in errors]
    canary_x = CANARY + "x"
    for label, r in world["runs"].items():
        text = r.stdout + r.stderr
        assert CANARY not in text and canary_x not in text, label
        assert "Traceback" not in r.stderr, label
        figure("command runs scanned for the canary token")
    files, hits = _scan(work, CANARY.encode())
    assert hits == [], hits
    assert (work / "out" / "sec" / "trtforge.lock.json").is_file()
    assert files > 50
    figure("files scanned for the canary token", files)
    events = [json.loads(line) for line in built.stdout.splitlines()]
    assert events[-1]["event"] == "build_finished" and events[-1]["status"] == "complete"
    hub_auth = [r["auth"] for r in world["hub"].requests() if r["auth"]]
    assert f"Bearer {CANARY}" in hub_auth  # the token was really used: the scan above is meaningful


@pytest.mark.slow  # real builds and a real quantize worker with remote code present
@pytest.mark.xdist_group("secrets-world")
def test_remote_code_never_runs_unless_the_recipe_says_so(world) -> None:
    run, work = world["run"], world["work"]
    if "build --json" not in world["runs"]:
        assert run("build --json", "build", "sec.yaml", "--json").returncode == 0
    assert not world["marker"].exists(), world["marker"].read_text()
    out = work / "out" / "sec"
    shipped = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.py"))
    ours = (
        "/1/model.py",
        "/1/trtforge_model_utils.py",
    )  # trtforge's own python models; nothing of the checkpoint's
    assert all(p.endswith(ours) and p.startswith("model_repository/") for p in shipped), shipped
    plan = json.loads(run("plan default --json", "plan", "sec.yaml", "--json").stdout)
    assert not [w for w in plan["warnings"] if "trust_remote_code" in w]
    lock = json.loads((out / "trtforge.lock.json").read_text())
    # the Triton step records its BuildSpec section, where the flag sits
    flags = {
        s["name"]: {**s["params"], **s["params"].get("triton", {})}.get("trust_remote_code")
        for s in lock["steps"]
    }
    assert flags == {"download": False, "quantize": False, "triton_repo": False}
    for config in ("preprocessing", "postprocessing"):
        text = (out / "model_repository" / config / "config.pbtxt").read_text()
        assert re.findall(r'key: "trust_remote_code"\s*value\s*\{\s*string_value: "(\w+)"', text) == ["false"]
    write_yaml(work / "trusting.yaml", dict(RECIPE, model={**RECIPE["model"], "trust_remote_code": True}))
    trusting = run("plan trust_remote_code --json", "plan", "trusting.yaml", "--json")
    assert trusting.returncode == 0, trusting.stderr
    assert [w for w in json.loads(trusting.stdout)["warnings"] if "trust_remote_code" in w]
    table = run("plan trust_remote_code", "plan", "trusting.yaml")
    assert "warning" in table.stdout and "trust_remote_code" in table.stdout
    dry = json.loads(run("dry run trusting", "build", "trusting.yaml", "--dry-run", "--json").stdout)
    assert (
        dry["targets"][0]["steps"][0]["status"] == "will-run"
    )  # another fingerprint: not the untrusted build
    assert not world["marker"].exists()
    figure("remote-code checks (code present, never imported)")
