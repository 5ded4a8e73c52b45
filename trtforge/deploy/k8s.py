"""Kubernetes building blocks shared by the LeaderWorkerSet and Dynamo renderers (plain dicts, no client)."""

from __future__ import annotations

import shlex
from typing import Any

from trtforge.deploy.commands import download_python
from trtforge.deploy.context import HF_TOKEN_KEY, DeployContext
from trtforge.errors import InvalidInput

MODEL_VOLUME = "model"
SHM_VOLUME = "dshm"
CONFIG_VOLUME = "trtforge-config"
CONFIG_MOUNT = "/etc/trtforge"


def require_model_source(ctx: DeployContext) -> None:
    """Pods need the checkpoint from somewhere: the init download, or a claim that holds it."""
    if ctx.repo is None and not ctx.deploy.storage.pvc:
        why = (
            "the model is quantized by `trtforge build`"
            if ctx.plan.quantization.source == "modelopt"
            else "the model is not downloaded from the hub (local path, or deploy.storage.download false)"
        )
        raise InvalidInput(
            f"{why}: Kubernetes pods need it on a volume",
            hint="set deploy.storage.pvc to a PersistentVolumeClaim and copy the checkpoint there",
        )


def labels(ctx: DeployContext) -> dict[str, str]:
    return {"app.kubernetes.io/name": ctx.name, "app.kubernetes.io/managed-by": "trtforge"}


def metadata(ctx: DeployContext, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": ctx.deploy.namespace, "labels": labels(ctx)}


def config_map(ctx: DeployContext, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(ctx, name), "data": data}


def pvc(ctx: DeployContext) -> dict[str, Any] | None:
    """The model PVC, when the recipe asks trtforge to emit it (storage.pvc_size)."""
    s = ctx.deploy.storage
    if not (s.pvc and s.pvc_size):
        return None
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": s.pvc_size}},
    }
    if s.storage_class:
        spec["storageClassName"] = s.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(ctx, s.pvc),
        "spec": spec,
    }


def volumes(ctx: DeployContext, config_map_name: str) -> list[dict[str, Any]]:
    s = ctx.deploy.storage
    model = (
        {"name": MODEL_VOLUME, "persistentVolumeClaim": {"claimName": s.pvc}}
        if s.pvc
        else {"name": MODEL_VOLUME, "emptyDir": {}}
    )
    return [
        model,
        {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": ctx.deploy.shm_size}},
        {"name": CONFIG_VOLUME, "configMap": {"name": config_map_name, "defaultMode": 0o555}},
    ]


def volume_mounts(ctx: DeployContext) -> list[dict[str, Any]]:
    return [
        {"name": MODEL_VOLUME, "mountPath": ctx.deploy.storage.mount_path},
        {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
        {"name": CONFIG_VOLUME, "mountPath": CONFIG_MOUNT, "readOnly": True},
    ]


def token_env(ctx: DeployContext) -> list[dict[str, Any]]:
    """HF_TOKEN from the referenced Secret (optional, so public models need none). Never a value."""
    secret = ctx.deploy.storage.hf_token_secret
    if not secret:
        return []
    ref = {"name": secret, "key": HF_TOKEN_KEY, "optional": True}
    return [{"name": HF_TOKEN_KEY, "valueFrom": {"secretKeyRef": ref}}]


def _marker(ctx: DeployContext) -> str:
    return f"{ctx.model_dir}/.trtforge-complete"


def wait_script(ctx: DeployContext) -> str:
    """Shell for a pod that shares the claim with the one that downloads: wait for its marker."""
    marker = _marker(ctx)
    return f'until [ -f "{marker}" ]; do echo "waiting for the model at {ctx.model_dir}"; sleep 10; done\n'


def download_script(ctx: DeployContext) -> str:
    """Shell for the init step: fetch the pinned revision once (a marker file makes it idempotent)."""
    marker = _marker(ctx)
    return (
        f'if [ -f "{marker}" ]; then echo "model present at {ctx.model_dir}"; exit 0; fi\n'
        f"python3 -c {shlex.quote(download_python(ctx, ctx.model_dir))}\n"
        f'touch "{marker}"\n'
    )


def init_containers(ctx: DeployContext, image: str, downloads: bool = True) -> list[dict[str, Any]]:
    """The download step, when the recipe's model comes from the hub and the recipe asks for it. A pod that
    shares the claim with the downloading one (`downloads` False) waits for it instead of racing it."""
    if ctx.repo is None:
        return []
    mounts = [{"name": MODEL_VOLUME, "mountPath": ctx.deploy.storage.mount_path}]
    if not downloads and ctx.deploy.storage.pvc:
        return [
            {
                "name": "wait-for-model",
                "image": image,
                "command": ["/bin/sh", "-c", wait_script(ctx)],
                "volumeMounts": mounts,
            }
        ]
    return [
        {
            "name": "download-model",
            "image": image,
            "command": ["/bin/sh", "-c", download_script(ctx)],
            "env": token_env(ctx),
            "volumeMounts": mounts,
        }
    ]


def http_probes(ctx: DeployContext, path: str, port_name: str = "http") -> dict[str, Any]:
    """Startup (model load may take `startup_seconds`), readiness and liveness on the server's health path."""
    period = 10
    get = {"path": path, "port": port_name}
    return {
        "startupProbe": {
            "httpGet": get,
            "periodSeconds": period,
            "failureThreshold": -(-ctx.deploy.startup_seconds // period),
        },
        "readinessProbe": {"httpGet": get, "periodSeconds": period, "failureThreshold": 3},
        "livenessProbe": {"httpGet": get, "periodSeconds": 30, "failureThreshold": 3},
    }


def gpu_resources(gpus: int) -> dict[str, Any]:
    return {"limits": {"nvidia.com/gpu": str(gpus)}, "requests": {"nvidia.com/gpu": str(gpus)}}


def service(ctx: DeployContext, name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(ctx, name),
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": ctx.deploy.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }
