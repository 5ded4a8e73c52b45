"""The version rule: trtllm-build exists up to 1.2.x; the release table gives images per version."""

from __future__ import annotations

import pytest

from trtforge.errors import InvalidInput
from trtforge.toolchain import versions as v


@pytest.mark.parametrize(
    "version,engine",
    [
        ("1.2.1", True),
        ("1.2.0", True),
        ("1.2.0rc8", True),
        ("1.1.0", True),
        ("1.0.0", True),
        ("0.21.0", True),
        ("1.3.0rc21", False),
        ("1.3.0rc27", False),
        ("1.3.0", False),
        ("1.3.0.dev1", False),
        ("2.0.0", False),
    ],
)
def test_engine_backend_available(version: str, engine: bool) -> None:
    assert v.engine_backend_available(version) is engine


def test_version_order() -> None:
    ordered = [
        "0.9.0",
        "0.21.0",
        "1.0.0",
        "1.2.0rc8",
        "1.2.0",
        "1.2.0.post1",
        "1.2.1",
        "1.3.0.dev1",
        "1.3.0rc1",
        "1.3.0rc21",
        "1.3.0",
    ]
    assert sorted(ordered, key=v.version_key) == ordered


@pytest.mark.parametrize("bad", ["", "latest", "1.x", "v1.2.1"])
def test_bad_version_is_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        v.version_key(bad)


def test_images_for_versions() -> None:
    assert v.triton_image_for("1.2.1") == "nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3"
    assert v.triton_image_for("1.2.0") == "nvcr.io/nvidia/tritonserver:26.03-trtllm-python-py3"
    assert v.triton_image_for("1.1.0") == "nvcr.io/nvidia/tritonserver:26.02-trtllm-python-py3"
    assert v.triton_image_for("1.3.0rc27") is None
    assert v.release_image_for("1.2.1") == "nvcr.io/nvidia/tensorrt-llm/release:1.2.1"
    assert v.release_image_for("1.3.0rc27") == "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc27"


def test_release_rows() -> None:
    r = v.release("1.2.1")
    assert r.known and r.engine_backend and r.tensorrt == "10.14.1.48" and r.min_driver == "590.44.01"
    unknown = v.release("1.3.0rc27")
    assert not unknown.known and not unknown.engine_backend and unknown.triton_images == ()
    assert v.known_versions()[0] == "1.2.1" == v.default_version() == v.last_engine_version()


def test_resolve_triton_image() -> None:
    assert v.resolve_triton_image("1.2.1").endswith("26.07-trtllm-python-py3")
    assert v.resolve_triton_image("1.3.0rc27", "my/image:tag") == "my/image:tag"
    with pytest.raises(InvalidInput) as exc:
        v.resolve_triton_image("1.3.0rc27")
    assert "toolchain.triton_image" in exc.value.one_line()
