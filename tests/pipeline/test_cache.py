"""The cache store: atomic commit, stat-checked look-ups, verify, gc; file-system helpers it relies on."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from trtforge import fsutil
from trtforge.pipeline.cache import CacheStore, scan_output
from trtforge.pipeline.hashing import tree_digest


def make_entry(cache: CacheStore, fp: str, files: dict[str, bytes]):
    with cache.lock(fp):
        staging = cache.new_staging(fp)
        for rel, data in files.items():
            (staging / "out" / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / "out" / rel).write_bytes(data)
        infos, dirs = scan_output(staging / "out")
        meta = {
            "kind": "test",
            "name": "t",
            "files": {r: i.to_json() for r, i in infos.items()},
            "dirs": dirs,
            "digest": tree_digest(infos, dirs),
            "bytes": sum(i.size for i in infos.values()),
            "metadata": {},
        }
        return cache.commit(fp, staging, meta)


@pytest.fixture
def cache(tmp_path: Path) -> CacheStore:
    return CacheStore(tmp_path / "cache").ensure()


def test_commit_publishes_complete_read_only_entry(cache: CacheStore) -> None:
    e = make_entry(cache, "f" * 64, {"a.txt": b"A", "sub/b.bin": b"B" * 100})
    assert cache.entry("f" * 64).digest == e.digest
    assert (e.out / "sub/b.bin").read_bytes() == b"B" * 100
    assert not os.access(e.out / "a.txt", os.W_OK) or os.geteuid() == 0
    assert os.stat(e.out / "a.txt").st_mode & 0o222 == 0  # files are read-only once committed
    assert list(cache.tmp.iterdir()) == []  # staging was renamed, nothing left behind
    assert cache.quick_check(e) == []


def test_quick_check_finds_modified_and_missing_files(cache: CacheStore) -> None:
    e = make_entry(cache, "a" * 64, {"x": b"12345", "y": b"abc"})
    p = e.out / "x"
    os.chmod(p, 0o644)
    p.write_bytes(b"54321")  # same size, new content, new mtime
    assert cache.quick_check(cache.entry("a" * 64)) == ["x: content changed"]
    (e.out / "y").unlink()
    assert "y: missing" in cache.quick_check(cache.entry("a" * 64))


def test_quick_check_accepts_touched_file_and_remembers_new_stat(cache: CacheStore) -> None:
    e = make_entry(cache, "b" * 64, {"x": b"same"})
    os.utime(e.out / "x", (time.time() + 5, time.time() + 5))
    assert cache.quick_check(cache.entry("b" * 64)) == []
    again = cache.entry("b" * 64)
    assert again.files["x"].mtime_ns == os.stat(e.out / "x").st_mtime_ns


def test_recommit_replaces_entry_atomically(cache: CacheStore) -> None:
    make_entry(cache, "c" * 64, {"x": b"1"})
    e2 = make_entry(cache, "c" * 64, {"x": b"2"})
    assert (cache.entry("c" * 64).out / "x").read_bytes() == b"2" and e2.meta["bytes"] == 1
    assert list(cache.tmp.iterdir()) == []


def test_sweep_removes_staging_of_dead_builds_only(cache: CacheStore) -> None:
    dead = cache.new_staging("d" * 64)  # nobody holds d's lock: a killed build left it
    live_lock = cache.lock("e" * 64)
    live_lock.acquire()
    try:
        live = cache.new_staging("e" * 64)
        removed = cache.sweep_staging()
        assert dead in removed and live.exists()
    finally:
        live_lock.release()


def test_verify_reports_corruption_and_missing_and_extra_files(cache: CacheStore) -> None:
    good = make_entry(cache, "1" * 64, {"ok": b"fine"})
    bad = make_entry(cache, "2" * 64, {"w": b"data", "gone": b"x"})
    os.chmod(bad.out / "w", 0o644)
    with open(bad.out / "w", "r+b") as f:  # in place, same size, mtime restored: only a re-hash can tell
        f.write(b"DATA")
    st = bad.files["w"]
    os.utime(bad.out / "w", ns=(st.mtime_ns, st.mtime_ns))
    (bad.out / "gone").unlink()
    os.chmod(bad.out, 0o755)
    (bad.out / "extra").write_text("?")
    reports = {r["fingerprint"]: r for r in cache.verify()}
    assert reports[good.fingerprint]["ok"]
    problems = " | ".join(reports[bad.fingerprint]["problems"])
    assert (
        "w: content hash" in problems and "gone: missing" in problems and "extra: unexpected file" in problems
    )
    assert cache.quick_check(cache.entry("2" * 64))  # and the cheap check sees the missing file too


def test_gc_keeps_referenced_and_recent_entries(cache: CacheStore, tmp_path: Path) -> None:
    used = make_entry(cache, "3" * 64, {"a": b"a"})
    orphan = make_entry(cache, "4" * 64, {"b": b"bb"})
    out = tmp_path / "out"
    out.mkdir()
    (out / "trtforge.lock.json").write_text('{"steps": [{"fingerprint": "' + "3" * 64 + '"}]}')
    cache.add_ref(out)
    assert cache.gc()["removed"] == []  # both used just now: a running build may be about to publish them
    past = time.time() - 3600
    for e in (used, orphan):
        os.utime(e.path, (past, past))
    dry = cache.gc(dry_run=True)
    assert [r["fingerprint"] for r in dry["removed"]] == [orphan.fingerprint] and cache.entry("4" * 64)
    report = cache.gc()
    assert [r["fingerprint"] for r in report["removed"]] == [orphan.fingerprint] and report[
        "freed_bytes"
    ] == 2
    assert cache.entry("4" * 64) is None and cache.entry("3" * 64) is not None
    report = cache.gc(older_than_s=60)
    assert [r["reason"] for r in report["removed"]] == ["old"] and cache.entries() == []


def test_gc_forgets_outputs_that_were_deleted(cache: CacheStore, tmp_path: Path) -> None:
    make_entry(cache, "5" * 64, {"a": b"a"})
    out = tmp_path / "out2"
    out.mkdir()
    (out / "trtforge.lock.json").write_text('{"steps": [{"fingerprint": "' + "5" * 64 + '"}]}')
    cache.add_ref(out)
    assert "5" * 64 in cache.referenced()
    fsutil.remove_tree(out)
    assert cache.referenced() == {} and list(cache.refs.iterdir()) == []


def test_link_tree_hardlinks_on_same_fs_and_copies_when_links_fail(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "src"
    (src / "d" / "empty").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"x" * 10)
    counts = fsutil.link_tree(src, tmp_path / "dst")
    assert counts in ({"hardlink": 1}, {"reflink": 1})
    assert (tmp_path / "dst" / "d" / "empty").is_dir()
    if counts == {"hardlink": 1}:
        assert os.stat(tmp_path / "dst/d/f").st_ino == os.stat(src / "d/f").st_ino

    def no_links(*a, **k):
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(fsutil, "_reflink", lambda *a: False)
    counts = fsutil.link_tree(src, tmp_path / "dst2")
    assert counts == {"copy": 1}
    st_src, st_dst = os.stat(src / "d/f"), os.stat(tmp_path / "dst2/d/f")
    assert (
        st_dst.st_ino != st_src.st_ino and st_dst.st_mtime_ns == st_src.st_mtime_ns
    )  # mtime kept for stat checks


def test_replace_dir_swaps_whole_trees(tmp_path: Path) -> None:
    old = tmp_path / "out"
    old.mkdir()
    (old / "old.txt").write_text("old")
    new = tmp_path / "out.tmp-1"
    new.mkdir()
    (new / "new.txt").write_text("new")
    fsutil.replace_dir(new, old, old_holder=tmp_path / "out.old-1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in old.iterdir()] == ["new.txt"]


def test_replace_dir_without_renameat2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(fsutil, "exchange", lambda a, b: False)
    old = tmp_path / "out"
    old.mkdir()
    (old / "a").write_text("a")
    new = tmp_path / "n"
    new.mkdir()
    (new / "b").write_text("b")
    fsutil.replace_dir(new, old, old_holder=tmp_path / "out.old-9")
    assert [p.name for p in old.iterdir()] == ["b"] and not (tmp_path / "out.old-9").exists()
