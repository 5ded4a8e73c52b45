"""The exit-4 hand-off travels: build a tiny Llama for an H100 engine here (no trtllm-build), copy only the
output directory elsewhere, delete the cache, and run the script there with a stand-in trtllm-build that
checks
what it is given. The terminal shows the same command the script runs."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.cli_inprocess import invoke
from tests.pipeline.conftest import write_recipe

# A stand-in for trtllm-build on "the GPU machine": fails unless the checkpoint it is given is a TensorRT-LLM
# checkpoint, then writes what a real build leaves in --output_dir.
FAKE_TRTLLM_BUILD = """#!/usr/bin/env bash
set -euo pipefail
while [ $# -gt 0 ]; do
  case "$1" in
    --checkpoint_dir) ck="$2"; shift 2;;
    --output_dir) outdir="$2"; shift 2;;
    *) shift;;
  esac
done
test -f "$ck/config.json" && test -f "$ck/rank0.safetensors"
mkdir -p "$outdir" && echo '{}' > "$outdir/config.json" && echo engine > "$outdir/rank0.engine"
"""


@pytest.mark.slow  # a real build, then the hand-off script run from a copy of the output
def test_handoff_runs_from_a_copied_output_directory(
    workdir: Path, tmp_path_factory, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("trtllm-build"):
        pytest.skip("trtllm-build is installed here: the compile step would run")
    write_recipe(
        workdir,
        target={"gpu": "H100"},
        engine={"backend": "tensorrt"},
        toolchain={"trtllm_version": "1.2.1"},
        outputs={"triton_repo": False},
        quantization={
            "format": "fp8",
            "calibration": {"samples": 4, "seq_len": 16},
            "accuracy": {"enabled": False},
        },
    )
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("TRTFORGE_CACHE", str(workdir / "cache"))
    code, _out, err = invoke(capsys, "build", "t.yaml")
    assert code == 4, err
    lines = err.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("to finish on a machine with the GPU"))
    assert "copy out/t there and run inside it:" in lines[at]
    printed = lines[at + 1].strip()
    assert printed.startswith("trtllm-build --checkpoint_dir ")
    assert lines[-1].startswith(
        "error: step 'compile_engine' could not run here: trtllm-build is not installed"
    )

    # Only the output directory travels: copy it, then remove the cache, the model and the original output.
    elsewhere = tmp_path_factory.mktemp("gpu-box") / "t"
    shutil.copytree(workdir / "out" / "t", elsewhere)
    for gone in ("cache", "out", "model"):
        shutil.rmtree(workdir / gone)
    script = elsewhere / "build-instructions" / "trtllm-build.sh"
    text = script.read_text()
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True, check=False).returncode == 0
    assert printed in [line.strip() for line in text.splitlines()]  # the terminal's command is the script's
    assert str(workdir) not in text  # nothing points back at this machine's cache or model

    # Every path the command names exists relative to the copy (outputs: their parent directory).
    argv = shlex.split(printed)
    for flag in ("--checkpoint_dir",):
        assert (elsewhere / argv[argv.index(flag) + 1] / "config.json").is_file(), flag
    for flag in ("--output_dir", "--output_timing_cache"):
        assert (elsewhere / argv[argv.index(flag) + 1]).parent.is_dir(), flag
    assert not Path(argv[argv.index("--checkpoint_dir") + 1]).is_absolute()
    # the container variant mounts the same published checkpoint
    volumes = [a for a in shlex.split(text.split("else", 1)[1].splitlines()[1]) if a.startswith("$PWD")]
    assert volumes and all(
        (elsewhere / v.split(":")[0].removeprefix("$PWD/")).is_dir()
        for v in volumes
        if v.split(":")[0] != "$PWD"
    )

    # Run it there, from another working directory, with the stand-in trtllm-build first on PATH.
    bin_dir = tmp_path_factory.mktemp("bin")
    tool = bin_dir / "trtllm-build"
    tool.write_text(FAKE_TRTLLM_BUILD)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    ran = subprocess.run(
        ["bash", str(script)], cwd="/", env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert (elsewhere / "engine" / "rank0.engine").is_file() and (
        elsewhere / "engine" / "config.json"
    ).is_file()


def test_handoff_command_is_shown_from_the_published_inputs(tmp_path: Path, capsys) -> None:
    """`build` shows the command recorded in build-instructions/compile-inputs.json: lines on stderr, or one
    JSON event with --json."""
    import json

    from trtforge.cli.build_cmds import _show_handoffs

    inst = tmp_path / "build-instructions"
    inst.mkdir()
    argv = ["trtllm-build", "--checkpoint_dir", "checkpoint/trtllm", "--output_dir", "engine"]
    (inst / "compile-inputs.json").write_text(
        json.dumps({"argv": argv, "script": "trtllm-build.sh", "trtllm_version": "1.2.1"})
    )
    _show_handoffs(tmp_path, as_json=False)
    err = capsys.readouterr().err.splitlines()
    assert err[1] == "  " + shlex.join(argv) and "bash build-instructions/trtllm-build.sh" in err[2]
    _show_handoffs(tmp_path, as_json=True)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and json.loads(out[0])["command"] == argv
