"""Disk full during a step: a clear error, no corrupt or partial cache entry, nothing half-published, and once
space is back the rebuild equals a build that never failed.

Two ways to fill the disk:
- a real small file system: a tmpfs mounted for the test (root on Linux, as CI runs here) holding the cache
and
  the output, with a ballast file leaving just a little space; skipped with the reason where mounting is
  refused;
- injected ENOSPC (tests/reliability/faultkit.py): from the K-th file-system operation of the build on, every
  operation needing space fails, for K across every step, the cache commits and the output swap.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pipeline.conftest import leftovers
from tests.reliability.conftest import (
    base_env,
    figure,
    lock_fingerprints,
    quant_recipe,
    trtforge,
    trtforge_here,
    write_yaml,
)
from trtforge.pipeline.cache import CacheStore

FAST = {
    "name": "d",
    "model": {"path": "model"},
    "targets": [{"gpu": "cpu"}, {"gpu": "H100-80GB"}],
    "quantization": {"format": "none"},
    "engine": {"max_batch_size": 4, "max_seq_len": 256},
}
QUANT = quant_recipe("dq")
ENOSPC_TEXT = os.strerror(errno.ENOSPC)  # "No space left on device"


@pytest.fixture
def small_fs(tmp_path: Path):
    """A tmpfs of 12 MiB at tmp_path/fs, unmounted afterwards; skip where this machine refuses the mount."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root here)")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(fs: Path, leave: int) -> Path:
    """A ballast file leaving about `leave` bytes free on fs."""
    st = os.statvfs(fs)
    free = st.f_bavail * st.f_frsize
    ballast = fs / "ballast"
    with open(ballast, "wb") as f:
        f.truncate(0)
        f.write(b"\0" * max(0, free - leave))
    return ballast


def assert_nothing_partial(cache_root: Path, out: Path, *, published_before: dict | None = None) -> None:
    cache = CacheStore(cache_root)
    reports = cache.verify()
    assert all(r["ok"] for r in reports), reports
    assert not cache.tmp.is_dir() or not list(cache.tmp.iterdir()), list(
        cache.tmp.iterdir()
    )  # staging removed
    assert leftovers(cache_root, out.parent) == []
    if published_before is None:
        assert not out.exists(), "a failed build published an output"


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) >= 1 and "Traceback" not in stderr, stderr
    return lines[-1]


def test_disk_full_in_download_on_a_small_filesystem(tmp_path: Path, model_dir: Path, small_fs: Path) -> None:
    write_yaml(tmp_path / "d.yaml", FAST)
    ref = trtforge_here(
        tmp_path,
        "build",
        "d.yaml",
        "--target",
        "cpu",
        "--output",
        "ref",
        env=base_env(tmp_path, TRTFORGE_CACHE=str(tmp_path / "ref-cache")),
    )
    assert ref.returncode == 0, ref.stderr
    env = base_env(tmp_path, TRTFORGE_CACHE=str(small_fs / "cache"))
    ballast = fill(small_fs, 1 << 20)  # the checkpoint is ~3 MB: the download cannot fit
    r = trtforge(tmp_path, "build", "d.yaml", "--target", "cpu", "--output", str(small_fs / "out"), env=env)
    assert r.returncode == 1
    line = one_error_line(r.stderr)
    assert line.startswith("error: step 'download' failed:") and ENOSPC_TEXT in line, line
    assert_nothing_partial(small_fs / "cache", small_fs / "out")
    figure("disk full on a real small file system")
    ballast.unlink()  # space is back: the same command now builds, equal to an undisturbed build
    again = trtforge_here(
        tmp_path, "build", "d.yaml", "--target", "cpu", "--output", str(small_fs / "out"), env=env
    )
    assert again.returncode == 0, again.stderr
    assert lock_fingerprints(small_fs / "out" / "cpu") == lock_fingerprints(tmp_path / "ref" / "cpu")
    verify = trtforge_here(tmp_path, "cache", "verify", "--json", env=env)
    assert json.loads(verify.stdout)["corrupt"] == 0


@pytest.mark.slow  # a real ModelOpt export onto a small full file system
def test_disk_full_during_modelopt_export(tmp_path: Path, model_dir: Path, small_fs: Path) -> None:
    """The download fits, the quantized checkpoint does not: the worker's failure is reported, nothing
    kept."""
    write_yaml(tmp_path / "dq.yaml", QUANT)
    env = base_env(tmp_path, TRTFORGE_CACHE=str(small_fs / "cache"))
    fill(small_fs, 3_700_000)  # ~2.9 MB download + ~1.7 MB export: the export runs out
    r = trtforge(tmp_path, "build", "dq.yaml", "--output", str(small_fs / "out"), env=env)
    assert r.returncode == 1, r.stderr
    line = one_error_line(r.stderr)
    assert line.startswith("error: quantize:") and "No space left on device" in line, line
    assert "not supported" not in line and "free space" in line, line  # not blamed on the format
    assert [e.meta["kind"] for e in CacheStore(small_fs / "cache").entries()] == ["download"]
    assert_nothing_partial(small_fs / "cache", small_fs / "out")
    figure("disk full on a real small file system")


# --------------------------------------------------------------------------------------- injected ENOSPC


def _injection_points(workdir: Path, env: dict, n: int) -> list[int]:
    count_file = workdir / "count.json"
    r = trtforge(workdir, "build", "d.yaml", "--json", env=env, fault=["--count", str(count_file)])
    assert r.returncode == 0, r.stderr
    trace = json.loads(count_file.read_text())["trace"]
    rng = random.Random(int(os.environ.get("TRTFORGE_FAULT_SEED", "20240917")) + 7)
    # one point in each module that writes, then random ones
    firsts: dict[str, int] = {}
    for line in trace:
        k, op, where = line.split(" ", 2)
        if op in ("open-write", "os.open-write", "os.mkdir", "os.link", "os.fsync"):
            firsts.setdefault(where.split(":")[0], int(k))
    points = set(firsts.values())
    points |= set(rng.sample(range(1, len(trace) + 1), min(len(trace), n)))
    return sorted(points)


def _run_out_of_space(workdir: Path, env: dict, k: int):  # noqa: ANN202
    shutil.rmtree(workdir / "cache", ignore_errors=True)
    shutil.rmtree(workdir / "out", ignore_errors=True)
    return trtforge(workdir, "build", "d.yaml", "--json", env=env, fault=["--enospc-at", str(k)])


@pytest.mark.slow  # one build process per injected ENOSPC point
def test_enospc_at_any_point_keeps_the_cache_intact_and_the_rebuild_equal(
    tmp_path: Path, model_dir: Path
) -> None:
    write_yaml(tmp_path / "d.yaml", FAST)
    ref_env = base_env(tmp_path, TRTFORGE_CACHE=str(tmp_path / "ref-cache"))
    # every module's first space-needing operation, then two seeded random ones (the kill points' policy)
    points = _injection_points(tmp_path, ref_env, 2)
    shutil.move(tmp_path / "out", tmp_path / "ref-out")
    env = base_env(tmp_path)
    for k in points:
        r = _run_out_of_space(tmp_path, env, k)
        assert r.returncode == 1, (k, r.stderr[-400:])
        line = one_error_line(r.stderr)
        assert line.startswith("error: ") and ENOSPC_TEXT in line, (k, line)
        # where it happened and what to do, never "internal error" (preparing the cache, a step, publishing)
        assert "internal error" not in line and "free space" in line, (k, line)
        for label in ("cpu", "h100-80gb"):  # each target's output is absent or complete
            out = tmp_path / "out" / "d" / label
            if out.exists():
                assert lock_fingerprints(out) == lock_fingerprints(tmp_path / "ref-out" / "d" / label)
        assert all(r["ok"] for r in CacheStore(tmp_path / "cache").verify())
        assert leftovers(tmp_path / "cache", tmp_path / "out") == []
        again = trtforge_here(tmp_path, "build", "d.yaml", env=env)
        assert again.returncode == 0, (k, again.stderr)
        for label in ("cpu", "h100-80gb"):
            assert lock_fingerprints(tmp_path / "out" / "d" / label) == lock_fingerprints(
                tmp_path / "ref-out" / "d" / label
            )
        figure("disk full injected at a file-system point, then rebuild")


def test_an_os_error_inside_a_rust_library_error_is_recognised() -> None:
    """safetensors reports a full disk as SafetensorError('... I/O error: No space left on device (os error
    28)'):
    the quantize worker must see the ENOSPC in it (and not blame the quantization format)."""
    from trtforge.quantize.worker import _os_error

    class SafetensorError(Exception):
        pass

    found = _os_error(
        SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    )
    assert found is not None and found.errno == errno.ENOSPC and found.strerror == ENOSPC_TEXT
    assert _os_error(ValueError("bad shape (3, 4)")) is None
