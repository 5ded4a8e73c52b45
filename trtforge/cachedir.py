"""Where trtforge keeps its cache, and which root the build running in this process uses.

At the bottom of the layers: the step cache (trtforge.pipeline.cache) and model sources that cache what they
fetch (trtforge.models.gguf) both ask it.
"""

from __future__ import annotations

import os
from pathlib import Path

_active_root: Path | None = None


def default_root() -> Path:
    """$TRTFORGE_CACHE, else the platform user cache dir (e.g. ~/.cache/trtforge)."""
    env = os.environ.get("TRTFORGE_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("trtforge", appauthor=False))


def activate(root: Path | None) -> None:
    """Set the cache root of the build running in this process (steps find e.g. the hub cache through it)."""
    global _active_root
    _active_root = root


def active_root() -> Path:
    """The running build's cache root, else the default one."""
    return _active_root if _active_root is not None else default_root()
