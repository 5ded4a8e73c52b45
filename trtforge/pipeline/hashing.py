"""Content hashes of files and trees: streaming, parallel, flat memory.

The algorithm is BLAKE3 when the `blake3` package is installed (~6-8 GB/s per core: hashing keeps up with
NVMe and `cache verify` runs at disk speed), else SHA-256 (~2 GB/s per core with SHA-NI). A file's content
hash is written `<algo>:<hex>` or `<algo>tree:<hex>`:
- `<algo>:<hex>` for files up to CHUNK bytes: the plain digest (what `b3sum` / `sha256sum` print);
- `<algo>tree:<hex>` for larger files: the digest of the concatenated digests of consecutive CHUNK-byte
  pieces. Pieces are hashed by a pool of threads (both libraries release the GIL), so reading and hashing
  overlap and one big safetensors shard is hashed by all cores at once.
The prefix makes a digest self-describing: entries made with the other algorithm simply do not match.
Every read goes through one reusable buffer per worker (no mmap: mapped pages would count against RSS).
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_blake3: Any
try:  # optional accelerator (a dependency of trtforge; SHA-256 keeps things working without it)
    from blake3 import blake3 as _blake3
except ImportError:  # pragma: no cover - depends on the install
    _blake3 = None

ALGORITHM = "blake3" if _blake3 is not None else "sha256"
CHUNK = 64 << 20  # piece size of the tree hash; also the largest file hashed in one piece
BLOCK = 4 << 20  # one read; both hash libraries release the GIL for buffers this size
FORMAT = f"{ALGORITHM}tree-64m"  # name of the scheme, recorded in cache entries and lock files


HASHERS: dict[str, Callable] = {
    "sha256": hashlib.sha256,
    **({"blake3": _blake3} if _blake3 is not None else {}),
}


def new_hasher(algorithm: str = ALGORITHM):
    """A fresh hasher (hashlib-like: update/digest/hexdigest)."""
    return HASHERS[algorithm]()


def algorithm_of(digest: str) -> str:
    """'blake3' for 'blake3:...' or 'blake3tree:...'."""
    prefix = digest.split(":", 1)[0]
    return prefix[: -len("tree")] if prefix.endswith("tree") else prefix


def default_workers() -> int:
    # One more worker than cores: while one waits on the disk, the others hash.
    return max(2, min(8, (os.cpu_count() or 2) + 1))


@dataclass(frozen=True)
class FileInfo:
    """What a tree records per file: content hash, size, mtime (for stat checks), executable bit."""

    digest: str
    size: int
    mtime_ns: int
    exec: bool = False

    def to_json(self) -> dict:
        return {"digest": self.digest, "size": self.size, "mtime_ns": self.mtime_ns, "exec": self.exec}

    @classmethod
    def from_json(cls, d: dict) -> FileInfo:
        return cls(d["digest"], int(d["size"]), int(d["mtime_ns"]), bool(d.get("exec", False)))


class _Local(threading.local):
    buf: bytearray | None = None


_local = _Local()


def _hash_range(
    path: str, offset: int, length: int, on_bytes: Callable[[int], None] | None, algorithm: str
) -> bytes:
    """Digest of `length` bytes of `path` from `offset`, read through a per-thread buffer."""
    if _local.buf is None or len(_local.buf) != BLOCK:
        _local.buf = bytearray(BLOCK)
    buf = _local.buf
    view = memoryview(buf)
    h = new_hasher(algorithm)
    fd = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_SEQUENTIAL)
        pos, end = offset, offset + length
        while pos < end:
            want = min(BLOCK, end - pos)
            n = os.preadv(fd, [view[:want]], pos)
            if n <= 0:
                raise OSError(f"{path}: file shrank while being hashed")
            h.update(view[:n])
            pos += n
            if on_bytes is not None:
                on_bytes(n)
    finally:
        os.close(fd)
    return h.digest()


def hash_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    workers: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
    algorithm: str = ALGORITHM,
) -> dict[str, str]:
    """Content hash of each file (see module doc), all files and pieces spread over a thread pool.

    Returns {str(path): digest}. `on_bytes(n)` is called from worker threads as bytes are hashed.
    """
    if algorithm not in HASHERS:
        raise ValueError(f"hash algorithm {algorithm} is not available here (pip install {algorithm})")
    names: list[str] = [os.fspath(p) for p in paths]
    sizes = {p: os.stat(p).st_size for p in names}
    tasks: list[tuple[str, int, int, int]] = []  # (path, piece index, offset, length)
    for p in names:
        size = sizes[p]
        if size <= CHUNK:
            tasks.append((p, 0, 0, size))
        else:
            tasks.extend((p, i, off, min(CHUNK, size - off)) for i, off in enumerate(range(0, size, CHUNK)))
    lock = threading.Lock()
    counted = None
    if on_bytes is not None:

        def counted(n: int) -> None:
            with lock:
                on_bytes(n)

    pieces: dict[str, dict[int, bytes]] = {p: {} for p in names}
    n_workers = min(workers or default_workers(), max(1, len(tasks)))
    if n_workers == 1:
        for p, i, off, length in tasks:
            pieces[p][i] = _hash_range(p, off, length, counted, algorithm)
    else:
        with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="hash") as pool:
            futures = [
                (p, i, pool.submit(_hash_range, p, off, length, counted, algorithm))
                for p, i, off, length in tasks
            ]
            for p, i, fut in futures:
                pieces[p][i] = fut.result()
    out: dict[str, str] = {}
    for p in names:
        parts = pieces[p]
        if sizes[p] <= CHUNK:
            out[p] = f"{algorithm}:{parts[0].hex()}"
        else:
            h = new_hasher(algorithm)
            h.update(b"".join(parts[i] for i in range(len(parts))))
            out[p] = f"{algorithm}tree:{h.hexdigest()}"
    return out


def file_digest(path: str | os.PathLike[str], algorithm: str = ALGORITHM) -> str:
    """Content hash of one file."""
    return hash_files([path], algorithm=algorithm)[os.fspath(path)]


def rehash_like(
    expected: dict[str, str], *, on_bytes: Callable[[int], None] | None = None
) -> dict[str, str | None]:
    """Re-hash files {path: recorded digest} with the algorithm each digest was made with.

    A path whose algorithm is not installed here maps to None (cannot be checked, which is not corruption).
    """
    by_algo: dict[str, list[str]] = {}
    for path, digest in expected.items():
        by_algo.setdefault(algorithm_of(digest), []).append(path)
    out: dict[str, str | None] = {}
    for algo, paths in by_algo.items():
        if algo not in HASHERS:
            out.update({p: None for p in paths})
        else:
            out.update(hash_files(paths, on_bytes=on_bytes, algorithm=algo))
    return out


def walk_tree(root: Path) -> tuple[list[str], list[str]]:
    """(files, dirs) under root as sorted POSIX relative paths. Symlinks are reported as files."""
    files: list[str] = []
    dirs: list[str] = []
    stack = [("", os.fspath(root))]
    while stack:
        rel, path = stack.pop()
        with os.scandir(path) as it:
            for e in it:
                r = f"{rel}{e.name}"
                if e.is_dir(follow_symlinks=False):
                    dirs.append(r)
                    stack.append((r + "/", e.path))
                else:
                    files.append(r)
    return sorted(files), sorted(dirs)


def is_exec(mode: int) -> bool:
    return bool(mode & stat.S_IXUSR)


def tree_digest(files: dict[str, FileInfo], dirs: Iterable[str]) -> str:
    """One hash for a whole tree: its files' paths, content hashes and executable bits, and its
    directories."""
    h = hashlib.sha256()  # a few hundred bytes: the algorithm of the file digests inside names the scheme
    for d in sorted(dirs):
        h.update(f"D {d}\n".encode())
    for rel in sorted(files):
        info = files[rel]
        h.update(f"F {rel} {info.digest} {'x' if info.exec else '-'}\n".encode())
    return "sha256:" + h.hexdigest()
