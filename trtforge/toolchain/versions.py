"""TensorRT-LLM releases: which images ship them and whether the TensorRT engine backend still exists.

Data: trtforge/data/trtllm_versions.json (Triton compatibility table + TensorRT-LLM release notes).
The rule that matters most: `trtllm-build` exists up to 1.2.x; TensorRT-LLM 1.3 (main) removed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from trtforge.errors import InvalidInput
from trtforge.toolchain.data import SPEC_INDEX, VERSIONS, extracted_versions, load

_VERSION_RE = re.compile(r"^(\d+(?:\.\d+)*?)(?:\.?(dev|a|b|rc|post)(\d*))?([+-].*)?$")
_PRE_RANK = {"dev": 0, "a": 1, "b": 2, "rc": 3, None: 4, "post": 5}
RELEASE_IMAGE_PATTERN = "nvcr.io/nvidia/tensorrt-llm/release:{version}"
ENGINE_MIN_SUPPORTED = "1.0.0"  # the extracted trtllm-build spec covers 1.0 - 1.2.x


def version_key(version: str) -> tuple[int, ...]:
    """Sortable key: 1.2.0rc8 < 1.2.0 < 1.2.0.post1 < 1.2.1; raises InvalidInput for a non-version."""
    m = _VERSION_RE.match(version.strip())
    if not m:
        raise InvalidInput(f"'{version}' is not a TensorRT-LLM version (expected e.g. 1.2.1 or 1.3.0rc27)")
    nums = [int(x) for x in m.group(1).split(".")]
    nums = (nums + [0, 0, 0, 0])[:4]
    return (*nums, _PRE_RANK[m.group(2)], int(m.group(3) or 0))


def _engine_removed_in() -> str:
    return str(load(VERSIONS)["engine_backend"]["removed_in"])


def last_engine_version() -> str:
    """The last TensorRT-LLM release that has `trtllm-build` (1.2.1)."""
    return str(load(VERSIONS)["engine_backend"]["last_version"])


def default_version() -> str:
    """The version a recipe gets when it pins none: the newest known release."""
    return str(load(VERSIONS)["default_version"])


def spec_versions() -> list[str]:
    """Versions whose option specs were extracted from TensorRT-LLM's source at their tag, newest first."""
    return sorted(extracted_versions(), key=version_key, reverse=True)


def spec_manifest_versions() -> list[str]:
    """Versions a recipe may pin that the spec manifest (trtforge/data/trtllm/specs.json) lists, newest
    first."""
    return sorted(load(SPEC_INDEX)["versions"], key=version_key, reverse=True)


def engine_backend_available(version: str) -> bool:
    """True when TensorRT-LLM `version` still has the TensorRT engine backend (`trtllm-build`): <= 1.2.x."""
    return version_key(version) < version_key(_engine_removed_in().replace("rc0", ".dev0"))


@dataclass(frozen=True)
class Release:
    """One row of the release table (trtllm_versions.json)."""

    version: str
    triton_images: tuple[str, ...]
    release_image: str | None
    tensorrt: str | None
    cuda: str | None
    min_driver: str | None
    python: str | None
    torch: str | None
    transformers: str | None
    modelopt: str | None
    engine_backend: bool
    known: bool  # False for a version missing from the table (e.g. a 1.3 pre-release)

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def known_versions() -> list[str]:
    """Released versions in the table, newest first."""
    return sorted((r["version"] for r in load(VERSIONS)["releases"]), key=version_key, reverse=True)


def release(version: str) -> Release:
    """The table row for `version`; for an unknown but well-formed version, a row with only what follows from
    it."""
    version_key(version)  # validates the format
    for row in load(VERSIONS)["releases"]:
        if row["version"] == version:
            return Release(
                version=version,
                triton_images=tuple(row["triton_images"]),
                release_image=row.get("release_image"),
                tensorrt=row.get("tensorrt"),
                cuda=row.get("cuda"),
                min_driver=row.get("min_driver"),
                python=row.get("python"),
                torch=row.get("torch"),
                transformers=row.get("transformers"),
                modelopt=row.get("modelopt"),
                engine_backend=bool(row["engine_backend"]),
                known=True,
            )
    return Release(
        version=version,
        triton_images=(),
        release_image=RELEASE_IMAGE_PATTERN.format(version=version),
        tensorrt=None,
        cuda=None,
        min_driver=None,
        python=None,
        torch=None,
        transformers=None,
        modelopt=None,
        engine_backend=engine_backend_available(version),
        known=False,
    )


def triton_image_for(version: str) -> str | None:
    """Newest `tritonserver:<yy.mm>-trtllm-python-py3` image that ships `version`, or None if none is
    known."""
    images = release(version).triton_images
    return images[-1] if images else None


def release_image_for(version: str) -> str:
    """NVIDIA's standalone TensorRT-LLM release container for `version`
    (nvcr.io/nvidia/tensorrt-llm/release)."""
    return release(version).release_image or RELEASE_IMAGE_PATTERN.format(version=version)


def resolve_triton_image(version: str, requested: str = "auto") -> str:
    """The Triton image for a recipe: its explicit choice, or the one that ships `version` (InvalidInput if
    none)."""
    if requested and requested != "auto":
        return requested
    image = triton_image_for(version)
    if image is None:
        shipped = ", ".join(f"{v}" for v in known_versions() if release(v).triton_images)
        raise InvalidInput(
            f"no known Triton trtllm-python-py3 image ships TensorRT-LLM {version}",
            hint=f"set toolchain.triton_image, or pin one of: {shipped}",
        )
    return image


def check_image_matches(image: str, trtllm_version: str) -> None:
    """Refuse an image whose TensorRT-LLM differs from the one the repository was built for (P3)."""
    if not trtllm_version:
        return
    tag = image.rsplit("/", 1)[-1]
    shipped_by = [
        v for v in known_versions() if any(i.rsplit("/", 1)[-1] == tag for i in release(v).triton_images)
    ]
    if shipped_by and trtllm_version not in shipped_by:
        raise InvalidInput(
            f"image {image} ships TensorRT-LLM {shipped_by[0]}, but the repository was built for "
            f"{trtllm_version}",
            hint="use the image recorded in the repository's README/trtforge.json",
        )
