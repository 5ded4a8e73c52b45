"""Content hashes: plain sha256 for small files, parallel chunked sha256 for large ones; the stat index."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from trtforge.pipeline import hashing, statindex
from trtforge.pipeline.hashing import FileInfo

ALGOS = sorted(hashing.HASHERS)  # sha256 always; blake3 where installed (the default then)


def plain(algo: str, data: bytes) -> bytes:
    h = hashing.new_hasher(algo)
    h.update(data)
    return h.digest()


def test_default_algorithm_is_the_fastest_available() -> None:
    assert hashing.ALGORITHM == ("blake3" if "blake3" in hashing.HASHERS else "sha256")
    assert hashing.FORMAT == f"{hashing.ALGORITHM}tree-64m"


@pytest.mark.parametrize("algo", ALGOS)
def test_small_file_digest_is_the_plain_digest(tmp_path: Path, algo: str) -> None:
    p = tmp_path / "a"
    p.write_bytes(b"hello world")
    assert hashing.file_digest(p, algo) == f"{algo}:" + plain(algo, b"hello world").hex()
    if algo == "sha256":
        assert hashing.file_digest(p, algo) == "sha256:" + hashlib.sha256(b"hello world").hexdigest()
    (tmp_path / "e").write_bytes(b"")
    assert hashing.file_digest(tmp_path / "e", algo) == f"{algo}:" + plain(algo, b"").hex()


@pytest.mark.parametrize("algo", ALGOS)
def test_large_file_digest_is_digest_of_chunk_digests(tmp_path: Path, monkeypatch, algo: str) -> None:
    monkeypatch.setattr(hashing, "CHUNK", 1 << 20)
    monkeypatch.setattr(hashing, "BLOCK", 256 << 10)
    data = os.urandom((3 << 20) + 12345)
    p = tmp_path / "big"
    p.write_bytes(data)
    chunks = [plain(algo, data[i : i + (1 << 20)]) for i in range(0, len(data), 1 << 20)]
    want = f"{algo}tree:" + plain(algo, b"".join(chunks)).hex()
    assert hashing.file_digest(p, algo) == want
    # same answer single-threaded and with many workers, and one byte changes it
    assert hashing.hash_files([p], workers=1, algorithm=algo)[str(p)] == want
    assert hashing.hash_files([p], workers=7, algorithm=algo)[str(p)] == want
    flipped = bytearray(data)
    flipped[(2 << 20) + 5] ^= 1
    p.write_bytes(bytes(flipped))
    assert hashing.file_digest(p, algo) != want


def test_rehash_like_uses_each_digest_algorithm(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(b"abc")
    recorded = {str(p): hashing.file_digest(p, "sha256")}
    assert hashing.rehash_like(recorded) == recorded  # checked with sha256 whatever the default is
    assert hashing.rehash_like({str(p): "nosuchalgo:00"}) == {str(p): None}  # cannot check: not "corrupt"


def test_hash_files_reports_every_byte_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(hashing, "CHUNK", 1 << 20)
    sizes = [0, 10, (1 << 20) + 1, 3 << 20]
    paths = []
    for i, n in enumerate(sizes):
        paths.append(tmp_path / f"f{i}")
        paths[-1].write_bytes(os.urandom(n))
    seen = []
    out = hashing.hash_files(paths, on_bytes=seen.append)
    assert sum(seen) == sum(sizes) and len(out) == len(sizes)


def test_tree_digest_covers_paths_content_modes_and_empty_dirs() -> None:
    a = {"x/y.bin": FileInfo("sha256:aa", 1, 1), "z": FileInfo("sha256:bb", 1, 1)}
    base = hashing.tree_digest(a, ["x"])
    assert hashing.tree_digest(dict(reversed(list(a.items()))), ["x"]) == base  # order-free
    assert hashing.tree_digest(a, ["x", "x/empty"]) != base
    assert hashing.tree_digest({**a, "z": FileInfo("sha256:cc", 1, 1)}, ["x"]) != base
    assert hashing.tree_digest({**a, "z": FileInfo("sha256:bb", 1, 1, exec=True)}, ["x"]) != base
    assert hashing.tree_digest({"x/y2.bin": a["x/y.bin"], "z": a["z"]}, ["x"]) != base


def test_stat_index_hashes_once_and_notices_changes(tmp_path: Path, monkeypatch) -> None:
    index = statindex.StatIndex(tmp_path / "index.sqlite")
    statindex.activate(index)
    try:
        p = tmp_path / "w.bin"
        p.write_bytes(b"a" * 1000)
        old = time.time() - 10
        os.utime(p, (old, old))  # not "racy": written long enough ago to trust its mtime
        calls = []
        real = hashing.hash_files

        def counting(paths, **kw):
            calls.append(list(paths))
            return real(paths, **kw)

        monkeypatch.setattr(hashing, "hash_files", counting)
        first = statindex.digests([p])[str(p)][0]
        again = statindex.digests([p])[str(p)][0]
        assert first == again and len(calls) == 1  # the second look-up was a stat, not a read
        link = tmp_path / "hardlink.bin"
        os.link(p, link)
        assert statindex.digests([link])[str(link)][0] == first and len(calls) == 1  # same inode
        p.write_bytes(b"b" * 1000)
        os.utime(p, (old + 1, old + 1))
        assert statindex.digests([p])[str(p)][0] != first and len(calls) == 2
    finally:
        statindex.activate(None)
        index.close()


def test_recently_modified_files_are_not_remembered(tmp_path: Path) -> None:
    index = statindex.StatIndex(tmp_path / "index.sqlite")
    statindex.activate(index)
    try:
        p = tmp_path / "fresh"
        p.write_bytes(b"new")
        statindex.digests([p])
        assert index.get(os.stat(p)) is None  # a same-tick rewrite could otherwise go unnoticed
    finally:
        statindex.activate(None)
        index.close()


@pytest.mark.parametrize("n", [1, 5])
def test_walk_tree_lists_files_and_dirs(tmp_path: Path, n: int) -> None:
    for i in range(n):
        (tmp_path / f"d{i}" / "e").mkdir(parents=True)
        (tmp_path / f"d{i}" / "f.txt").write_text("x")
    files, dirs = hashing.walk_tree(tmp_path)
    assert files == sorted(f"d{i}/f.txt" for i in range(n))
    assert dirs == sorted([f"d{i}" for i in range(n)] + [f"d{i}/e" for i in range(n)])
