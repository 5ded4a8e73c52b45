"""Installed versions of the packages that shape an artifact, read from package metadata.

importlib.metadata reads dist-info files: no `import torch` (seconds) just to learn torch's version.
"""

from __future__ import annotations

import platform
from functools import cache
from importlib import metadata

# Distribution names (as pip knows them) recorded in every lock file, when installed.
RECORDED = (
    "trtforge",
    "torch",
    "transformers",
    "nvidia-modelopt",
    "huggingface_hub",
    "safetensors",
    "tokenizers",
    "accelerate",
    "tensorrt_llm",
    "tensorrt",
    "nvidia-pytriton",
    "tritonclient",
    "numpy",
)


@cache
def version_of(dist: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """{name: version} for python and every RECORDED (+extra) distribution that is installed."""
    out = {"python": platform.python_version()}
    for dist in RECORDED + tuple(extra):
        v = version_of(dist)
        if v is not None:
            out[dist] = v
    return out


def tool_versions(*dists: str) -> dict[str, str]:
    """For Step.tool_versions(): {dist: version or 'absent'} (absence matters to a fingerprint too)."""
    return {d: version_of(d) or "absent" for d in dists}
