"""Stat-based change detection: remember each file's content hash under (device, inode, size, mtime_ns).

A no-op rebuild must not re-read gigabytes of weights, so a file is hashed only when its stat identity is new
(like DVC's state database). Hard links share an inode, so a checkpoint linked from the hub cache or a local
model directory into a cache entry is hashed once. One SQLite file per cache, safe for concurrent builds; if
the index is unusable for any reason we just hash (never fail a build over a cache of a cache).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from trtforge.pipeline import hashing

_active: StatIndex | None = None
RACY_NS = 1_000_000_000


class StatIndex:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is None:
            try:
                self.db_path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS hashes (dev INTEGER, ino INTEGER, size INTEGER, mtime_ns "
                    "INTEGER,"
                    " digest TEXT, PRIMARY KEY (dev, ino))"
                )
                self._db = db
            except sqlite3.Error:
                return None
        return self._db

    def get(self, st: os.stat_result) -> str | None:
        with self._lock:
            db = self._conn()
            if db is None:
                return None
            try:
                row = db.execute(
                    "SELECT size, mtime_ns, digest FROM hashes WHERE dev=? AND ino=?", (st.st_dev, st.st_ino)
                ).fetchone()
            except sqlite3.Error:
                return None
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return row[2]
        return None

    def put_many(self, rows: list[tuple[os.stat_result, str]]) -> None:
        if not rows:
            return
        with self._lock:
            db = self._conn()
            if db is None:
                return
            try:
                db.execute("BEGIN")
                db.executemany(
                    "INSERT OR REPLACE INTO hashes (dev, ino, size, mtime_ns, digest) VALUES (?, ?, ?, ?, ?)",
                    [(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, d) for st, d in rows],
                )
                db.execute("COMMIT")
            except sqlite3.Error:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def activate(index: StatIndex | None) -> None:
    """Make `index` the one `digests` uses (the runner activates its cache's index for a build)."""
    global _active
    _active = index


def active() -> StatIndex | None:
    return _active


def digests(paths: list[Path], *, on_bytes=None) -> dict[str, tuple[str, os.stat_result]]:
    """{str(path): (content hash, stat)} for each file, hashing only those the active index does not know.

    A file that changes while it is hashed is not remembered (its stat after hashing differs), nor one
    modified in the last second: a second write within the same mtime tick would go unnoticed (git's "racy"
    case).
    """
    index = _active
    out: dict[str, tuple[str, os.stat_result]] = {}
    todo: list[str] = []
    stats: dict[str, os.stat_result] = {}
    for p in paths:
        sp = os.fspath(p)
        st = os.stat(sp)
        stats[sp] = st
        known = index.get(st) if index is not None else None
        if known is not None:
            out[sp] = (known, st)
        else:
            todo.append(sp)
    if todo:
        fresh = hashing.hash_files(todo, on_bytes=on_bytes)
        remember = []
        recent = time.time_ns() - RACY_NS
        for sp in todo:
            after = os.stat(sp)
            before = stats[sp]
            same = (after.st_size, after.st_mtime_ns, after.st_ino) == (
                before.st_size,
                before.st_mtime_ns,
                before.st_ino,
            )
            if same and after.st_mtime_ns < recent:
                remember.append((after, fresh[sp]))
            out[sp] = (fresh[sp], after)
        if index is not None:
            index.put_many(remember)
    return out
