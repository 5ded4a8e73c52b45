"""A GGUF file of a Hugging Face repo (`model: {repo, revision, gguf: {file}}`), fetched by the real
huggingface_hub client from the local fake hub (in a subprocess, as a user runs `trtforge plan`): pinned,
cached by sha256, the
hub's commit recorded."""

from __future__ import annotations

import hashlib
import json

from tests.conftest import run_cli
from tests.models.test_gguf import write_gguf

RECIPE = (
    "name: r\nmodel:\n  repo: org/tiny-gguf\n  gguf: {{file: m.Q8_0.gguf, sha256: '{sha}'}}\ntarget: "
    "{{gpu: cpu}}\n"
)


def test_gguf_file_of_a_hub_repo(tmp_path, fake_hub, clean_hf_env):
    data = write_gguf(tmp_path / "m.gguf").read_bytes()
    commit = fake_hub.add_repo("org/tiny-gguf", {"m.Q8_0.gguf": data, "README.md": b"hi"})
    digest = hashlib.sha256(data).hexdigest()
    env = {"HF_ENDPOINT": fake_hub.url, "TRTFORGE_CACHE": str(tmp_path / "cache")}
    good = tmp_path / "good.yaml"
    good.write_text(RECIPE.format(sha=digest))
    r = run_cli("plan", str(good), "--json", env=env)
    assert r.returncode == 0, r.stderr
    record = json.loads((tmp_path / "cache" / "gguf" / f"{digest}.json").read_text())
    assert record == {
        "source": "hub",
        "repo": "org/tiny-gguf",
        "revision": commit,
        "file": "m.Q8_0.gguf",
        "sha256": digest,
        "size": len(data),
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text(RECIPE.format(sha="f" * 64))
    r = run_cli("plan", str(bad), env=env)
    assert r.returncode == 2 and "does not match the recipe's pin" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
