"""A step's fingerprint: the hash of everything that determines its output.

fingerprint = sha256(canonical JSON of {kind, step version, params, tool versions, source fingerprint,
upstream output content digests}). Upstream enters through the *content* of its output (like DVC deps), not
its fingerprint: when a changed upstream step reproduces the same bytes, downstream work is still reused.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from trtforge import secrets
from trtforge.errors import StepFailed
from trtforge.pipeline import hashing

SCHEMA = 1  # bump when the meaning of a fingerprint changes (invalidates every cache entry)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def fingerprint_inputs(step, upstream: dict[str, str]) -> dict[str, Any]:
    """What goes into the fingerprint of `step`, given {upstream step name: output content digest}."""
    return {
        "schema": SCHEMA,
        "hash": hashing.FORMAT,  # upstream digests are only comparable within one hash scheme
        "kind": step.kind,
        "version": str(getattr(step, "version", "1")),
        "params": step.params(),
        "tool_versions": step.tool_versions(),
        "source": step.source_fingerprint(),
        "upstream": dict(sorted(upstream.items())),
    }


def fingerprint_of(inputs: dict[str, Any], *, step_name: str = "?") -> str:
    """sha256 of the canonical inputs. Refuses inputs holding a secret: a fingerprint is written
    everywhere."""
    try:
        text = canonical_json(inputs)
    except (TypeError, ValueError) as exc:
        raise StepFailed(
            f"step '{step_name}': params/tool_versions must be plain JSON values ({exc})"
        ) from None
    if secrets.redact(text) != text:
        raise StepFailed(
            f"step '{step_name}': its parameters contain a secret (a token); refusing to record it"
        )
    return hashlib.sha256(text.encode()).hexdigest()


def explain_difference(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable list of what differs between two fingerprint-input dicts (for --lock mismatches)."""
    diffs: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        path = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            diffs.extend(explain_difference(a, b, path + "."))
        else:
            diffs.append(f"{path}: {json.dumps(a)} -> {json.dumps(b)}")
    return diffs
