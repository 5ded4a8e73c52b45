#!/usr/bin/env python3
"""Extract the JSON schemas `trtforge deploy` validates its manifests against, with their provenance.

Sources (each pinned; the output records tag, commit and digest):
  --lws-git DIR --lws-tag TAG     a git directory of kubernetes-sigs/lws (e.g. the `fetch` mirror): the CRD
                                  config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml at TAG.
  --dynamo-git DIR --dynamo-commit SHA
                                  a git directory holding ai-dynamo/dynamo's history (the upstream snapshot is
                                  too large to fetch here; a fork's mirror of upstream main serves,
                                  --dynamo-note says which): the DynamoGraphDeployment CRD at SHA, its served
                                  v1beta1 version.
  --kv-wheel WHL --k8s-version V  Kubernetes core schemas: the kubernetes-validate wheel (PyPI) bundles
                                  openapi2jsonschema output of kubernetes/kubernetes' OpenAPI spec per
                                  release; V (e.g. v1.36.0) picks the release, `-local-strict` (unknown fields
                                  rejected).

Output: trtforge/data/deploy/<name>.json = {"provenance": {...}, "kinds": {"apiVersion/Kind": schema},
"$defs": {...}}. Descriptions are dropped (size). CRD object schemas are closed (additionalProperties: false
where the CRD neither lists additionalProperties nor preserves unknown fields): the API server prunes unknown
fields silently, `kubectl apply --validate=strict` rejects them, and so does trtforge.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import tempfile
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parents[1] / "trtforge" / "data" / "deploy"
LWS_CRD = "config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml"
CORE_KINDS = {  # apiVersion/Kind -> file in kubernetes-validate's schema directory
    "v1/ConfigMap": "configmap-v1.json",
    "v1/Service": "service-v1.json",
    "v1/PersistentVolumeClaim": "persistentvolumeclaim-v1.json",
    "v1/ServiceAccount": "serviceaccount-v1.json",
    "rbac.authorization.k8s.io/v1/Role": "role-rbac-v1.json",
    "rbac.authorization.k8s.io/v1/RoleBinding": "rolebinding-rbac-v1.json",
    "v1/PodTemplateSpec": "podtemplatespec-v1.json",  # not a kind: pod templates embedded in CRDs
}


def strip_descriptions(node: Any, in_properties: bool = False) -> Any:
    """Drop documentation strings; keep a property that happens to be named 'description'."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if not in_properties and key == "description" and isinstance(value, str):
                continue
            out[key] = strip_descriptions(value, in_properties=(key == "properties" and not in_properties))
        return out
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def close_objects(node: Any, in_properties: bool = False) -> Any:
    """additionalProperties: false on CRD object schemas that list properties and do not preserve unknowns."""
    if isinstance(node, dict):
        out = {
            k: close_objects(v, in_properties=(k == "properties" and not in_properties))
            for k, v in node.items()
        }
        if (
            not in_properties
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [close_objects(v) for v in node]
    return node


def crd_schemas(text: str) -> dict[str, Any]:
    """{apiVersion/Kind: openAPIV3Schema} for every served version of a CRD."""
    crd = next(d for d in yaml.safe_load_all(text) if d and d.get("kind") == "CustomResourceDefinition")
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    out = {}
    for version in crd["spec"]["versions"]:
        if version.get("served", True):
            schema = version["schema"]["openAPIV3Schema"]
            out[f"{group}/{version['name']}/{kind}"] = close_objects(strip_descriptions(schema))
    return out


def write(
    name: str, provenance: dict[str, Any], kinds: dict[str, Any], defs: dict[str, Any] | None = None
) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "provenance": {
            **provenance,
            "extracted_on": date.today().isoformat(),
            "script": "scripts/extract_k8s_schemas.py",
        },
        "kinds": kinds,
    }
    if defs:
        doc["$defs"] = defs
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


def extract_lws(git_dir: str, tag: str) -> Path:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", git_dir, *args], check=True, capture_output=True, text=True
        ).stdout

    commit = git("rev-parse", f"{tag}^{{commit}}").strip()
    text = git("show", f"{commit}:{LWS_CRD}")
    kinds = crd_schemas(text)
    prov = {
        "repo": "kubernetes-sigs/lws",
        "tag": tag,
        "commit": commit,
        "path": LWS_CRD,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    return write(f"leaderworkerset-{tag}", prov, kinds)


def extract_dynamo(git_dir: str, commit: str, path: str, note: str | None) -> Path:
    commit = subprocess.run(
        ["git", "-C", git_dir, "rev-parse", f"{commit}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    text = subprocess.run(
        ["git", "-C", git_dir, "show", f"{commit}:{path}"], check=True, capture_output=True, text=True
    ).stdout
    kinds = {k: v for k, v in crd_schemas(text).items() if k.endswith("/v1beta1/DynamoGraphDeployment")}
    if not kinds:
        raise SystemExit(f"{path}@{commit}: no served v1beta1 DynamoGraphDeployment version")
    prov = {
        "repo": "ai-dynamo/dynamo",
        "commit": commit,
        "path": path,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    if note:
        prov["note"] = note
    return write("dynamographdeployment-v1beta1", prov, kinds)


def _collect(node: Any, defs: dict[str, Any], seen: set[str]) -> Any:
    """Rewrite '/api/_definitions.json#/$defs/X' to '#/$defs/X' and gather X (transitively)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and "#/$defs/" in value:
                name = value.split("#/$defs/")[1]
                out[key] = f"#/$defs/{name}"
                seen.add(name)
            else:
                out[key] = _collect(value, defs, seen)
        return out
    if isinstance(node, list):
        return [_collect(v, defs, seen) for v in node]
    return node


def extract_core(wheel: str, version: str) -> Path:
    digest = hashlib.sha256(Path(wheel).read_bytes()).hexdigest()
    base = f"kubernetes_validate/kubernetes-json-schema/{version}-local-strict"
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp, [n for n in zf.namelist() if n.startswith(base + "/")])
        root = Path(tmp) / base
        all_defs = json.loads((root / "_definitions.json").read_text())["$defs"]
        seen: set[str] = set()
        kinds = {}
        for key, file in CORE_KINDS.items():
            schema = json.loads((root / file).read_text())
            for drop in ("$id", "$schema"):
                schema.pop(drop, None)
            kinds[key] = strip_descriptions(_collect(schema, all_defs, seen))
        defs: dict[str, Any] = {}
        while seen - set(defs):
            for name in sorted(seen - set(defs)):
                defs[name] = strip_descriptions(_collect(all_defs[name], all_defs, seen))
    prov = {
        "source": "kubernetes-validate 1.37.0 (PyPI wheel), directory " + base,
        "wheel_sha256": digest,
        "upstream": f"kubernetes/kubernetes api/openapi-spec at {version}, converted by openapi2jsonschema "
        "(kubernetes-validate's build); strict: unknown fields rejected",
        "kubernetes_version": version,
    }
    return write(f"kubernetes-core-{version}", prov, kinds, defs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lws-git")
    ap.add_argument("--lws-tag", default="v0.10.0")
    ap.add_argument("--dynamo-git")
    ap.add_argument("--dynamo-commit")
    ap.add_argument(
        "--dynamo-path", default="deploy/operator/config/crd/bases/nvidia.com_dynamographdeployments.yaml"
    )
    ap.add_argument("--dynamo-note")
    ap.add_argument("--kv-wheel")
    ap.add_argument("--k8s-version", default="v1.36.0")
    args = ap.parse_args()
    if args.lws_git:
        print(extract_lws(args.lws_git, args.lws_tag))
    if args.dynamo_git:
        print(extract_dynamo(args.dynamo_git, args.dynamo_commit, args.dynamo_path, args.dynamo_note))
    if args.kv_wheel:
        print(extract_core(args.kv_wheel, args.k8s_version))


if __name__ == "__main__":
    main()
