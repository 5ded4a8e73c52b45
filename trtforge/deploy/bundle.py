"""What a renderer returns: files to write, the Kubernetes documents among them, the shell scripts to
check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass
class Bundle:
    target: str
    files: dict[str, str] = field(default_factory=dict)  # path relative to the target directory -> text
    documents: list[dict[str, Any]] = field(
        default_factory=list
    )  # every Kubernetes object, validated before writing
    scripts: dict[str, str] = field(
        default_factory=dict
    )  # name -> shell text (files, or embedded in a ConfigMap)


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings, so embedded configs and scripts read as they are; no anchors."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def manifests_yaml(documents: list[dict[str, Any]], header: list[str]) -> str:
    """A multi-document YAML file; key order kept as built."""
    body = "---\n".join(
        yaml.dump(d, Dumper=_Dumper, sort_keys=False, default_flow_style=False) for d in documents
    )
    return "".join(f"# {h}\n" for h in header) + "---\n" + body
