"""The content-addressed step cache: `<root>/steps/<fingerprint>/{out/, meta.json}`.

Layout of a cache root (default: the platform user cache dir, or $TRTFORGE_CACHE / --cache-dir):
  steps/<fp>/out/       a step's output tree, files read-only once committed
  steps/<fp>/meta.json  content hashes, sizes, mtimes (for stat checks), duration, metadata, fingerprint
  inputs tmp/<fp>.<pid>.<n>/   staging: a running step writes here; renamed to steps/<fp> only when complete
  locks/<fp>.lock       one lock per fingerprint: concurrent builds do each piece of work once
  refs/<hash>.json      output directories published from this cache (what `gc` keeps)
  hub-listings/         each hub repo's file list at a commit (the download step's offline file selection)
  index.sqlite          stat -> content-hash index (see statindex)
Anything not renamed into steps/ is garbage by construction: a SIGKILL at any moment leaves either no entry or
a complete one, and stale staging directories are swept under their fingerprint's lock.
Hub downloads live in the Hugging Face cache (trtforge.hub.cache_dir(): HF_HUB_CACHE / HF_HOME conventions),
shared with every other Hugging Face tool; `cache ls` reports its size.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trtforge import fsutil, hub
from trtforge.cachedir import activate, active_root, default_root  # noqa: F401 - the cache's public names
from trtforge.pipeline import hashing, statindex
from trtforge.pipeline.hashing import FileInfo
from trtforge.pipeline.statindex import StatIndex

ENTRY_FORMAT = 1
META = "meta.json"
_counter = itertools.count()


@dataclass
class Entry:
    fingerprint: str
    path: Path
    meta: dict[str, Any]

    @property
    def out(self) -> Path:
        return self.path / "out"

    @property
    def files(self) -> dict[str, FileInfo]:
        return {rel: FileInfo.from_json(d) for rel, d in self.meta["files"].items()}

    @property
    def dirs(self) -> list[str]:
        return list(self.meta.get("dirs", []))

    @property
    def digest(self) -> str:
        return self.meta["digest"]

    @property
    def bytes(self) -> int:
        return int(self.meta.get("bytes", 0))


def scan_output(
    root: Path, *, on_bytes: Callable[[int], None] | None = None
) -> tuple[dict[str, FileInfo], list[str]]:
    """Content hashes (via the stat index) of every file under root, and its directories.

    Symlinks are replaced by a copy or link of their target first: a cache entry is self-contained.
    """
    files, dirs = hashing.walk_tree(root)
    for rel in files:
        p = root / rel
        if p.is_symlink():
            target = p.resolve(strict=True)
            p.unlink()
            fsutil.link_file(target, p)
    found = statindex.digests([root / rel for rel in files], on_bytes=on_bytes)
    infos = {}
    for rel in files:
        digest, st = found[os.fspath(root / rel)]
        infos[rel] = FileInfo(digest, st.st_size, st.st_mtime_ns, hashing.is_exec(st.st_mode))
    return infos, dirs


class CacheStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.steps = self.root / "steps"
        self.tmp = self.root / "tmp"
        self.locks = self.root / "locks"
        self.refs = self.root / "refs"
        self.hub = hub.cache_dir()  # the Hugging Face cache, shared; not under root
        self._index: StatIndex | None = None

    def ensure(self) -> CacheStore:
        for d in (self.steps, self.tmp, self.locks, self.refs):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def index(self) -> StatIndex:
        if self._index is None:
            self._index = StatIndex(
                self.root / f"index-{hashing.ALGORITHM}.sqlite"
            )  # digests of one algorithm
        return self._index

    # ------------------------------------------------------------------ locks and staging

    def lock(self, name: str):
        """An inter-process lock (flock: released by the kernel if the holder dies, even by SIGKILL)."""
        from filelock import FileLock

        return FileLock(os.fspath(self.locks / f"{name}.lock"))

    def new_staging(self, fp: str) -> Path:
        d = self.tmp / f"{fp}.{os.getpid()}.{next(_counter)}"
        try:
            (d / "out").mkdir(parents=True)
        except OSError:  # e.g. ENOSPC between the two mkdirs: leave no half-made staging directory behind
            fsutil.remove_tree(d)
            raise
        return d

    def sweep_staging(self, fp: str | None = None) -> list[Path]:
        """Remove staging left by dead builds. With fp: the caller holds fp's lock, so any staging is stale.

        Without fp: every staging directory whose fingerprint lock is free (no live build owns it).
        """
        removed: list[Path] = []
        if not self.tmp.is_dir():
            return removed
        for d in list(self.tmp.iterdir()):
            owner = d.name.split(".", 1)[0]
            if fp is not None:
                if owner == fp:
                    fsutil.remove_tree(d)
                    removed.append(d)
                continue
            lock = self.lock(owner)
            try:
                lock.acquire(timeout=0)
            except Exception:  # noqa: BLE001 - held by a live build (filelock.Timeout) or unlockable
                continue
            try:
                fsutil.remove_tree(d)
                removed.append(d)
            finally:
                lock.release()
        return removed

    # ------------------------------------------------------------------ entries

    def entry(self, fp: str) -> Entry | None:
        path = self.steps / fp
        meta = fsutil.read_json(path / META)
        if not isinstance(meta, dict) or meta.get("fingerprint") != fp or meta.get("format") != ENTRY_FORMAT:
            return None
        return Entry(fp, path, meta)

    def entries(self) -> list[Entry]:
        out = []
        if self.steps.is_dir():
            for d in sorted(self.steps.iterdir()):
                e = self.entry(d.name)
                if e is not None:
                    out.append(e)
        return out

    def quick_check(self, entry: Entry) -> list[str]:
        """Cheap integrity check for a cache hit: stat every file; re-hash only those whose stat changed.

        Returns the problems found (empty: the entry is good). This is what keeps a no-op rebuild independent
        of artifact size: gigabytes are only read when something changed.
        """
        problems = []
        changed: dict[str, FileInfo] = {}
        for rel, info in entry.files.items():
            try:
                st = os.stat(entry.out / rel)
            except OSError:
                problems.append(f"{rel}: missing")
                continue
            if st.st_size != info.size:
                problems.append(f"{rel}: size {st.st_size} != {info.size}")
            elif st.st_mtime_ns != info.mtime_ns:
                changed[rel] = info
        if changed and not problems:
            fresh = hashing.rehash_like(
                {os.fspath(entry.out / rel): info.digest for rel, info in changed.items()}
            )
            for rel, info in changed.items():
                if fresh[os.fspath(entry.out / rel)] not in (info.digest, None):
                    problems.append(f"{rel}: content changed")
            if not problems:
                self._refresh_stats(entry, list(changed))
        return problems

    def _refresh_stats(self, entry: Entry, rels: list[str]) -> None:
        """Content is intact but mtimes moved (touch, copy): remember the new stats so we do not re-hash."""
        lock = self.lock(entry.fingerprint)
        try:
            lock.acquire(timeout=0)
        except Exception:  # noqa: BLE001 - someone else holds it: skip, harmless
            return
        try:
            for rel in rels:
                entry.meta["files"][rel]["mtime_ns"] = os.stat(entry.out / rel).st_mtime_ns
            fsutil.atomic_write_json(entry.path / META, entry.meta)
        finally:
            lock.release()

    def touch(self, entry: Entry) -> None:
        """Record a use (the entry directory's mtime is its last-used time, for `gc --older-than`)."""
        try:
            os.utime(entry.path)
        except OSError:
            pass

    def commit(self, fp: str, staging: Path, meta: dict[str, Any]) -> Entry:
        """Publish a complete staging directory as the entry for fp (caller holds fp's lock).

        Files written by the step become read-only (a hard link to them in an output directory must not be
        edited in place). An existing entry (a --force rebuild) is replaced atomically.
        """
        meta = {"format": ENTRY_FORMAT, "fingerprint": fp, **meta}
        for rel in meta["files"]:
            p = staging / "out" / rel
            st = os.stat(p)
            if st.st_nlink == 1:  # not shared with a user's file (a local model dir linked in)
                ro = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
                if st.st_mode & stat.S_IXUSR:
                    ro |= stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
                os.chmod(p, ro)
        fsutil.atomic_write_json(staging / META, meta)
        dest = self.steps / fp
        if dest.exists():
            old = self.tmp / f"{fp}.old.{os.getpid()}.{next(_counter)}"
            fsutil.replace_dir(staging, dest, old_holder=old)
        else:
            os.rename(staging, dest)
        return Entry(fp, dest, meta)

    def evict(self, fp: str) -> None:
        """Remove an entry (caller holds fp's lock): renamed out of steps/ first, so it vanishes
        atomically."""
        dest = self.steps / fp
        if dest.exists():
            grave = self.tmp / f"{fp}.evicted.{os.getpid()}.{next(_counter)}"
            os.rename(dest, grave)
            fsutil.remove_tree(grave)

    # ------------------------------------------------------------------ references (for gc)

    def _ref_path(self, out_dir: Path) -> Path:
        return self.refs / (hashlib.sha256(os.fsencode(out_dir.absolute())).hexdigest()[:32] + ".json")

    def add_ref(self, out_dir: Path) -> None:
        self.refs.mkdir(parents=True, exist_ok=True)
        path = self._ref_path(out_dir)
        if fsutil.read_json(path) != {"output": str(out_dir.absolute())}:
            fsutil.atomic_write_json(path, {"output": str(out_dir.absolute())})

    def referenced(self) -> dict[str, list[str]]:
        """{fingerprint: [output dirs]} for every output directory published from here that still exists."""
        refs: dict[str, list[str]] = {}
        if not self.refs.is_dir():
            return refs
        for ref in self.refs.glob("*.json"):
            doc = fsutil.read_json(ref) or {}
            out = Path(doc.get("output", ""))
            lock = fsutil.read_json(out / "trtforge.lock.json") if doc.get("output") else None
            if not isinstance(lock, dict):
                ref.unlink(missing_ok=True)  # the output is gone: it no longer pins anything
                continue
            for step in lock.get("steps", []):
                if step.get("fingerprint"):
                    refs.setdefault(step["fingerprint"], []).append(str(out))
        return refs

    # ------------------------------------------------------------------ ls / verify / gc

    def hub_size(self) -> tuple[int, int]:
        return fsutil.dir_size(self.hub) if self.hub.is_dir() else (0, 0)

    def verify(self, *, on_bytes: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        """Re-hash every entry (all files of all entries in one parallel pass) and compare with its meta.

        Returns one report per entry: {fingerprint, kind, name, ok, problems, bytes}.
        """
        entries = self.entries()
        reports: list[dict[str, Any]] = []
        to_hash: dict[str, str] = {}
        per_entry: list[tuple[Entry, dict[str, FileInfo], list[str]]] = []
        for e in entries:
            expected = e.files
            problems: list[str] = []
            try:
                files, dirs = hashing.walk_tree(e.out)
            except OSError:
                files, dirs = [], []
                problems.append("output directory missing")
            for rel in sorted(set(expected) - set(files)):
                problems.append(f"{rel}: missing")
            for rel in sorted(set(files) - set(expected)):
                problems.append(f"{rel}: unexpected file")
            for rel in sorted(set(e.dirs) - set(dirs)):
                problems.append(f"{rel}/: missing directory")
            present = [rel for rel in expected if rel in set(files)]
            for rel in present:
                p = e.out / rel
                if p.is_symlink() or not p.is_file():
                    problems.append(f"{rel}: not a regular file")
                else:
                    to_hash[os.fspath(p)] = expected[rel].digest
            per_entry.append((e, expected, problems))
        digests = hashing.rehash_like(to_hash, on_bytes=on_bytes) if to_hash else {}
        for e, expected, problems in per_entry:
            for rel, info in expected.items():
                key = os.fspath(e.out / rel)
                if key not in digests:
                    continue
                got = digests[key]
                if got is None:
                    problems.append(
                        f"{rel}: made with {hashing.algorithm_of(info.digest)}, not installed here"
                    )
                elif got != info.digest:
                    problems.append(f"{rel}: content hash {got[:19]}... != recorded {info.digest[:19]}...")
            reports.append(
                {
                    "fingerprint": e.fingerprint,
                    "kind": e.meta.get("kind"),
                    "name": e.meta.get("name"),
                    "ok": not problems,
                    "problems": problems,
                    "bytes": e.bytes,
                }
            )
        return reports

    def gc(
        self,
        *,
        older_than_s: float | None = None,
        keep_referenced: bool = True,
        dry_run: bool = False,
        grace_s: float = 600.0,
    ) -> dict[str, Any]:
        """Remove entries no published output references (and, with older_than_s, any not used for that long).

        Entries used in the last `grace_s` seconds are kept (a running build may be about to publish them);
        an entry whose lock is held is never touched. Stale staging directories go too.
        """
        refs = self.referenced() if keep_referenced else {}
        now = time.time()
        removed: list[dict[str, Any]] = []
        kept = 0
        for e in self.entries():
            try:
                age = now - e.path.stat().st_mtime
            except OSError:
                continue
            old = older_than_s is not None and age > older_than_s
            if age < grace_s or (e.fingerprint in refs and not old):
                kept += 1
                continue
            item = {
                "fingerprint": e.fingerprint,
                "kind": e.meta.get("kind"),
                "name": e.meta.get("name"),
                "bytes": e.bytes,
                "reason": "old" if old else "unreferenced",
            }
            if dry_run:
                removed.append(item)
                continue
            lock = self.lock(e.fingerprint)
            try:
                lock.acquire(timeout=0)
            except Exception:  # noqa: BLE001 - in use by a build
                kept += 1
                continue
            try:
                self.evict(e.fingerprint)
                removed.append(item)
            finally:
                lock.release()
        stale = [] if dry_run else [str(p) for p in self.sweep_staging()]
        return {
            "removed": removed,
            "kept": kept,
            "freed_bytes": sum(r["bytes"] for r in removed),
            "stale_staging_removed": stale,
            "dry_run": dry_run,
        }
