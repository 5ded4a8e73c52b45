"""Tensor / pipeline / expert parallel layouts a model allows, smallest first."""

from __future__ import annotations

from dataclasses import dataclass

from trtforge.models import ModelSpec


@dataclass(frozen=True)
class Layout:
    tp: int
    pp: int
    ep: int

    @property
    def world_size(self) -> int:
        return self.tp * self.pp


def layout_problems(spec: ModelSpec, tp: int, pp: int, ep: int, moe_backend: str | None) -> list[str]:
    """Why a layout cannot shard this model (empty when it can)."""
    problems = []
    if spec.num_attention_heads % tp:
        problems.append(f"tp={tp} does not divide the {spec.num_attention_heads} attention heads")
    kv = spec.num_kv_heads
    if not spec.mla and kv % tp and tp % kv:
        problems.append(f"tp={tp} neither divides nor is a multiple of the {kv} KV heads")
    if pp > spec.num_layers:
        problems.append(f"pp={pp} is more than the {spec.num_layers} layers")
    if ep > 1 and not spec.is_moe:
        problems.append(f"ep={ep} needs a mixture-of-experts model")
    if spec.is_moe:
        if tp % ep:
            problems.append(f"ep={ep} must divide tp={tp} (moe_tp x moe_ep = tp)")
        elif spec.num_experts % ep:
            problems.append(f"ep={ep} does not divide the {spec.num_experts} experts")
        if moe_backend == "TRITON" and ep != tp:
            problems.append(f"the TRITON MoE backend shards experts only (needs ep = tp = {tp})")
    return problems


def auto_ep(spec: ModelSpec, tp: int, moe_backend: str | None) -> int:
    """Expert parallelism for an MoE model: whole experts per GPU (ep = tp) when the experts divide evenly."""
    if not spec.is_moe or tp == 1:
        return 1
    if moe_backend == "TRITON" or spec.num_experts % tp == 0:
        return tp
    return 1


def candidate_layouts(
    spec: ModelSpec, gpus: int, tp: int | None, pp: int | None, ep: int | None, moe_backend: str | None
) -> tuple[list[Layout], list[str]]:
    """Valid layouts within `gpus`: tensor parallel alone first (smallest first), then with pipeline stages.

    Explicit tp / pp / ep pin those values; when a pinned layout is invalid the reasons come back instead.
    """
    layouts: list[Layout] = []
    rejected: list[str] = []
    tps = [tp] if tp else [t for t in range(1, gpus + 1)]
    pps = [pp] if pp else [p for p in range(1, gpus + 1)]
    for t in tps:
        for p in pps:
            if t * p > gpus:
                continue
            e = ep if ep else auto_ep(spec, t, moe_backend)
            problems = layout_problems(spec, t, p, e, moe_backend)
            if problems:
                if tp or pp or ep:
                    rejected.extend(problems)
                continue
            layouts.append(Layout(t, p, e))
    layouts.sort(key=lambda lay: (lay.pp > 1, lay.world_size, lay.pp))
    return layouts, list(dict.fromkeys(rejected))
