"""Find a model's config.json: a local directory or file, the Hugging Face cache, a bundled snapshot of a
well-known model, or (last) the hub itself via `hf_hub_download` (config.json only).

This is the only module of models/ that touches files or the network.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trtforge.errors import InvalidInput, ToolMissing
from trtforge.toolchain import data

HUB_ID_RE = re.compile(
    r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<rev>[^\s@]+))?$"
)
BUNDLED_DIR = data.path(data.MODEL_CONFIGS)
MAX_CONFIG_BYTES = 4 << 20
HUB_ATTEMPTS = 3  # a dropped connection while fetching config.json is tried again, like the download step's


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


def _from_cache(repo: str, revision: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(repo, "config.json", revision=revision)
    return Path(found) if isinstance(found, str) else None


def _from_hub(repo: str, revision: str, token: str | None) -> Path:
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            GatedRepoError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise ToolMissing(
            "huggingface_hub is not installed: pass a local model directory or config.json"
        ) from None
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)  # its retry warnings would break the one-line error contract
    try:
        return Path(_download_with_retries(hf_hub_download, repo, revision, token))
    except GatedRepoError:
        raise InvalidInput(f"{repo} is gated: accept its license on the hub and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise InvalidInput(f"{repo}: no such model on the hub (or it is private: set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise InvalidInput(f"{repo}: revision '{revision}' not found") from None
    except LocalEntryNotFoundError:  # before EntryNotFoundError: it is a subclass of it
        raise ToolMissing(
            f"{repo}: config.json is not in the local Hugging Face cache and the hub cannot be "
            "reached (offline?): pass a local directory or config.json"
        ) from None
    except EntryNotFoundError:
        raise InvalidInput(f"{repo}@{revision} has no config.json") from None
    except OSError as exc:
        raise ToolMissing(f"{repo}: cannot fetch config.json ({type(exc).__name__})") from None
    finally:
        hub_logger.setLevel(level)


def _download_with_retries(hf_hub_download: Any, repo: str, revision: str, token: str | None) -> str:
    """hf_hub_download of config.json, tried again when the connection drops (as the download step does)."""
    import requests

    transient = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    for attempt in range(1, HUB_ATTEMPTS + 1):
        try:
            return hf_hub_download(repo, "config.json", revision=revision, token=token)
        except transient:
            if attempt == HUB_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def resolve_config(source: str, revision: str | None = None, token: str | None = None) -> ConfigSource:
    """Load the config.json a SOURCE names: a directory, a .json file, or a hub id `org/name[@revision]`."""
    text = str(source).strip()
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        cfg_path = path / "config.json"
        if not cfg_path.is_file():
            raise InvalidInput(f"{path}: no config.json in this directory")
        return ConfigSource(read_config_file(cfg_path), str(cfg_path))
    if path.is_file():
        return ConfigSource(read_config_file(path), str(path))
    match = HUB_ID_RE.match(text)
    if not match or text.endswith(".json") or text.startswith((".", "/", "~")):
        raise InvalidInput(
            f"'{text}': not a model directory, a config.json file, or a hub id like org/name[@revision]"
        )
    repo = match["repo"]
    rev = match["rev"] or revision or "main"
    cached = _from_cache(repo, rev)
    if cached is not None:
        return ConfigSource(read_config_file(cached), f"hf-cache:{repo}@{rev}")
    bundled = _bundled(repo) if rev == "main" else None
    if bundled is not None:
        return ConfigSource(read_config_file(bundled), f"bundled:{bundled.stem.replace('--', '/', 1)}")
    return ConfigSource(read_config_file(_from_hub(repo, rev, token)), f"hub:{repo}@{rev}")
