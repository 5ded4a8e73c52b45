"""Placing a parallel layout on nodes: tensor parallel inside an NVLink domain, pipeline stages across nodes.

A target is `nodes` x `gpus` GPUs. Ranks are numbered tensor-parallel first (rank = pp_rank x tp + tp_rank,
TensorRT-LLM's Mapping) and filled node by node; a layout that needs more than one node fills every node it
uses (each pod / srun task gets all of a node's GPUs), so a TP group stays on one node exactly when `tp`
divides the GPUs per node. TP all-reduces every layer and needs NVLink bandwidth; PP sends one activation per
stage boundary and tolerates the network between nodes. Where the catalog says a GPU's NVLink domain spans
nodes (GB200 NVL72), a TP group may span the nodes of one domain.

Single-node targets are unaffected: `placed_layouts` returns `candidate_layouts` unchanged for them.
"""

from __future__ import annotations

from trtforge.hardware import GPU
from trtforge.models import ModelSpec
from trtforge.plan.model import Topology
from trtforge.plan.parallel import Layout, auto_ep, candidate_layouts, layout_problems
from trtforge.recipe.schema import Target


def total_gpus(target: Target) -> int:
    return target.gpus * target.nodes


def nvlink_domain(target: Target, gpu: GPU) -> int:
    """GPUs one TP group may span: the node, or the catalog's multi-node NVLink domain (GB200 NVL72: 72)."""
    if gpu.nvlink_domain and gpu.nvlink_domain > target.gpus:
        return min(gpu.nvlink_domain, total_gpus(target))
    return target.gpus


def nodes_used(target: Target, layout: Layout) -> int:
    return -(-layout.world_size // target.gpus)


def placement_problems(target: Target, gpu: GPU, layout: Layout) -> list[str]:
    """Why a layout cannot be placed on the target's nodes (empty when it can)."""
    if target.nodes == 1:
        return []
    used = nodes_used(target, layout)
    problems = []
    if used > 1 and layout.world_size % target.gpus:
        # every node of a multi-node layout runs the same pod / srun task shape: all of its GPUs
        problems.append(f"tp x pp = {layout.world_size} does not fill whole nodes of {target.gpus} GPUs")
        return problems
    per_node = layout.world_size // used
    domain = nvlink_domain(target, gpu)
    if domain == target.gpus:
        if per_node % layout.tp:
            problems.append(
                f"tp={layout.tp} would span nodes: tensor parallelism stays within one node's "
                f"{target.gpus} NVLink-connected GPUs ({gpu.name}); use pp across nodes"
            )
    elif layout.tp > domain or (domain % layout.tp and layout.tp % per_node):
        problems.append(f"tp={layout.tp} does not fit {gpu.name}'s NVLink domain of {domain} GPUs")
    return problems


def placed_layouts(
    spec: ModelSpec,
    target: Target,
    gpu: GPU,
    tp: int | None,
    pp: int | None,
    ep: int | None,
    moe_backend: str | None,
) -> tuple[list[Layout], list[str]]:
    """Layouts over all of the target's GPUs that place TP inside an NVLink domain, in `candidate_layouts`'
    order (TP alone first, smallest first). One node: `candidate_layouts` itself."""
    if target.nodes == 1:
        return candidate_layouts(spec, target.gpus, tp, pp, ep, moe_backend)
    total = total_gpus(target)
    pinned = bool(tp or pp or ep)
    layouts: list[Layout] = []
    rejected: list[str] = []
    unplaceable: list[str] = []
    # tp beyond the NVLink domain never places, so only pinned values are tried there (to say why)
    for t in [tp] if tp else range(1, nvlink_domain(target, gpu) + 1):
        for p in [pp] if pp else range(1, total // t + 1):
            if t * p > total:
                continue
            e = ep if ep else auto_ep(spec, t, moe_backend)
            problems = layout_problems(spec, t, p, e, moe_backend)
            if problems:
                if pinned:
                    rejected.extend(problems)
                continue
            where = placement_problems(target, gpu, Layout(t, p, e))
            if where:
                unplaceable.extend(where)
                continue
            layouts.append(Layout(t, p, e))
    layouts.sort(key=lambda lay: (lay.pp > 1, lay.world_size, lay.pp))
    if pinned and not layouts:
        rejected.extend(unplaceable)  # why the pinned sizes cannot be placed, only when none can
    return layouts, list(dict.fromkeys(rejected))


def where_label(target: Target, gpu: GPU) -> str:
    """How plans name the hardware: '8×H100-SXM-80GB', or '2 nodes × 8×H100-SXM-80GB'."""
    one_node = f"{target.gpus}×{gpu.name}"
    return one_node if target.nodes == 1 else f"{target.nodes} nodes × {one_node}"


def more_gpus_hint(target: Target, gpu: GPU, world_size: int) -> str:
    """The 'needs more GPUs' suggestion, in GPUs for one node and in nodes x GPUs for a multi-node target."""
    if target.nodes == 1 and world_size <= 64:
        return f"needs {world_size}×{gpu.name}: use target.gpus: {world_size}"
    nodes = -(-world_size // target.gpus)
    return f"needs {nodes} nodes × {target.gpus}×{gpu.name}: use target.nodes: {nodes}"


def topology(target: Target, gpu: GPU, layout: Layout) -> Topology | None:
    """The plan's topology section for a multi-node target (None for one node: single-node plans are
    unchanged)."""
    if target.nodes == 1 or gpu.is_cpu:
        return None
    used = nodes_used(target, layout)
    per_node = layout.world_size if used == 1 else target.gpus
    domain = nvlink_domain(target, gpu)
    if used == 1:
        how = f"the layout fits one node: {target.nodes - 1} of the {target.nodes} nodes stay idle"
    elif domain > target.gpus:
        how = f"tp={layout.tp} inside {gpu.name}'s {domain}-GPU NVLink domain (spans nodes); pp={layout.pp}"
    else:
        how = (
            f"tp={layout.tp} inside each node (NVLink), pp={layout.pp} stages across {used} nodes "
            "(one activation transfer per stage boundary over the network)"
        )
    return Topology(
        nodes=used,
        nodes_available=target.nodes,
        gpus_per_node=target.gpus,
        ranks_per_node=per_node,
        world_size=layout.world_size,
        nvlink_domain_gpus=domain,
        placement=how,
    )


def with_gpus(target: Target, gpus: int) -> Target:
    """The target grown to `gpus` GPUs: more GPUs on its one node, or more whole nodes of the same size."""
    if target.nodes == 1:
        return target.model_copy(update={"gpus": gpus})
    return target.model_copy(update={"nodes": -(-gpus // target.gpus)})
