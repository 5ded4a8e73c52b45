"""What every deploy renderer needs, decided once from the recipe and the plan (pure data, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from trtforge.deploy.settings import llm_api_yaml
from trtforge.errors import Infeasible, InvalidInput
from trtforge.plan.model import Plan
from trtforge.recipe.schema import Recipe
from trtforge.toolchain.versions import release_image_for

TARGETS = ("trtllm-serve", "triton", "k8s-lws", "dynamo", "slurm")
HF_TOKEN_KEY = "HF_TOKEN"  # key inside the referenced Secret, and the variable huggingface_hub reads


@dataclass(frozen=True)
class DeployContext:
    recipe: Recipe
    plan: Plan
    name: str  # Kubernetes-safe object name
    llm_api_yaml: str  # the one LLM-API options text every target carries
    image: str  # TensorRT-LLM release image (trtllm-serve, LWS, Slurm)
    triton_image: str
    repo: str | None  # Hugging Face repo the init step downloads (None: the model is provided)
    revision: str  # pinned revision (the lock's resolved commit when deploying a build output)
    model_dir: str  # the checkpoint directory inside the containers / on the cluster's shared filesystem
    served_model_name: str
    nodes: int
    gpus_per_node: int  # GPUs each node (pod, srun task group) uses
    world_size: int

    @property
    def deploy(self):  # the recipe's deploy section
        return self.recipe.deploy

    @property
    def multi_node(self) -> bool:
        return self.nodes > 1


def k8s_name(recipe_name: str) -> str:
    """A DNS-1123 label from a recipe name (recipe names also allow '.' and '_')."""
    return re.sub(r"[^a-z0-9-]+", "-", recipe_name.lower()).strip("-")[:50] or "model"


def make_context(recipe: Recipe, plan: Plan, revision: str | None = None) -> DeployContext:
    """Decide names, images and the model's location once for all renderers. InvalidInput for a plan
    that cannot be deployed (infeasible, not the PyTorch backend, the CPU reference)."""
    if not plan.fits:
        first = plan.errors[0] if plan.errors else "no layout fits"
        raise Infeasible(f"the plan for {plan.target} does not fit: {first}")
    if plan.backend == "reference":
        raise InvalidInput("the cpu target has no GPU deployment: deploy plans a GPU target")
    text = llm_api_yaml(recipe, plan)
    d = recipe.deploy
    image = release_image_for(plan.toolchain.trtllm_version) if d.image == "auto" else d.image
    quantized_here = plan.quantization.source == "modelopt"
    repo = recipe.model.repo if (recipe.model.repo and d.storage.download and not quantized_here) else None
    model_dir = f"{d.storage.mount_path.rstrip('/')}/{k8s_name(recipe.name)}"
    topo = plan.topology
    return DeployContext(
        recipe=recipe,
        plan=plan,
        name=k8s_name(recipe.name),
        llm_api_yaml=text,
        image=image,
        triton_image=plan.toolchain.triton_image,
        repo=repo,
        revision=revision or recipe.model.revision,
        model_dir=model_dir,
        served_model_name=recipe.served_model_name,
        nodes=topo.nodes if topo else 1,
        gpus_per_node=topo.ranks_per_node if topo else plan.parallel.world_size,
        world_size=plan.parallel.world_size,
    )
