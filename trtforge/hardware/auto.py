"""`target.gpu: auto`: the GPU model and count NVML finds on this machine, as a concrete target.

Decided here and nowhere else (trtforge.plan.make_plan calls it): the GPU is the catalog entry of NVML device
0; `target.gpus`, when the recipe leaves it out, is how many local devices are that same model (one node,
every matching GPU); when the recipe sets it, it must not exceed that count. No GPU, or one the catalog does
not know, is exit 4 (the hardware the recipe asks for is missing here).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from trtforge.errors import ToolMissing
from trtforge.hardware.detect import LocalGPU, detect_gpus
from trtforge.recipe.schema import Target

AUTO = "auto"


def is_auto(target: Target) -> bool:
    return target.gpu.strip().lower() == AUTO


def describe_found(devices: list[LocalGPU]) -> str:
    """'2 x NVIDIA H100 80GB HBM3 (H100-SXM-80GB)': what NVML found, for the plan and messages."""
    names = list(dict.fromkeys(d.name for d in devices))
    parts = []
    for name in names:
        same = [d for d in devices if d.name == name]
        catalog = same[0].catalog.name if same[0].catalog else "not in the catalog"
        parts.append(f"{len(same)} x {name} ({catalog})")
    return ", ".join(parts)


def resolve_auto_target(
    target: Target, detect: Callable[[], list[LocalGPU]] = detect_gpus
) -> tuple[Target, list[LocalGPU]]:
    """A target with `gpu: auto` replaced by the local GPU's catalog name (and count); others as they are.

    Returns (target, the local devices it stands for). Raises ToolMissing (exit 4) with one line where NVML
    finds no GPU, or where GPU 0 is not in the catalog, or where the recipe asks for more GPUs than are here.
    """
    if not is_auto(target):
        return target, []
    found = detect()
    if not found:
        raise ToolMissing(
            "gpu 'auto': NVML finds no NVIDIA GPU on this machine",
            hint="name the GPU to plan for instead, e.g. H100; `trtforge gpus` lists them",
        )
    first = found[0]
    if first.catalog is None:
        raise ToolMissing(
            f"gpu 'auto': NVML finds {describe_found(found)}, which trtforge's GPU catalog does not know",
            hint="name a catalog GPU with the same memory and SM instead; `trtforge gpus` lists them",
        )
    same = [d for d in found if d.catalog is not None and d.catalog.name == first.catalog.name]
    explicit = "gpus" in target.model_fields_set
    count = target.gpus if explicit else len(same)
    if count > len(same):
        raise ToolMissing(
            f"gpu 'auto' with gpus {target.gpus}: NVML finds {len(same)} x {first.catalog.name} here "
            f"({describe_found(found)})",
            hint="lower target.gpus, or name the GPU instead of 'auto' to plan for another machine",
        )
    data = target.model_dump(exclude_unset=True)
    data.update(gpu=first.catalog.name, gpus=count)
    try:
        return Target.model_validate(data), same[:count]
    except ValidationError as exc:  # e.g. tp x pp larger than the GPUs found
        message = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
        raise ToolMissing(
            f"gpu 'auto': NVML finds {describe_found(found)}: {message}",
            hint="lower target.tp / target.pp, or plan for a named GPU setup",
        ) from None
