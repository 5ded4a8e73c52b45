"""Target k8s-lws: a LeaderWorkerSet (kubernetes-sigs/lws v0.10.0, leaderworkerset.x-k8s.io/v1).

One group per replica, one pod per node (`leaderWorkerTemplate.size` = nodes), each pod with all its node's
GPUs. One node: the pod runs trtllm-serve, which starts its ranks itself. Several nodes: the leader waits for
its group, then `mpirun` starts one `trtllm-llmapi-launch trtllm-serve` rank per GPU across the group's pods,
reaching them through `kubectl exec` as Open MPI's rsh agent — the method of LWS's own TensorRT-LLM example
(docs/examples/tensorrt-llm @v0.10.0: a Role with pods get/list and pods/exec create). The image must then
carry kubectl; workers idle until the leader's mpirun starts their ranks.
"""

from __future__ import annotations

from typing import Any

from trtforge.deploy import k8s
from trtforge.deploy.bundle import Bundle, manifests_yaml
from trtforge.deploy.commands import sh, trtllm_serve_argv
from trtforge.deploy.context import DeployContext
from trtforge.deploy.readme import readme
from trtforge.deploy.settings import CONFIG_FILE

API_VERSION = "leaderworkerset.x-k8s.io/v1"
GROUP_KEY_LABEL = "leaderworkerset.sigs.k8s.io/group-key"
SET_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
HEALTH_PATH = "/health"
LAUNCH = "launch.sh"
RSH_AGENT = "kubessh"


def rsh_agent() -> str:
    return (
        "#!/bin/sh\n"
        "# Open MPI's rsh agent: run the command on pod $1 through kubectl exec.\n"
        'pod="$1"\n'
        "shift\n"
        'exec kubectl exec "$pod" -n "$POD_NAMESPACE" -- /bin/sh -c "$*"\n'
    )


def leader_script(ctx: DeployContext) -> str:
    serve = trtllm_serve_argv(ctx, ctx.model_dir, f"{k8s.CONFIG_MOUNT}/{CONFIG_FILE}", launcher=True)
    selector = f"{GROUP_KEY_LABEL}=$GROUP_KEY"
    return (
        "\n".join(
            [
                "#!/usr/bin/env bash",
                f"# Leader of one LeaderWorkerSet group: {ctx.world_size} ranks over {ctx.nodes} pods of "
                f"{ctx.gpus_per_node} GPUs.",
                "set -euo pipefail",
                ': "${LWS_GROUP_SIZE:?set by LeaderWorkerSet}" "${GROUP_KEY:?}" "${POD_NAMESPACE:?}"',
                "running() {",
                f'  kubectl get pods -n "$POD_NAMESPACE" -l "{selector}" --field-selector '
                "status.phase=Running -o name | wc -l",
                "}",
                'until [ "$(running)" -ge "$LWS_GROUP_SIZE" ]; do',
                '  echo "waiting for the $LWS_GROUP_SIZE pods of group $GROUP_KEY"',
                "  sleep 5",
                "done",
                "# the leader's name is a prefix of its workers' names: sorted, it comes first and gets rank "
                "0",
                f'HOSTS="$(kubectl get pods -n "$POD_NAMESPACE" -l "{selector}" -o jsonpath=\'{{range '
                '.items[*]}{.metadata.name}{"\\n"}{end}\' \\',
                f'  | sort | sed "s/\\$/:{ctx.gpus_per_node}/" | paste -sd, -)"',
                'echo "ranks on $HOSTS"',
                f"exec mpirun --allow-run-as-root -mca plm_rsh_agent {k8s.CONFIG_MOUNT}/{RSH_AGENT} \\",
                f'  -np {ctx.world_size} --host "$HOSTS" -x HF_HOME \\',
                f"  {sh(serve)}",
            ]
        )
        + "\n"
    )


def _env(ctx: DeployContext, leader: bool) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": "HF_HOME", "value": f"{ctx.deploy.storage.mount_path}/.hf"}]
    if ctx.multi_node and leader:
        env += [
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {
                "name": "GROUP_KEY",
                "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{GROUP_KEY_LABEL}']"}},
            },
        ]
    return env


def _pod(ctx: DeployContext, config_name: str, role: str) -> dict[str, Any]:
    leader = role == "leader"
    container: dict[str, Any] = {"name": role, "image": ctx.image}
    if not ctx.multi_node:
        container["command"] = trtllm_serve_argv(
            ctx, ctx.model_dir, f"{k8s.CONFIG_MOUNT}/{CONFIG_FILE}", launcher=False
        )
    elif leader:
        container["command"] = ["/bin/bash", f"{k8s.CONFIG_MOUNT}/{LAUNCH}"]
    else:
        container["command"] = [
            "/bin/sh",
            "-c",
            "echo 'ranks start from the leader (mpirun)'; exec sleep infinity",
        ]
    container["env"] = _env(ctx, leader)
    if leader:
        container["ports"] = [{"name": "http", "containerPort": ctx.deploy.port, "protocol": "TCP"}]
        container.update(k8s.http_probes(ctx, HEALTH_PATH))
    container["resources"] = k8s.gpu_resources(ctx.gpus_per_node)
    container["volumeMounts"] = k8s.volume_mounts(ctx)
    spec: dict[str, Any] = {}
    if ctx.multi_node:
        spec["serviceAccountName"] = f"{ctx.name}-launcher"
    init = k8s.init_containers(
        ctx, ctx.image, downloads=leader
    )  # workers on a shared claim wait for the leader
    if init:
        spec["initContainers"] = init
    spec["containers"] = [container]
    spec["volumes"] = k8s.volumes(ctx, config_name)
    return {"metadata": {"labels": {**k8s.labels(ctx), "role": role}}, "spec": spec}


def _rbac(ctx: DeployContext) -> list[dict[str, Any]]:
    sa = f"{ctx.name}-launcher"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": k8s.metadata(ctx, sa)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": k8s.metadata(ctx, sa),
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": k8s.metadata(ctx, sa),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ctx.deploy.namespace}],
        },
    ]


def render(ctx: DeployContext) -> Bundle:
    k8s.require_model_source(ctx)
    config_name = f"{ctx.name}-trtforge"
    data = {CONFIG_FILE: ctx.llm_api_yaml}
    scripts: dict[str, str] = {}
    if ctx.multi_node:
        scripts = {LAUNCH: leader_script(ctx), RSH_AGENT: rsh_agent()}
        data.update(scripts)
    lwt: dict[str, Any] = {"size": ctx.nodes, "restartPolicy": "RecreateGroupOnPodRestart"}
    if ctx.multi_node:
        lwt["leaderTemplate"] = _pod(ctx, config_name, "leader")
        lwt["workerTemplate"] = _pod(ctx, config_name, "worker")
    else:
        lwt["workerTemplate"] = _pod(ctx, config_name, "leader")
    lws = {
        "apiVersion": API_VERSION,
        "kind": "LeaderWorkerSet",
        "metadata": k8s.metadata(ctx, ctx.name),
        "spec": {
            "replicas": ctx.deploy.replicas,
            "startupPolicy": "LeaderCreated",
            "leaderWorkerTemplate": lwt,
        },
    }
    docs = [k8s.config_map(ctx, config_name, data)]
    if ctx.multi_node:
        docs += _rbac(ctx)
    claim = k8s.pvc(ctx)
    if claim:
        docs.append(claim)
    docs += [lws, k8s.service(ctx, ctx.name, {SET_NAME_LABEL: ctx.name, WORKER_INDEX_LABEL: "0"})]
    ns = ctx.deploy.namespace
    steps = [
        "Install LeaderWorkerSet v0.10.0 in the cluster (kubernetes-sigs/lws release manifests or Helm "
        "chart).",
    ]
    if ctx.repo and ctx.deploy.storage.hf_token_secret:
        steps.append(
            f"For a gated model: `kubectl -n {ns} create secret generic {ctx.deploy.storage.hf_token_secret} "
            "--from-literal=HF_TOKEN=<your token>` (the manifests only name it)."
        )
    if not ctx.repo:
        steps.append(
            f"Copy the checkpoint (the build output's `checkpoint/`) into the PVC `{ctx.deploy.storage.pvc}` "
            "at "
            f"`{ctx.model_dir}` (pods mount it at {ctx.deploy.storage.mount_path})."
        )
    if ctx.multi_node:
        steps.append(
            "Use an image that has `kubectl` on PATH (the leader starts the ranks through `kubectl exec`); "
            f"default {ctx.image} (set deploy.image)."
        )
    steps.append(f"`kubectl apply -f manifests.yaml` (namespace {ns}).")
    ready = [
        f"`kubectl -n {ns} get lws {ctx.name}` shows READY {ctx.deploy.replicas}/{ctx.deploy.replicas};",
        f"`kubectl -n {ns} port-forward svc/{ctx.name} {ctx.deploy.port}` then `curl -sf "
        f"localhost:{ctx.deploy.port}{HEALTH_PATH}` answers 200;",
        f"the leader pod's startup probe allows {ctx.deploy.startup_seconds} s for the model to load.",
    ]
    notes = (
        [
            "Pods download into an emptyDir each unless deploy.storage.pvc names a shared claim (recommended "
            "for large models)."
        ]
        if ctx.repo and not ctx.deploy.storage.pvc
        else []
    )
    files = {
        CONFIG_FILE: ctx.llm_api_yaml,
        "manifests.yaml": manifests_yaml(
            docs, [f"Generated by trtforge deploy --target k8s-lws for {ctx.recipe.name}"]
        ),
        "README.md": readme(
            ctx,
            f"Kubernetes LeaderWorkerSet ({ctx.nodes} pod(s) per replica)",
            steps,
            ready,
            [CONFIG_FILE, "manifests.yaml"],
            notes,
        ),
    }
    return Bundle("k8s-lws", files=files, documents=docs, scripts=scripts)
