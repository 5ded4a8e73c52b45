"""The GPU catalog data file and name lookup."""

from __future__ import annotations

import pytest

from trtforge.errors import EXIT_INVALID, InvalidInput
from trtforge.hardware import find_gpu, gpu_for_nvml_name, load_catalog

REQUIRED = [
    "A100-40GB",
    "A100-80GB",
    "A10G",
    "L4",
    "L40S",
    "H100-PCIe-80GB",
    "H100-SXM-80GB",
    "H100-NVL-94GB",
    "H200-141GB",
    "GH200-96GB",
    "B200-180GB",
    "GB200-186GB",
    "B300-288GB",
    "RTX-PRO-6000-96GB",
    "cpu",
]


def test_catalog_lists_every_required_gpu() -> None:
    names = [g.name for g in load_catalog()]
    for name in REQUIRED:
        assert name in names
    assert len(names) == len(set(names))


@pytest.mark.parametrize("gpu", [g for g in load_catalog() if not g.is_cpu], ids=lambda g: g.name)
def test_precisions_follow_the_sm_rules(gpu) -> None:
    assert gpu.supports("fp8") == (gpu.sm >= 89)
    assert gpu.supports("nvfp4") == (gpu.sm >= 100)
    assert gpu.supports("mxfp8") == (gpu.sm >= 100)
    assert gpu.supports("bf16")
    assert 10_000 < gpu.memory_mib < 300_000 and gpu.bandwidth_tbs > 0


def test_known_figures() -> None:
    assert find_gpu("H100").memory_mib == 81559 and find_gpu("H100").sm == 90
    assert find_gpu("H200").memory_gib == pytest.approx(140.4, abs=0.1)
    assert find_gpu("B200").sm == 100 and find_gpu("B300").sm == 103
    assert find_gpu("L40S").sm == 89 and not find_gpu("L40S").nvlink
    assert find_gpu("cpu").is_cpu and find_gpu("cpu").sm is None


@pytest.mark.parametrize(
    "alias,name",
    [
        ("H100-80GB", "H100-SXM-80GB"),
        ("h100 sxm", "H100-SXM-80GB"),
        ("H100_PCIe", "H100-PCIe-80GB"),
        ("h200", "H200-141GB"),
        ("gb200", "GB200-186GB"),
        ("A100", "A100-40GB"),
        ("rtx pro 6000", "RTX-PRO-6000-96GB"),
        ("CPU", "cpu"),
    ],
)
def test_aliases(alias: str, name: str) -> None:
    assert find_gpu(alias).name == name


def test_unknown_gpu_says_did_you_mean() -> None:
    with pytest.raises(InvalidInput) as exc:
        find_gpu("H1000")
    assert exc.value.exit_code == EXIT_INVALID
    assert "did you mean" in exc.value.one_line() and "H100-SXM-80GB" in exc.value.one_line()
    with pytest.raises(InvalidInput, match="unknown GPU 'banana'"):
        find_gpu("banana")


@pytest.mark.parametrize(
    "nvml,name",
    [
        ("NVIDIA H100 80GB HBM3", "H100-SXM-80GB"),
        ("NVIDIA H100 PCIe", "H100-PCIe-80GB"),
        ("NVIDIA H100 NVL", "H100-NVL-94GB"),
        ("NVIDIA H200", "H200-141GB"),
        ("NVIDIA GH200 480GB", "GH200-96GB"),
        ("NVIDIA B200", "B200-180GB"),
        ("NVIDIA GB200", "GB200-186GB"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA A10G", "A10G"),
        ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "RTX-PRO-6000-96GB"),
    ],
)
def test_nvml_names_map_to_catalog(nvml: str, name: str) -> None:
    gpu = gpu_for_nvml_name(nvml)
    assert gpu is not None and gpu.name == name


def test_unlisted_nvml_name() -> None:
    assert gpu_for_nvml_name("NVIDIA GeForce RTX 4090") is None
