"""scripts/extract_triton_backend.py's analysis: which parameter reads have a fallback. The sources below are
written for this test (not NVIDIA's code); they mirror the three patterns NVIDIA's code uses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trtforge.triton.upstream import cpp_parameter_reads, python_parameter_reads, summarize_reads

ROOT = Path(__file__).resolve().parents[2]

CPP = r"""
executor::BatchingType getBatchingType()
{
    auto kind = model_state_->GetParameter<std::string>("kind_without_default");  // a "quoted { brace"
    /* GetParameter<int>("in_a_comment") { */
    int32_t width = 1;
    try
    {
        width = model_state_->GetParameter<int32_t>("width_with_default");
    }
    catch (std::exception const& e)
    {
    }
    if (mode == "lookahead")
    {
        auto n = model_state_->GetParameter<std::vector<std::vector<int32_t>>>("only_in_lookahead");
    }
    std::string fieldName = "named_by_variable";
    try
    {
        auto v = model_state_->GetParameter<SizeType32>(fieldName);
    }
    catch (...) {}
    return kind;
}
"""

PY = """
class TritonPythonModel:
    def initialize(self, args):
        model_config = json.loads(args['model_config'])
        tokenizer_dir = model_config['parameters']['tokenizer_dir']['string_value']
        special = model_config['parameters'].get('add_special_tokens')
        params = model_config['parameters']
        path = params['aliased_required']['string_value']
        if path:
            other = model_config['parameters']['only_if_path']['string_value']
        try:
            x = params['guarded']
        except KeyError:
            x = None
"""


def test_cpp_reads_outside_try_are_required():
    reads = summarize_reads(cpp_parameter_reads(CPP, "x.cc"))
    assert reads == {
        "required": ["kind_without_default"],
        "conditional": ["only_in_lookahead"],
        "optional": ["named_by_variable", "width_with_default"],
    }


def test_python_reads_without_get_are_required():
    reads = summarize_reads(python_parameter_reads(PY, "model.py"))
    assert reads == {
        "required": ["aliased_required", "tokenizer_dir"],
        "conditional": ["only_if_path"],
        "optional": ["add_special_tokens", "guarded"],
    }


BACKEND_GIT = Path("/work/.mirror/triton-inference-server+tensorrtllm_backend/repo")


@pytest.mark.skipif(
    not BACKEND_GIT.is_dir() or not shutil.which("git"), reason="no tensorrtllm_backend mirror"
)
def test_data_files_are_what_the_script_extracts(tmp_path):
    """The committed data equals a fresh extraction from NVIDIA's release tag (nothing edited by hand)."""
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/extract_triton_backend.py"),
            "scan",
            str(BACKEND_GIT),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    data = ROOT / "trtforge" / "data" / "triton"
    for fresh in sorted(tmp_path.glob("*.json")):
        committed = json.loads((data / fresh.name).read_text())
        new = json.loads(fresh.read_text())
        if fresh.name == "versions.json":
            committed.pop("scanned"), new.pop("scanned")  # the mirror's HEAD moves
        assert new == committed, fresh.name
