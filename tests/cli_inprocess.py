"""Run the trtforge CLI in this process (faster than a subprocess), through the same error mapping as the
console script: returns (exit code, stdout, stderr)."""

from __future__ import annotations

import pytest


def invoke(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    from trtforge.cli.app import main

    capsys.readouterr()  # drop what earlier code printed
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err
