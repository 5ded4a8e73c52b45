"""Check generated shell scripts: `bash -n` always, shellcheck where it is installed."""

from __future__ import annotations

import shutil
import subprocess

from trtforge.errors import StepFailed

TIMEOUT_S = 30


def _run(argv: list[str], text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=text, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def script_problems(name: str, text: str, use_shellcheck: bool = True) -> list[str]:
    """Syntax errors (bash -n) and shellcheck findings of one script; empty when clean."""
    out = []
    r = _run(["bash", "-n"], text)
    if r.returncode:
        out.append(
            f"{name}: bash -n: {r.stderr.strip().splitlines()[0] if r.stderr.strip() else 'syntax error'}"
        )
    checker = shutil.which("shellcheck") if use_shellcheck else None
    if checker and not out:
        shell = "sh" if text.startswith("#!/bin/sh") else "bash"
        r = _run([checker, "--shell", shell, "--format", "gcc", "-"], text)
        if r.returncode:
            out += [
                f"{name}: shellcheck: {line.removeprefix('-:')}" for line in r.stdout.strip().splitlines()
            ]
    return out


def check_scripts(scripts: dict[str, str]) -> None:
    """StepFailed (a generator bug) when a generated script does not pass."""
    for name, text in scripts.items():
        found = script_problems(name, text)
        if found:
            raise StepFailed(f"generated script is invalid: {found[0]}")
