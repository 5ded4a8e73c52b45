"""Paths: names, output directories and checkpoint contents cannot escape where they belong, and an emitted
model repository carries no absolute path of the build machine.

- recipe `name` and `serving.model_name` become directory and model names: `..`, `/`, absolute, `~`, NUL,
  unicode are refused (exit 2);
- an output directory trtforge did not make (a non-empty directory without trtforge.lock.json: `/`, `..`, a
  project folder) or a file is never replaced or written into: exit 2, untouched;
- hub file names that climb (`..`, `../x`, `a/../../x`) or are absolute never produce a file outside the cache
  and the output, even with allow_patterns ['*'];
- a symlink inside a local checkpoint directory that points outside it is refused (exit 2), so no outside file
  (a key, /etc/...) is pulled into the build; links inside it, and an HF cache snapshot's ../../blobs/, work;
- the written Triton repositories (reference runtime, PyTorch llmapi layout) hold no build-machine path in any
  file, no symlink, and `validate-repo` agrees.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from tests.pipeline.hubserver import FakeHub
from tests.reliability.conftest import base_env, figure, tree, trtforge_here, write_yaml

BASE = {
    "model": {"path": "model"},
    "target": {"gpu": "cpu"},
    "quantization": {"format": "none"},
    "engine": {"max_batch_size": 2, "max_seq_len": 128},
}
BAD_NAMES = [
    "..",
    ".",
    "../up",
    "a/b",
    "/abs",
    "~root",
    "a\x00b",
    "ünï",
    "A-Upper",
    "-dash",
    "x" * 65,
    "",
    "a\nb",
    "con/..",
    "%2e%2e",
    "a\\b",
    "a b",
]


@pytest.mark.parametrize("field", ["name", "serving.model_name"])
def test_hostile_names_are_refused(tmp_path: Path, field: str) -> None:
    for bad in BAD_NAMES:
        doc = {"name": "ok", **BASE}
        if field == "name":
            doc["name"] = bad
        else:
            doc["serving"] = {"model_name": bad}
        write_yaml(tmp_path / "r.yaml", doc)
        r = trtforge_here(tmp_path, "build", "r.yaml", "--dry-run")
        assert r.returncode == 2, (bad, r.stderr)
        assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, (bad, r.stderr)
        assert f": {field}: must be lowercase" in r.stderr, (bad, r.stderr)
        figure("hostile names refused")
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "up").exists()


def test_output_directories_trtforge_did_not_make_are_never_touched(tmp_path: Path, model_dir: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "keep.txt").write_text("precious")
    a_file = tmp_path / "a-file"
    a_file.write_text("precious")
    cases = {
        "outputs.dir": [str(project), "..", "/", str(a_file)],
        "--output": [str(project), "..", "/", str(a_file)],
    }
    before = {project: tree(project)}
    siblings = sorted(p.name for p in tmp_path.parent.iterdir())
    for how, dirs in cases.items():
        for target in dirs:
            doc = {"name": "o", **BASE, "outputs": {"triton_repo": False}}
            extra: list[str] = []
            if how == "outputs.dir":
                doc["outputs"]["dir"] = target
            else:
                extra = ["--output", target]
            write_yaml(tmp_path / "o.yaml", doc)
            r = trtforge_here(tmp_path, "build", "o.yaml", *extra)
            assert r.returncode == 2, (how, target, r.stderr)
            line = r.stderr.strip().splitlines()[-1]
            assert line.startswith("error: output") and (
                "not made by trtforge" in line or "not a directory" in line
            )
            figure("foreign output directories refused")
    assert tree(project) == before[project] and a_file.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.parent.iterdir() if p.name.startswith(tmp_path.name)) == [
        tmp_path.name
    ]
    assert not set(p.name for p in tmp_path.parent.iterdir() if p.name.startswith(("o", "..", "out"))) - set(
        siblings
    )
    assert not [p for p in Path("/").iterdir() if p.name.startswith(".tmp-") or "trtforge.lock" in p.name]


def test_hub_file_names_cannot_climb_out(tmp_path: Path, tiny_model: Path) -> None:
    tag = uuid.uuid4().hex[:12]
    victim = tmp_path / "victim"
    victim.mkdir()
    # the snapshot is <tmp>/hf-home/hub/models--acme--evil/snapshots/<sha>/; staging is
    # <tmp>/cache/tmp/<x>/out/
    hostile = [
        "..",
        f"../evil-{tag}.json",
        "../" * 5 + f"victim/evil-{tag}.json",
        f"a/../../../evil-{tag}.json",
        str(victim / f"evil-{tag}.json"),
        f"/evil-{tag}.json",
    ]
    model_files = {p.name: p.read_bytes() for p in tiny_model.iterdir() if p.is_file()}
    hub = FakeHub().start()
    try:
        for i, name in enumerate(hostile):
            repo = f"acme/evil{i}"
            hub.add_repo(repo, {**model_files, name: b'{"evil": true}'})
            work = tmp_path / f"w{i}"
            work.mkdir()
            write_yaml(
                work / "r.yaml",
                {
                    "name": "r",
                    "model": {"repo": repo, "allow_patterns": ["*"]},
                    "target": {"gpu": "cpu"},
                    "quantization": {"format": "none"},
                    "outputs": {"triton_repo": False},
                },
            )
            r = trtforge_here(work, "build", "r.yaml", env=base_env(work, HF_ENDPOINT=hub.url))
            assert "Traceback" not in r.stderr and "internal error" not in r.stderr, (name, r.stderr)
            assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
            assert "the hub lists a file name that leaves the checkpoint directory" in r.stderr, (
                name,
                r.stderr,
            )
            figure("hostile hub file names tried")
    finally:
        hub.stop()
    escaped = [
        str(p)
        for p in tmp_path.parent.rglob(f"*evil-{tag}*")
        if tmp_path / "w" not in p.parents
        and not any(
            str(p).startswith(str(tmp_path / f"w{i}" / d))
            for i in range(len(hostile))
            for d in ("cache", "hf-home", "tmp", "out")
        )
    ]
    assert escaped == [] and list(victim.iterdir()) == []
    assert not Path(f"/evil-{tag}.json").exists()


def test_symlink_in_a_local_checkpoint_cannot_pull_in_outside_files(tmp_path: Path, model_dir: Path) -> None:
    secret = tmp_path / "outside" / "host-secret.txt"
    secret.parent.mkdir()
    secret.write_text("host secret " + uuid.uuid4().hex)
    (model_dir / "LICENSE").symlink_to(secret)
    write_yaml(tmp_path / "r.yaml", {"name": "r", **BASE, "outputs": {"triton_repo": False}})
    r = trtforge_here(tmp_path, "build", "r.yaml")
    leaked = [
        p for p in (tmp_path / "out").rglob("*") if p.is_file() and secret.read_bytes() in p.read_bytes()
    ]
    assert leaked == [] and r.returncode == 2, (r.returncode, r.stderr, leaked)
    assert f"LICENSE is a symlink to {secret}, outside the checkpoint directory" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # links that stay inside, and a Hugging Face cache snapshot's links to ../../blobs/, are fine
    (model_dir / "LICENSE").unlink()
    (model_dir / "LICENSE").symlink_to("generation_config.json")
    snap = tmp_path / "hub" / "models--acme--x" / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (tmp_path / "hub" / "models--acme--x" / "blobs").mkdir()
    for f in model_dir.iterdir():
        blob = tmp_path / "hub" / "models--acme--x" / "blobs" / f.name
        blob.write_bytes(f.read_bytes())
        (snap / f.name).symlink_to(Path("..") / ".." / "blobs" / f.name)
    for path in (model_dir, snap):
        write_yaml(
            tmp_path / "r.yaml",
            {"name": "r", **BASE, "model": {"path": str(path)}, "outputs": {"triton_repo": False}},
        )
        ok = trtforge_here(tmp_path, "build", "r.yaml")
        assert ok.returncode == 0, (path, ok.stderr)
    figure("checkpoint symlink escapes refused")


def test_emitted_repositories_hold_no_build_machine_path(tmp_path: Path, model_dir: Path) -> None:
    for name, target in (("ref", {"gpu": "cpu"}), ("gpu", {"gpu": "H100-80GB"})):
        write_yaml(tmp_path / f"{name}.yaml", {"name": name, **BASE, "target": target})
        r = trtforge_here(tmp_path, "build", f"{name}.yaml")
        assert r.returncode == 0, r.stderr
    machine = {
        str(tmp_path),
        str(tmp_path.resolve()),
        str(Path.home()),
        sys.prefix,
        sys.base_prefix,
        str(Path(__file__).resolve().parents[2]),
        os.environ.get("TMPDIR") or "/tmp/",
    }
    machine = {m for m in machine if m and m != "/"}
    checked = 0
    for name in ("ref", "gpu"):
        repo = tmp_path / "out" / name / "model_repository"
        for p in repo.rglob("*"):
            assert not p.is_symlink(), p
            if p.is_file():
                data = p.read_bytes()
                found = [m for m in machine if m.encode() in data]
                assert found == [], (p.relative_to(repo), found)
                checked += 1
        r = trtforge_here(tmp_path, "validate-repo", str(repo))
        assert r.returncode == 0, r.stderr
    assert checked > 20
    figure("emitted repository files scanned for build-machine paths", checked)
