"""Every target renders for single- and multi-node plans; every manifest validates against the upstream
schemas stored in trtforge/data/deploy (a broken one does not); scripts pass bash -n and shellcheck; the
LLM-API options are the same bytes everywhere and equal what the build's compile step generates."""

from __future__ import annotations

import copy
import re
import shutil

import pytest
import yaml

from tests.deploy.conftest import recipe_and_plan
from trtforge import deploy
from trtforge.deploy.schemas import problems, provenance, validate_all
from trtforge.deploy.settings import CONFIG_FILE
from trtforge.deploy.shell import script_problems
from trtforge.errors import InvalidInput, StepFailed
from trtforge.steps.llmapi_config import generate_llm_api_config

PVC = {"storage": {"pvc": "models", "pvc_size": "2Ti"}}
CASES = {
    "llama8b-1xh100": {"repo": "meta-llama/Llama-3.1-8B-Instruct", "gpu": "H100"},
    "llama70b-fp8-2xh200": {
        "repo": "meta-llama/Llama-3.1-70B-Instruct",
        "gpu": "H200",
        "gpus": 2,
        "quantization": {"format": "fp8"},
        "deploy": PVC,
    },
    "llama405b-2x8xh100": {
        "repo": "meta-llama/Llama-3.1-405B-Instruct",
        "gpu": "H100",
        "gpus": 8,
        "nodes": 2,
        "deploy": PVC,
    },
    "deepseek-v3-2x8xh100": {
        "repo": "deepseek-ai/DeepSeek-V3",
        "gpu": "H100",
        "gpus": 8,
        "nodes": 2,
        "quantization": {"format": "native"},
        "deploy": {"namespace": "llm", "replicas": 2},
    },
    "gpt-oss-120b-gb200-nvl": {
        "repo": "openai/gpt-oss-120b",
        "gpu": "GB200",
        "gpus": 4,
        "nodes": 2,
        "quantization": {"format": "native"},
        "target": {"gpu": "GB200", "gpus": 4, "nodes": 2, "tp": 8},
    },
}


def _bundles(case: str) -> tuple[deploy.DeployContext, list[deploy.Bundle]]:
    args = dict(CASES[case])
    recipe, plan = recipe_and_plan(
        args.pop("repo"), args.pop("gpu"), args.pop("gpus", 1), args.pop("nodes", 1), **args
    )
    assert plan.fits, plan.errors
    ctx = deploy.make_context(recipe, plan)
    bundles = []
    for target in deploy.TARGETS:
        try:
            bundles.append(deploy.render(ctx, target))
        except InvalidInput:
            assert ctx.multi_node and target in ("trtllm-serve", "triton")
    return ctx, bundles


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_manifest_validates(case: str) -> None:
    ctx, bundles = _bundles(case)
    kinds = set()
    for b in bundles:
        for doc in b.documents:
            assert problems(doc) == [], (b.target, doc["kind"])
            kinds.add(doc["kind"])
        # the written manifests.yaml parses back to the validated documents
        if b.documents:
            assert [d for d in yaml.safe_load_all(b.files["manifests.yaml"]) if d] == b.documents
    assert {"LeaderWorkerSet", "DynamoGraphDeployment", "ConfigMap", "Service"} <= kinds
    expected = {"k8s-lws", "dynamo", "slurm"} | (set() if ctx.multi_node else {"trtllm-serve", "triton"})
    assert {b.target for b in bundles} == expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_llm_api_options_are_the_same_bytes_everywhere(case: str) -> None:
    ctx, bundles = _bundles(case)
    text = ctx.llm_api_yaml
    # what the build's compile step generates for the same recipe and plan (trtforge/steps/llmapi_config.py)
    assert yaml.safe_load(text) == generate_llm_api_config(ctx.recipe, ctx.plan).config
    seen = 0
    for b in bundles:
        assert b.files[CONFIG_FILE] == text
        seen += 1
        for doc in b.documents:
            if doc["kind"] == "ConfigMap":
                assert doc["data"][CONFIG_FILE] == text
                seen += 1
        if "model.yaml" in b.files:  # Triton llmapi model.yaml: the same text, then Triton's own keys
            assert b.files["model.yaml"].startswith(text)
            seen += 1
    assert seen >= 5


@pytest.mark.parametrize("case", sorted(CASES))
def test_scripts_pass_bash_n(case: str) -> None:
    _, bundles = _bundles(case)
    scripts = {f"{b.target}/{n}": t for b in bundles for n, t in b.scripts.items()}
    assert any(n.endswith("launch.sbatch") for n in scripts)
    for name, text in scripts.items():
        assert script_problems(name, text, use_shellcheck=False) == []


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck not installed (apt-get install shellcheck)"
)
@pytest.mark.parametrize("case", sorted(CASES))
def test_scripts_pass_shellcheck(case: str) -> None:
    _, bundles = _bundles(case)
    for b in bundles:
        for name, text in b.scripts.items():
            assert script_problems(name, text) == [], (b.target, name)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shellcheck_catches_a_bad_script() -> None:
    assert script_problems("bad.sh", "#!/usr/bin/env bash\nrm -rf $DIR/*\n")
    assert script_problems("broken.sh", "#!/usr/bin/env bash\nif then\n", use_shellcheck=False)


def _doc(case: str, kind: str) -> dict:
    _, bundles = _bundles(case)
    return copy.deepcopy(next(d for b in bundles for d in b.documents if d["kind"] == kind))


@pytest.mark.parametrize(
    "kind, break_it, expect",
    [
        ("LeaderWorkerSet", lambda d: d["spec"]["leaderWorkerTemplate"].update(sise=2), "sise"),
        ("LeaderWorkerSet", lambda d: d["spec"].update(startupPolicy="WhenReady"), "WhenReady"),
        (
            "LeaderWorkerSet",
            lambda d: d["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0].update(
                resources={"limits": {"nvidia.com/gpu": [8]}}
            ),
            "nvidia.com/gpu",
        ),
        (
            "DynamoGraphDeployment",
            lambda d: d["spec"]["components"][1].update(type="gpu-worker"),
            "gpu-worker",
        ),
        (
            "DynamoGraphDeployment",
            lambda d: d["spec"]["components"][1].update(multinode={"nodeCount": 1}),
            "nodeCount",
        ),
        ("DynamoGraphDeployment", lambda d: d["spec"]["components"][0].pop("name"), "name"),
        (
            "DynamoGraphDeployment",
            lambda d: d["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0].update(comand=["x"]),
            "comand",
        ),
        ("Service", lambda d: d["spec"]["ports"][0].update(port="http"), "port"),
        ("ConfigMap", lambda d: d.update(data={"k": 1}), "data"),
    ],
)
def test_a_broken_manifest_fails(kind: str, break_it, expect: str) -> None:
    doc = _doc("deepseek-v3-2x8xh100", kind)
    assert problems(doc) == []
    break_it(doc)
    found = problems(doc)
    assert found and any(expect in f for f in found), found
    with pytest.raises(StepFailed):
        validate_all([doc])


def test_a_kind_without_a_schema_fails() -> None:
    assert problems({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}})


def test_stored_schemas_name_their_upstream() -> None:
    prov = provenance()
    lws = prov["leaderworkerset.x-k8s.io/v1/LeaderWorkerSet"]
    assert (
        lws["repo"] == "kubernetes-sigs/lws"
        and lws["tag"] == "v0.10.0"
        and re.fullmatch(r"[0-9a-f]{40}", lws["commit"])
    )
    dgd = prov["nvidia.com/v1beta1/DynamoGraphDeployment"]
    assert dgd["repo"] == "ai-dynamo/dynamo" and re.fullmatch(r"[0-9a-f]{40}", dgd["commit"])
    core = prov["v1/ConfigMap"]
    assert core["kubernetes_version"] == "v1.36.0" and len(core["wheel_sha256"]) == 64
    for key in ("v1/Service", "v1/PersistentVolumeClaim", "rbac.authorization.k8s.io/v1/Role"):
        assert key in prov


def test_multi_node_refuses_single_node_targets() -> None:
    ctx, _ = _bundles("llama405b-2x8xh100")
    for target in ("trtllm-serve", "triton"):
        with pytest.raises(InvalidInput, match="runs one node"):
            deploy.render(ctx, target)


def test_a_built_checkpoint_needs_a_claim_on_kubernetes() -> None:
    recipe, plan = recipe_and_plan("meta-llama/Llama-3.1-8B-Instruct", "H100", quantization={"format": "fp8"})
    ctx = deploy.make_context(recipe, plan)
    for target in ("k8s-lws", "dynamo"):
        with pytest.raises(InvalidInput, match="quantized by `trtforge build`") as info:
            deploy.render(ctx, target)
        assert "deploy.storage.pvc" in info.value.one_line()


def test_multi_node_lws_shape() -> None:
    _, bundles = _bundles("llama405b-2x8xh100")
    lws = next(d for b in bundles for d in b.documents if d["kind"] == "LeaderWorkerSet")
    lwt = lws["spec"]["leaderWorkerTemplate"]
    assert lwt["size"] == 2
    for role in ("leaderTemplate", "workerTemplate"):
        gpus = lwt[role]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
        assert gpus == "8"
    launch = next(
        d for b in bundles for d in b.documents if d["kind"] == "ConfigMap" and "launch.sh" in d["data"]
    )
    assert (
        "-np 16" in launch["data"]["launch.sh"]
        and "trtllm-llmapi-launch trtllm-serve" in launch["data"]["launch.sh"]
    )
    dgd = next(d for b in bundles for d in b.documents if d["kind"] == "DynamoGraphDeployment")
    assert dgd["spec"]["components"][1]["multinode"] == {"nodeCount": 2}
    sbatch = next(b for b in bundles if b.target == "slurm").files["launch.sbatch"]
    assert "#SBATCH --nodes=2" in sbatch and "srun --mpi=pmix --ntasks=16 --ntasks-per-node=8" in sbatch


def test_workers_on_a_shared_claim_wait_for_the_leaders_download() -> None:
    recipe, plan = recipe_and_plan("meta-llama/Llama-3.1-405B-Instruct", "H100", 8, 2, deploy=PVC)
    bundle = deploy.render(deploy.make_context(recipe, plan), "k8s-lws")
    lwt = next(d for d in bundle.documents if d["kind"] == "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
    assert [c["name"] for c in lwt["leaderTemplate"]["spec"]["initContainers"]] == ["download-model"]
    assert [c["name"] for c in lwt["workerTemplate"]["spec"]["initContainers"]] == ["wait-for-model"]
    assert "HF_TOKEN" not in str(
        lwt["workerTemplate"]["spec"]["initContainers"]
    )  # only the downloader reads it
