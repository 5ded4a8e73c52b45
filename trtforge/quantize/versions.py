"""The library versions quantize/export is known to work with, checked without importing them.

ModelOpt 0.47.0 fails to export MXFP4 and fused-MoE (Mixtral) checkpoints with transformers 5.x (seen on the
H100 with 5.17, and on CPU with 5.14): in transformers 5 MoE experts are fused 3-D parameters the legacy
exporter cannot walk. With transformers 4.57.x the same exports work (docs/quantization.md). So we pin and
check.
"""

from __future__ import annotations

import os
from importlib import metadata

from trtforge.errors import ToolMissing

# distribution name -> (specifier, why)
SUPPORTED: dict[str, tuple[str, str]] = {
    "nvidia-modelopt": ("==0.47.0", "the quantize/export matrix was measured with 0.47.0"),
    "transformers": (
        ">=4.57,<4.58",
        "ModelOpt 0.47 exports MoE/MXFP4 checkpoints with transformers 4.57.x, not 5.x",
    ),
    "torch": (">=2.8", "ModelOpt 0.47 needs torch >= 2.8"),
    "accelerate": (">=1.0", "low-memory loading (device_map, meta-device init)"),
    "safetensors": (">=0.4", "checkpoint files"),
    "requests": (">=2", "modelopt.torch imports it without declaring it"),
}
ALLOW_ENV = "TRTFORGE_ALLOW_UNTESTED_VERSIONS"  # =1: warn instead of failing on a version mismatch
INSTALL_HINT = 'pip install "trtforge[ml]" (pins torch, transformers==4.57.6, nvidia-modelopt==0.47.0)'


def installed_versions(names: tuple[str, ...] = tuple(SUPPORTED)) -> dict[str, str | None]:
    """Installed version of each distribution, None where absent (importlib.metadata: nothing is imported)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _matches(version: str, spec: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        # "2.13.0+cpu" is 2.13.0 for our purpose: drop the local label
        return Version(Version(version).public) in SpecifierSet(spec)
    except InvalidVersion:
        return False


def version_problems(installed: dict[str, str | None] | None = None) -> list[str]:
    """One message per missing or unsupported library (empty: all good)."""
    installed = installed if installed is not None else installed_versions()
    problems = []
    for name, (spec, why) in SUPPORTED.items():
        have = installed.get(name)
        if have is None:
            problems.append(f"{name} is not installed (need {name}{spec}: {why})")
        elif not _matches(have, spec):
            problems.append(f"{name} {have} is not supported (need {name}{spec}: {why})")
    return problems


def check_versions(installed: dict[str, str | None] | None = None) -> list[str]:
    """Raise ToolMissing (exit 4) on a missing/unsupported library; return warnings if overridden by env."""
    problems = version_problems(installed)
    if not problems:
        return []
    if os.environ.get(ALLOW_ENV) == "1" and not any("not installed" in p for p in problems):
        return [f"{p} ({ALLOW_ENV}=1: continuing with an untested version)" for p in problems]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    raise ToolMissing(
        f"quantize: {problems[0]}{more}", hint=f"{INSTALL_HINT}; or set {ALLOW_ENV}=1 to try anyway"
    )
