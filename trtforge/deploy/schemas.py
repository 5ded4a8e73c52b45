"""Validate Kubernetes documents against schemas extracted from upstream (trtforge/data/deploy/*.json).

Every stored file records where its schemas came from (repository, tag, commit, digest); the script that
made them is scripts/extract_k8s_schemas.py. Pod templates embedded in CRD objects are also checked against
Kubernetes' own PodTemplateSpec. `jsonschema` is imported here only (not at CLI start-up).
"""

from __future__ import annotations

import functools
from typing import Any

from trtforge.errors import StepFailed
from trtforge.toolchain import data

DATA = data.path("deploy")
POD_TEMPLATE = "v1/PodTemplateSpec"


@functools.cache
def _stores() -> tuple[dict[str, Any], ...]:
    return tuple(data.load(f"deploy/{p.name}") for p in sorted(DATA.glob("*.json")))


def provenance() -> dict[str, dict[str, Any]]:
    """{apiVersion/Kind: where its schema came from}."""
    return {kind: store["provenance"] for store in _stores() for kind in store["kinds"]}


@functools.cache
def _validator(key: str):  # type: ignore[no-untyped-def]
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    for store in _stores():
        if key in store["kinds"]:
            schema = dict(store["kinds"][key])
            if "$defs" in store:
                schema["$defs"] = store["$defs"]
            return Draft202012Validator(schema)
    return None


def kind_key(doc: dict[str, Any]) -> str:
    return f"{doc.get('apiVersion')}/{doc.get('kind')}"


def _pod_templates(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, template) of the pod templates a LeaderWorkerSet or DynamoGraphDeployment embeds."""
    spec = doc.get("spec") or {}
    if doc.get("kind") == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        return [
            (f"spec.leaderWorkerTemplate.{k}", lwt[k])
            for k in ("leaderTemplate", "workerTemplate")
            if k in lwt
        ]
    if doc.get("kind") == "DynamoGraphDeployment":
        return [
            (f"spec.components[{i}].podTemplate", c["podTemplate"])
            for i, c in enumerate(spec.get("components") or [])
            if "podTemplate" in c
        ]
    return []


def problems(doc: dict[str, Any]) -> list[str]:
    """Every schema violation of one document, as 'Kind/name: path: message' (empty when valid)."""
    key = kind_key(doc)
    name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name', '?')}"
    validator = _validator(key)
    if validator is None:
        return [f"{name}: no stored schema for {key}"]
    out = []
    checks = [("", validator, doc)]
    pod = _validator(POD_TEMPLATE)
    checks += [(where + ".", pod, tmpl) for where, tmpl in _pod_templates(doc)]
    for prefix, v, instance in checks:
        for err in sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            path = prefix + ".".join(str(p) for p in err.absolute_path)
            out.append(f"{name}: {path or '(root)'}: {err.message[:300]}")
    return out


def validate_all(documents: list[dict[str, Any]]) -> None:
    """StepFailed (a generator bug, exit 1) at the first invalid document; nothing is written then."""
    for doc in documents:
        found = problems(doc)
        if found:
            more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
            raise StepFailed(f"generated manifest is invalid: {found[0]}{more}")
