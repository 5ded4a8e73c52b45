"""Publishing a build's output directory: hard links into the cache, swapped in atomically.

The new tree is assembled next to the old one (`<out>.tmp-<pid>`) and swapped in with one rename, so a reader
sees the previous complete output or the new complete output, never a mix; the old tree is removed only after
the swap. When the existing output already matches (stat check against the cache entries), nothing is
rebuilt: a no-op build touches at most the lock file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from trtforge import fsutil
from trtforge.errors import InvalidInput
from trtforge.pipeline import hashing
from trtforge.pipeline.cache import CacheStore, Entry
from trtforge.pipeline.lockfile import LOCK_NAME

Part = tuple[Entry, str]  # a cache entry and the path inside its output that is published ("" = all of it)


def _expected(parts: dict[str, Part]) -> tuple[dict[str, tuple[int, int]], set[str]]:
    files: dict[str, tuple[int, int]] = {}
    dirs: set[str] = set()
    for sub, (entry, inner) in parts.items():
        pieces = sub.split("/")
        dirs.update("/".join(pieces[: i + 1]) for i in range(len(pieces)))
        prefix = inner + "/" if inner else ""
        dirs.update(f"{sub}/{d[len(prefix) :]}" for d in entry.dirs if d.startswith(prefix) and d != inner)
        for rel, info in entry.files.items():
            if rel.startswith(prefix):
                files[f"{sub}/{rel[len(prefix) :]}"] = (info.size, info.mtime_ns)
    return files, dirs


def is_current(out_dir: Path, parts: dict[str, Part]) -> bool:
    """True when out_dir holds exactly the entries' files (by stat), plus the lock file."""
    try:
        files, dirs = hashing.walk_tree(out_dir)
    except OSError:
        return False
    want_files, want_dirs = _expected(parts)
    if set(files) - {LOCK_NAME} != set(want_files) or set(dirs) != want_dirs:
        return False
    for rel, (size, mtime_ns) in want_files.items():
        try:
            st = os.stat(out_dir / rel)
        except OSError:
            return False
        if st.st_size != size or st.st_mtime_ns != mtime_ns:
            return False
    return True


def _lock_key(out_dir: Path) -> str:
    return "out-" + hashlib.sha256(os.fsencode(out_dir)).hexdigest()[:32]


def _sweep_siblings(out_dir: Path) -> None:
    """Remove `<out>.tmp-*` / `<out>.old-*` left by a killed publisher (we hold the output's lock)."""
    parent = out_dir.parent
    if not parent.is_dir():
        return
    for p in parent.iterdir():
        if p.name.startswith(out_dir.name + ".tmp-") or p.name.startswith(out_dir.name + ".old-"):
            fsutil.remove_tree(p)


def publish(
    out_dir: Path,
    cache: CacheStore,
    parts: dict[str, Part],
    lock_text: str,
    extras: dict[str, Path] | None = None,
) -> str:
    """Make out_dir hold `parts` ({subdir: (cache entry, path inside it)}), `extras` ({subdir: plain
    directory}, e.g. build-instructions) and the lock file. Returns 'unchanged', 'lock-updated' or
    'published'.
    """
    out_dir = out_dir.absolute()
    extras = extras or {}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = cache.lock(_lock_key(out_dir))
    with lock:
        _sweep_siblings(out_dir)
        if out_dir.exists():
            if not out_dir.is_dir():
                raise InvalidInput(f"output {out_dir} exists and is not a directory")
            if not (out_dir / LOCK_NAME).is_file() and any(out_dir.iterdir()):
                raise InvalidInput(
                    f"output directory {out_dir} is not empty and was not made by trtforge",
                    hint="choose another --output, or remove it",
                )
            if not extras and is_current(out_dir, parts):
                lock_path = out_dir / LOCK_NAME
                try:
                    same = lock_path.read_text(encoding="utf-8") == lock_text
                except OSError:
                    same = False
                if same:
                    how = "unchanged"
                else:
                    fsutil.atomic_write_text(lock_path, lock_text)
                    how = "lock-updated"
                cache.add_ref(out_dir)
                return how
        tmp = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}")
        tmp.mkdir()
        try:
            for sub, (entry, inner) in sorted(parts.items()):
                (tmp / sub).parent.mkdir(parents=True, exist_ok=True)
                fsutil.link_tree(entry.out / inner if inner else entry.out, tmp / sub)
            for sub, src in sorted(extras.items()):
                shutil.copytree(src, tmp / sub)
            fsutil.atomic_write_text(tmp / LOCK_NAME, lock_text)
            fsutil.replace_dir(
                tmp, out_dir, old_holder=out_dir.with_name(f"{out_dir.name}.old-{os.getpid()}")
            )
        except BaseException:
            fsutil.remove_tree(tmp)
            raise
    cache.add_ref(out_dir)
    return "published"
