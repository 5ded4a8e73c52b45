"""A ModelOpt checkpoint's quant_algo names the recipe format that produced it (read from the one quantization
table). Expected pairs are ModelOpt's own names for its configs (FP8_DEFAULT_CFG writes FP8, NVFP4_DEFAULT_CFG
NVFP4, INT4_AWQ_CFG W4A16_AWQ, W4A8_AWQ_BETA_CFG W4A8_AWQ), not read back from the table."""

import pytest

from trtforge.models.native_quant import parse_native_quant


@pytest.mark.parametrize(
    "algo,fmt",
    [
        ("FP8", "fp8"),
        ("NVFP4", "nvfp4"),
        ("W4A16_AWQ", "int4_awq"),
        ("W4A8_AWQ", "w4a8_awq"),
        ("FP8_BLOCK_SCALES", "fp8_block"),
        ("w4a16_awq", "int4_awq"),
        ("NOT_AN_ALGO", None),
    ],
)
def test_modelopt_quant_algo_maps_to_its_format(algo: str, fmt: str | None) -> None:
    native = parse_native_quant({"quantization_config": {"quant_method": "modelopt", "quant_algo": algo}})
    assert native is not None and native.format == fmt
