#!/usr/bin/env python3
"""Extract NVIDIA's Triton TensorRT-LLM backend facts per release into trtforge/data/triton/.

    # one release from any checkout (NVIDIA/TensorRT-LLM with triton_backend/, or tensorrtllm_backend):
    python scripts/extract_triton_backend.py extract SRC --version 1.2.1 --tag v1.2.1 --commit SHA \
        --repo NVIDIA/TensorRT-LLM
    # every pinnable version (trtforge/data/trtllm_versions.json) from a tensorrtllm_backend git directory:
    python scripts/extract_triton_backend.py scan GITDIR

`scan` exports each release tag that still holds the backend source (all_models/, inflight_batcher_llm/src/)
into a temporary directory (never into the repository) and extracts it; for every other version it records
where the source is (the TensorRT-LLM commit the release pins through the `tensorrt_llm` submodule) and that
it was not extracted, so `trtforge validate-repo` refuses engine repositories of that version instead of
guessing. Output: <version>.json per extracted release and versions.json (the index).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trtforge.triton.upstream import extract_release

OUT = ROOT / "trtforge" / "data" / "triton"
BACKEND_REPO = "triton-inference-server/tensorrtllm_backend"
TRTLLM_REPO = "NVIDIA/TensorRT-LLM"


def git(gitdir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(gitdir), *args], check=True, capture_output=True, text=True
    ).stdout


def git_ok(gitdir: Path, *args: str) -> str | None:
    try:
        return git(gitdir, *args)
    except subprocess.CalledProcessError:
        return None


def write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {path}")


def submodule_commit(gitdir: Path, ref: str) -> str | None:
    line = git_ok(gitdir, "ls-tree", ref, "tensorrt_llm")
    return line.split()[2] if line and line.split()[1] == "commit" else None


def dockerfile_version(gitdir: Path, ref: str) -> str | None:
    text = git_ok(gitdir, "show", f"{ref}:dockerfile/Dockerfile.triton.trt_llm_backend") or ""
    for line in text.splitlines():
        if line.startswith("ARG TENSORRTLLM_VER="):
            return line.split("=", 1)[1].strip()
    return None


def has_backend_source(gitdir: Path, ref: str) -> bool:
    return (
        git_ok(gitdir, "cat-file", "-e", f"{ref}:all_models/inflight_batcher_llm/tensorrt_llm/config.pbtxt")
        is not None
    )


def extract_ref(gitdir: Path, ref: str, version: str, tag: str | None, out: Path) -> dict:
    commit = git(gitdir, "rev-parse", f"{ref}^{{commit}}").strip()
    source = {
        "repo": BACKEND_REPO,
        "tag": tag,
        "commit": commit,
        "date": git(gitdir, "log", "-1", "--format=%cs", commit).strip(),
        "trtllm_commit": submodule_commit(gitdir, commit),
    }
    with tempfile.TemporaryDirectory(prefix="trtforge-backend-src-") as tmp:
        archive = subprocess.run(
            ["git", "--git-dir", str(gitdir), "archive", commit, "all_models", "inflight_batcher_llm"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        data = {"version": version, **extract_release(Path(tmp), source)}
    write(out / f"{version}.json", data)
    return source


def release_commits(gitdir: Path, version: str) -> list[str]:
    """Commits titled "TensorRT-LLM Backend v<version> release" on any branch (e.g. `rel`, which has no
    tags)."""
    out = git(gitdir, "log", "--all", "--format=%h %s", "-F", "-i", f"--grep=backend v{version} release")
    return [
        line.split()[0]
        for line in out.splitlines()
        if f"backend v{version} release" in line.lower() and submodule_commit(gitdir, line.split()[0])
    ]


def release_refs(gitdir: Path, release: dict) -> list[tuple[str, str | None, str | None]]:
    """(ref, TensorRT-LLM commit, TENSORRTLLM_VER) of the backend tag, its release commits and each Triton
    release branch."""
    version = release["version"]
    refs = []
    candidates = [f"v{version}", *release_commits(gitdir, version)]
    for branch in (f"r{t}" for t in release.get("triton_tags", [])):
        if git_ok(gitdir, "rev-parse", "--verify", "-q", branch):
            # Every submodule move on the branch while its Dockerfile named this version (a branch may pin
            # the release tag first and a later commit of the release branch after it).
            moves = git(gitdir, "log", "--format=%h", branch, "--", "tensorrt_llm").split()
            candidates += [m for m in reversed(moves) if dockerfile_version(gitdir, m) == version] + [branch]
    seen: set[tuple[str | None, str | None]] = set()
    for ref in candidates:
        if not git_ok(gitdir, "rev-parse", "--verify", "-q", ref):
            continue
        sub, ver = submodule_commit(gitdir, ref), dockerfile_version(gitdir, ref)
        if (sub, ver) not in seen:
            seen.add((sub, ver))
            refs.append((ref, sub, ver))
    return refs


def scan(gitdir: Path, out: Path) -> None:
    versions = json.loads((ROOT / "trtforge" / "data" / "trtllm_versions.json").read_text())
    index: dict[str, dict] = {}
    for release in versions["releases"]:
        version, tag = release["version"], f"v{release['version']}"
        refs = release_refs(gitdir, release)
        if refs and refs[0][0] == tag and has_backend_source(gitdir, tag):
            source = extract_ref(gitdir, tag, version, tag, out)
            index[version] = {"status": "extracted", "file": f"{version}.json", "source": source}
            continue
        index[version] = {
            "status": "not_extracted",
            "engine_backend": release.get("engine_backend", True),
            "why": (
                f"{BACKEND_REPO} holds no backend source for {version} (it moved to {TRTLLM_REPO} "
                "triton_backend/ in May 2025); the files at the TensorRT-LLM commit below were not available "
                "to the extractor. Run `scripts/extract_triton_backend.py extract` on a checkout of it."
            ),
            "pinned_by": [
                {"ref": ref, "trtllm_commit": sub, "dockerfile_trtllm_version": ver} for ref, sub, ver in refs
            ],
        }
    for line in versions.get("unreleased_lines", []):
        index[line["line"]] = {
            "status": "not_extracted",
            "engine_backend": bool(line.get("engine_backend")),
            "why": "no release of this line ships in a Triton image; its Triton backend has no engine "
            "(inflight_batcher_llm / C++) backend, only the llmapi model (trtllm_versions.json: "
            + line.get("note", "")
            + ")",
        }
    write(
        out / "versions.json",
        {
            "_about": "Which TensorRT-LLM versions have NVIDIA Triton backend facts extracted "
            "(scripts/extract_triton_backend.py scan); not_extracted versions are refused for engine "
            "repositories.",
            "scanned": {"repo": BACKEND_REPO, "head": git(gitdir, "rev-parse", "HEAD").strip()},
            "versions": index,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    one = sub.add_parser("extract", help="one release from a source checkout")
    one.add_argument("src", type=Path)
    one.add_argument("--version", required=True)
    one.add_argument("--tag")
    one.add_argument("--commit", required=True)
    one.add_argument("--repo", default=TRTLLM_REPO)
    one.add_argument("--name", help="output file stem (default: the version)")
    one.add_argument("--out", type=Path, default=OUT)
    many = sub.add_parser("scan", help="every pinnable version from a tensorrtllm_backend git directory")
    many.add_argument("gitdir", type=Path)
    many.add_argument("--out", type=Path, default=OUT)
    ref = sub.add_parser("ref", help="one commit of a tensorrtllm_backend git directory")
    ref.add_argument("gitdir", type=Path)
    ref.add_argument("commit")
    ref.add_argument("--name", required=True)
    ref.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.cmd == "extract":
        source = {"repo": args.repo, "tag": args.tag, "commit": args.commit}
        write(
            args.out / f"{args.name or args.version}.json",
            {"version": args.version, **extract_release(args.src, source)},
        )
    elif args.cmd == "scan":
        scan(args.gitdir, args.out)
    else:
        extract_ref(args.gitdir, args.commit, args.name, None, args.out)


if __name__ == "__main__":
    main()
