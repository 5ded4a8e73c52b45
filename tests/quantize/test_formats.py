"""The formats table: complete for the recipe schema, and check_support agrees with the measured CPU
matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trtforge.errors import InvalidInput
from trtforge.recipe.schema import KV_CACHE_DTYPES, QUANT_FORMATS
from trtforge.toolchain import quant_formats as formats

GOLDEN = Path(__file__).parent / "golden" / "matrix_cpu.json"  # scripts/bench_quantize.py --matrix, CPU
GOLDEN_GPU = Path(__file__).parent / "golden" / "matrix_h100.json"  # scripts/device_quantize.sh, H100
EXPORT_CELLS = {"hf": ("hf", 1), "trtllm_tp1": ("trtllm", 1), "trtllm_tp2": ("trtllm", 2)}


def test_every_modelopt_recipe_format_has_a_row():
    assert set(formats.format_names()) == set(QUANT_FORMATS) - {"none", "native"}
    for name in formats.format_names():
        spec = formats.get_format(name)
        assert spec.modelopt_config.endswith("_CFG")
        assert spec.quant_algo
    for kv in KV_CACHE_DTYPES:
        spec = formats.kv_spec(kv)
        assert (spec is None) == (kv in ("auto", "bf16", "fp16"))


def test_table_values_match_what_modelopt_wrote():
    assert formats.get_format("int4_awq").quant_algo == "W4A16_AWQ"
    assert formats.get_format("int4_awq").group_size == 128
    assert formats.get_format("nvfp4").group_size == 16
    assert formats.get_format("int8_sq").quant_algo == "W8A8_SQ_PER_CHANNEL"
    assert formats.kv_spec("fp8").kv_cache_quant_algo == "FP8"


def test_unknown_format_and_export_kind_are_invalid_input():
    with pytest.raises(InvalidInput, match="fp6"):
        formats.get_format("fp6")
    with pytest.raises(InvalidInput):
        formats.check_support("fp8", "LlamaForCausalLM", "onnx")
    with pytest.raises(InvalidInput):
        formats.kv_spec("int2")


def _golden_cells(path=GOLDEN):
    data = json.loads(path.read_text())
    for arch, row in data["cells"].items():
        for label, cell in row.items():
            fmt = label.split("+")[0]
            yield arch, label, fmt, cell


ALL_CELLS = [(p.stem, *c) for p in (GOLDEN, GOLDEN_GPU) for c in _golden_cells(p)]


@pytest.mark.parametrize(
    "where,arch,label,fmt,cell", ALL_CELLS, ids=[f"{w}-{a}-{lbl}" for w, a, lbl, _, _ in ALL_CELLS]
)
def test_check_support_agrees_with_the_measured_matrix(where, arch, label, fmt, cell):
    """Every measured failure is predicted (with a reason naming the combination), every success is
    allowed."""
    if cell["quantize"] == "needs_cuda":
        error, _ = formats.cpu_limits(fmt, None)
        assert error and "CUDA" in error and fmt in error
        return
    for name, (kind, tp) in EXPORT_CELLS.items():
        why = formats.check_support(fmt, arch, kind, tp=tp)
        expected_ok = cell["quantize"] == "ok" and cell[name] == "ok"
        if expected_ok:
            assert why is None, f"{arch} {label} {name}: measured ok but refused: {why}"
        else:
            assert why is not None, f"{arch} {label} {name}: measured failure not predicted"
            assert fmt in why and arch in why


def test_every_format_quantizes_on_the_gpu_and_reports_accuracy():
    for arch, label, _fmt, cell in _golden_cells(GOLDEN_GPU):
        assert cell["quantize"] == "ok", (arch, label)
        assert 0 < cell["top1_agreement"] <= 1 and cell["mean_kl"] >= 0


def test_accuracy_on_cpu_matches_the_table():
    for arch, label, fmt, cell in _golden_cells():
        if cell["quantize"] != "ok":
            continue
        kv = label.split("kv_")[1] if "kv_" in label else None
        _, note = formats.cpu_limits(fmt, kv)
        assert (note is None) == cell["accuracy_on_cpu"], (arch, label)


def test_cpu_messages_say_what_needs_a_gpu():
    error, note = formats.cpu_limits("nvfp4_awq", None)
    assert error == "nvfp4_awq needs a CUDA GPU for its awq_lite calibration search; this machine has none"
    error, note = formats.cpu_limits("nvfp4", None)
    assert error is None and note == "not measured on CPU (the nvfp4 quantized forward needs CUDA)"
    error, note = formats.cpu_limits("fp8", "nvfp4")
    assert error is None and "KV-cache" in note
    caps = formats.cpu_capabilities()
    assert caps["nvfp4_awq"] == "needs CUDA" and caps["fp8"] == "cpu" and "needs CUDA" in caps["mxfp4"]


def test_export_kind_follows_the_backend():
    assert formats.export_kinds_for("tensorrt") == ("trtllm",)
    assert formats.export_kinds_for("pytorch") == ("hf",)
    assert formats.export_kinds_for("reference") == ("hf",)
