"""Target dynamo: an NVIDIA Dynamo DynamoGraphDeployment (nvidia.com/v1beta1) with a frontend and one
TensorRT-LLM worker component, its engine args in a ConfigMap.

Shape as in ai-dynamo/dynamo examples/backends/trtllm/deploy/v1beta1/ (agg-with-config.yaml @2ac51dda,
disagg-multinode.yaml @04521f47): `spec.components[]` with name, type (frontend | worker), replicas,
podTemplate and, across nodes, `multinode.nodeCount`; the worker runs `python3 -m dynamo.trtllm --model-path
--served-model-name --extra-engine-args <LLM-API YAML>`; the frontend `python3 -m dynamo.frontend
--http-port`. The Dynamo runtime image ships Dynamo's own TensorRT-LLM build (deploy.dynamo_image), not
necessarily the recipe's pinned version.
"""

from __future__ import annotations

from typing import Any

from trtforge.deploy import k8s
from trtforge.deploy.bundle import Bundle, manifests_yaml
from trtforge.deploy.context import DeployContext
from trtforge.deploy.readme import readme
from trtforge.deploy.settings import CONFIG_FILE

API_VERSION = "nvidia.com/v1beta1"


def _frontend(ctx: DeployContext) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": ctx.deploy.dynamo_image,
        "command": ["python3", "-m", "dynamo.frontend"],
        "args": ["--http-port", str(ctx.deploy.port)],
        "ports": [{"name": "http", "containerPort": ctx.deploy.port, "protocol": "TCP"}],
    }
    return {
        "name": "Frontend",
        "type": "frontend",
        "replicas": 1,
        "podTemplate": {"spec": {"containers": [container]}},
    }


def _worker(ctx: DeployContext, config_name: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": ctx.deploy.dynamo_image,
        "command": ["python3", "-m", "dynamo.trtllm"],
        "args": [
            "--model-path",
            ctx.model_dir,
            "--served-model-name",
            ctx.served_model_name,
            "--extra-engine-args",
            f"{k8s.CONFIG_MOUNT}/{CONFIG_FILE}",
        ],
        "env": [{"name": "HF_HOME", "value": f"{ctx.deploy.storage.mount_path}/.hf"}],
        "resources": k8s.gpu_resources(ctx.gpus_per_node),
        "volumeMounts": k8s.volume_mounts(ctx),
    }
    spec: dict[str, Any] = {}
    init = k8s.init_containers(ctx, ctx.deploy.dynamo_image)
    if init:
        spec["initContainers"] = init
    spec["containers"] = [container]
    spec["volumes"] = k8s.volumes(ctx, config_name)
    component: dict[str, Any] = {
        "name": "TRTLLMWorker",
        "type": "worker",
        "replicas": ctx.deploy.replicas,
        "podTemplate": {"spec": spec},
    }
    if ctx.multi_node:
        component["multinode"] = {"nodeCount": ctx.nodes}
    return component


def render(ctx: DeployContext) -> Bundle:
    k8s.require_model_source(ctx)
    config_name = f"{ctx.name}-engine-args"
    spec: dict[str, Any] = {
        "backendFramework": "trtllm",
        "components": [_frontend(ctx), _worker(ctx, config_name)],
    }
    if ctx.multi_node:  # as NVIDIA's multi-node example: the worker's MPI runs as root in the runtime image
        spec["env"] = [
            {"name": "OMPI_ALLOW_RUN_AS_ROOT", "value": "1"},
            {"name": "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "value": "1"},
        ]
    dgd = {
        "apiVersion": API_VERSION,
        "kind": "DynamoGraphDeployment",
        "metadata": k8s.metadata(ctx, ctx.name),
        "spec": spec,
    }
    docs = [k8s.config_map(ctx, config_name, {CONFIG_FILE: ctx.llm_api_yaml})]
    claim = k8s.pvc(ctx)
    if claim:
        docs.append(claim)
    docs.append(dgd)
    ns = ctx.deploy.namespace
    steps = [
        (
            "Install the Dynamo platform (Helm charts dynamo-crds and dynamo-platform, Dynamo >= 1.5 for "
            "nvidia.com/v1beta1)"
            + (
                "; multi-node workers need Grove + KAI-Scheduler (default) or LWS + Volcano."
                if ctx.multi_node
                else "."
            )
        ),
    ]
    if ctx.repo and ctx.deploy.storage.hf_token_secret:
        steps.append(
            f"For a gated model: `kubectl -n {ns} create secret generic {ctx.deploy.storage.hf_token_secret} "
            "--from-literal=HF_TOKEN=<your token>` (the manifests only name it)."
        )
    if not ctx.repo:
        steps.append(f"Copy the checkpoint into the PVC `{ctx.deploy.storage.pvc}` at `{ctx.model_dir}`.")
    steps.append(f"`kubectl apply -f manifests.yaml` (namespace {ns}).")
    ready = [
        f"`kubectl -n {ns} get dgd {ctx.name}` shows Ready True;",
        (
            f"port-forward the frontend service on {ctx.deploy.port}: `curl -s "
            f"localhost:{ctx.deploy.port}/v1/models` "
            f"lists `{ctx.served_model_name}`."
        ),
    ]
    notes = [
        (
            f"The worker image {ctx.deploy.dynamo_image} carries Dynamo's TensorRT-LLM; the options were "
            "planned "
            f"for TensorRT-LLM {ctx.plan.toolchain.trtllm_version}."
        ),
    ]
    files = {
        CONFIG_FILE: ctx.llm_api_yaml,
        "manifests.yaml": manifests_yaml(
            docs, [f"Generated by trtforge deploy --target dynamo for {ctx.recipe.name}"]
        ),
        "README.md": readme(
            ctx, "NVIDIA Dynamo (DynamoGraphDeployment)", steps, ready, [CONFIG_FILE, "manifests.yaml"], notes
        ),
    }
    return Bundle("dynamo", files=files, documents=docs)
