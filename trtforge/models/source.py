"""Find a model's config.json: a local directory or file, the Hugging Face cache, a bundled snapshot of a
well-known model, or (last) the hub itself (config.json only, through trtforge.hub like the download step).

This is the only module of models/ that touches files or the network.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trtforge import hub
from trtforge.errors import InvalidInput
from trtforge.models import gguf
from trtforge.toolchain import data

HUB_ID_RE = re.compile(
    r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<rev>[^\s@]+))?$"
)
BUNDLED_DIR = data.path(data.MODEL_CONFIGS)
MAX_CONFIG_BYTES = 4 << 20


@dataclass(frozen=True)
class ConfigSource:
    config: dict[str, Any]
    where: str  # human description: a path, "hf-cache:org/name@rev", "bundled:org/name", "hub:org/name@rev"


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse one config.json; any problem is one InvalidInput line naming the file."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise InvalidInput(f"{path}: {path.stat().st_size} bytes is too large for a config.json")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read config.json ({exc})") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise InvalidInput(f"{path}: not a config.json (nested too deeply)") from None
    except ValueError as exc:  # e.g. a number with more digits than Python converts
        raise InvalidInput(f"{path}: not a usable config.json ({str(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: config.json must be a JSON object, not {type(data).__name__}")
    return data


def bundled_ids() -> list[str]:
    return sorted(p.stem.replace("--", "/", 1) for p in BUNDLED_DIR.glob("*.json"))


def _bundled(repo: str) -> Path | None:
    wanted = repo.replace("/", "--", 1).lower()
    for p in BUNDLED_DIR.glob("*.json"):
        if p.stem.lower() == wanted:
            return p
    return None


def resolve_config(source: str, revision: str | None = None, token: str | None = None) -> ConfigSource:
    """Load the config.json a SOURCE names: a directory, a .json file, or a hub id `org/name[@revision]`."""
    text = str(source).strip()
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        cfg_path = path / "config.json"
        if not cfg_path.is_file():
            raise InvalidInput(f"{path}: no config.json in this directory")
        return ConfigSource(read_config_file(cfg_path), str(cfg_path))
    if path.is_file() and path.suffix == ".gguf":  # planned from its header (trtforge/models/gguf.py)
        return ConfigSource(gguf.hf_config(gguf.read_header(path)), f"gguf:{path}")
    if path.is_file():
        return ConfigSource(read_config_file(path), str(path))
    match = HUB_ID_RE.match(text)
    if not match or text.endswith(".json") or text.startswith((".", "/", "~")):
        raise InvalidInput(
            f"'{text}': not a model directory, a config.json file, or a hub id like org/name[@revision]"
        )
    repo = match["repo"]
    rev = match["rev"] or revision or "main"
    cached = hub.cached_file(repo, "config.json", rev)
    if cached is not None:
        return ConfigSource(read_config_file(cached), f"hf-cache:{repo}@{rev}")
    bundled = _bundled(repo) if rev == "main" else None
    if bundled is not None:
        return ConfigSource(read_config_file(bundled), f"bundled:{bundled.stem.replace('--', '/', 1)}")
    fetched = hub.fetch_file(repo, "config.json", rev, token)
    return ConfigSource(read_config_file(fetched), f"hub:{repo}@{rev}")
