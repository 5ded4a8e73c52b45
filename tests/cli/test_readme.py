"""The README holds exactly two set-up commands, and CI runs the second one verbatim."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)


def test_two_setup_commands_and_ci_runs_the_test_one() -> None:
    blocks = bash_blocks()
    assert len(blocks) == 2 and all("\n" not in b for b in blocks)
    quick_start, tests = blocks
    assert tests in (ROOT / ".ci" / "run").read_text()
    assert "trtforge build recipes/smollm2-135m-cpu.yaml" in quick_start  # a real model first
    assert 'trtforge serve out/smollm2-135m-cpu --check "The capital of France is"' in quick_start


def test_the_quick_start_recipe_and_output_exist() -> None:
    assert (ROOT / "recipes" / "smollm2-135m-cpu.yaml").is_file()
    assert "name: smollm2-135m-cpu" in (ROOT / "recipes" / "smollm2-135m-cpu.yaml").read_text()
    assert (ROOT / "recipes" / "tiny-llama-cpu.yaml").is_file()  # the fast tests' recipe stays
