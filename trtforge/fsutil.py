"""File-system moves the pipeline relies on: cheap materialisation, atomic writes, atomic directory swaps.

Materialising never copies when it can share: a reflink (copy-on-write clone: btrfs, XFS, APFS-like
file systems) first, then a hard link, and only then a byte copy (another file system, or no link support).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
RENAME_EXCHANGE = 2
_no_reflink_devs: set[int] = set()  # devices where FICLONE failed: do not try again
# errnos meaning "no hard link here" (another file system, no support, too many links): copy instead
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES, errno.EOPNOTSUPP)


def _reflink(src: str, dst: str, src_dev: int) -> bool:
    if src_dev in _no_reflink_devs or not hasattr(os, "O_CLOEXEC"):
        return False
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        sfd = os.open(src, os.O_RDONLY)
    except OSError:
        return False
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:
        os.close(sfd)
        return False
    try:
        fcntl.ioctl(dfd, FICLONE, sfd)
        ok = True
    except OSError:
        ok = False
    finally:
        os.close(sfd)
        os.close(dfd)
    if not ok:
        _no_reflink_devs.add(src_dev)
        os.unlink(dst)
        return False
    shutil.copystat(src, dst)
    return True


def link_file(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, allow_hardlink: bool = True
) -> str:
    """Make dst hold src's bytes as cheaply as possible; returns 'reflink', 'hardlink' or 'copy'.

    Symlinks in src are followed (a hub snapshot is a tree of symlinks to blobs). mtime is preserved in
    every case, so stat-based change detection treats the result like the original.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    real = os.path.realpath(src)
    st = os.stat(real)
    if _reflink(real, dst, st.st_dev):
        return "reflink"
    if allow_hardlink:
        try:
            os.link(real, dst)
            return "hardlink"
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
    shutil.copy2(real, dst)
    return "copy"


def link_tree(src: Path, dst: Path, *, allow_hardlink: bool = True) -> dict[str, int]:
    """Recreate the tree src (files and empty directories) at dst via `link_file`. dst must not exist.

    Returns how many files each method handled, e.g. {'hardlink': 12}.
    """
    counts: dict[str, int] = {}
    dst.mkdir(parents=True, exist_ok=False)
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = dst if rel == "." else dst / rel
        for d in dirnames:
            (target / d).mkdir(exist_ok=True)
        for f in filenames:
            how = link_file(os.path.join(dirpath, f), target / f, allow_hardlink=allow_hardlink)
            counts[how] = counts.get(how, 0) + 1
    return counts


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small file so readers see the old or the new content, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any | None:
    """Parsed JSON, or None when the file is missing or unreadable (treated as absent by callers)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def remove_tree(path: Path) -> None:
    """Best-effort rm -rf that also copes with read-only files and directories."""

    def onerror(func, p, exc_info):  # noqa: ANN001
        try:
            os.chmod(os.path.dirname(p), stat.S_IRWXU)
            os.chmod(p, stat.S_IRWXU)
            func(p)
        except OSError:
            pass

    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, onerror=onerror)


def _renameat2():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux renameat2 RENAME_EXCHANGE). False where unsupported."""
    fn = _renameat2()
    if fn is None:
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def replace_dir(new: Path, dest: Path, *, old_holder: Path) -> None:
    """Put directory `new` at `dest`, replacing what is there, so dest is never half-populated.

    With RENAME_EXCHANGE the swap is one atomic step; otherwise dest is renamed to `old_holder` first,
    then `new` into place (a kill between the two leaves dest absent but the old tree intact in old_holder).
    The previous tree is deleted only after the new one is in place.
    """
    if dest.exists() or dest.is_symlink():
        if exchange(new, dest):
            remove_tree(new)  # `new` now names the previous tree
            return
        os.rename(dest, old_holder)
        os.rename(new, dest)
        remove_tree(old_holder)
    else:
        os.rename(new, dest)


def dir_size(path: Path, seen: set[tuple[int, int]] | None = None) -> tuple[int, int]:
    """(bytes, files) under path, not following symlinks; a hard-linked file counts once per `seen` set."""
    seen = set() if seen is None else seen
    total = files = 0
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue
            files += 1
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total, files
