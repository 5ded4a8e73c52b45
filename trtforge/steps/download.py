"""The download step: exactly the checkpoint files a build needs, from the Hugging Face hub or a local
directory.

Hub (through trtforge.hub, the one Hugging Face client): the recipe's revision is resolved to a commit sha
(recorded in the lock file) and the files are fetched into the Hugging Face cache (HF_HUB_CACHE / HF_HOME
conventions; blobs + snapshots, `.incomplete` then rename, so an interrupted transfer resumes where it
stopped), then hard-linked into the step's output. The repo's file list at that commit is kept in
`<trtforge cache>/hub-listings/` (the hub cache records which files were fetched, not which exist).
Selection (unless `model.allow_patterns` overrides it): root-level files only (never `original/`,
`metal/`...), safetensors weights (never `*.bin` when safetensors exist; never Mistral's
`consolidated*.safetensors` duplicate), configs, tokenizer files, chat templates, licences; `*.py` only with
trust_remote_code. The token comes from `secrets.hub_token` and is passed to huggingface_hub only: never
logged, never recorded. Offline (HF_HUB_OFFLINE=1) the revision comes from the hub cache's refs/ and the file
list from the listing an earlier online build recorded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from trtforge import fsutil, hub, secrets
from trtforge.cachedir import active_root
from trtforge.errors import InvalidInput, StepFailed
from trtforge.pipeline import hashing, statindex
from trtforge.pipeline.step import Step, StepContext

SELECTION_VERSION = 1  # bump when select_files' rules change (changes the download fingerprint)
CONFIG_GLOBS = (
    "*.json",
    "*.model",
    "*.tiktoken",
    "merges.txt",
    "vocab.txt",
    "*.jinja",
    "LICENSE*",
    "NOTICE*",
    "USE_POLICY*",
)


def select_files(
    files: list[str], *, trust_remote_code: bool = False, allow_patterns: list[str] | None = None
) -> list[str]:
    """The subset of a repo's files a build needs (pure; see the module doc for the rules)."""
    if allow_patterns:
        return sorted(f for f in files if any(fnmatch(f, p) for p in allow_patterns))
    root = [f for f in files if "/" not in f]
    safetensors = [f for f in root if f.endswith(".safetensors")]
    hf_format = [f for f in safetensors if not f.startswith("consolidated")]
    if safetensors:
        weights = hf_format or safetensors
        skip_index = "pytorch_model.bin.index.json"
    else:
        weights = [f for f in root if fnmatch(f, "pytorch_model*.bin")]
        skip_index = "model.safetensors.index.json"
    keep = set(weights)
    keep.update(f for f in root if any(fnmatch(f, g) for g in CONFIG_GLOBS) and f != skip_index)
    if trust_remote_code:
        keep.update(f for f in root if f.endswith(".py"))
    return sorted(keep)


def _contained(name: str) -> bool:
    """A relative path that stays below the directory it is joined to (no '..', not absolute)."""
    from pathlib import PurePosixPath

    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name


def _refuse_link_out(root: Path, name: str) -> None:
    """A symlink in a local checkpoint may point inside it (or, in a Hugging Face cache snapshot, to its
    ../../blobs/), never elsewhere: the build would publish whatever file it names (a key, /etc/...)."""
    path = root / name
    if not path.is_symlink():
        return
    real_root = root.resolve()
    target = path.resolve()
    blobs = real_root.parent.parent / "blobs" if real_root.parent.name == "snapshots" else None
    if target.is_relative_to(real_root) or (blobs is not None and target.parent == blobs):
        return
    raise InvalidInput(
        f"model.path {root}: {name} is a symlink to {target}, outside the checkpoint directory",
        hint="copy the file into the directory: a build never follows links out of a checkpoint",
    )


def _listings_dir() -> Path:
    return active_root() / "hub-listings"


@dataclass
class Resolved:
    sha: str
    sizes: dict[str, int | None]  # every file of the repo at that commit -> size (None if unknown)


class DownloadStep(Step):
    """Fetch the checkpoint (hub at a pinned commit, or a local directory) into the build."""

    kind = "download"
    version = "1"

    def __init__(self, name, loaded, plan, needs=()) -> None:  # noqa: ANN001 - the Step constructor
        super().__init__(name, loaded, plan, needs)
        self._resolved: Resolved | None = None
        self._local: tuple[list[str], str] | None = None

    @property
    def model(self):  # noqa: ANN201
        return self.loaded.recipe.model

    def params(self) -> dict[str, Any]:
        m = self.model
        # Neither the requested revision (resolved to a sha: the source fingerprint) nor a local path
        # (content-addressed) is a parameter: `main` and its sha, or two copies of a directory, share entries.
        return {
            "source": "hub" if m.repo else "path",
            "repo": m.repo,
            "allow_patterns": m.allow_patterns,
            "selection": SELECTION_VERSION,
            "trust_remote_code": m.trust_remote_code,
        }

    def source_fingerprint(self) -> str:
        if self.model.repo:
            return f"hub:{self.model.repo}@{self.resolve().sha}"
        return f"path:{self._local_files()[1]}"

    def files(self) -> list[str]:
        """The files this step will produce (resolves the revision for a hub source)."""
        m = self.model
        if m.repo:
            files = select_files(
                list(self.resolve().sizes),
                trust_remote_code=m.trust_remote_code,
                allow_patterns=m.allow_patterns,
            )
            unsafe = [f for f in files if not _contained(f)]
            if unsafe:
                raise StepFailed(
                    f"{m.repo}: the hub lists a file name that leaves the checkpoint directory "
                    f"({unsafe[0]!r}); refusing to download it",
                    hint="narrow model.allow_patterns, or check that HF_ENDPOINT is a hub",
                )
            return files
        return self._local_files()[0]

    def preflight(self) -> None:
        if not self.files():
            raise InvalidInput(
                f"no files of {self.model.repo or self.model.path} match what the build needs",
                hint="check model.allow_patterns, or that the checkpoint has config.json and safetensors",
            )

    def run(self, ctx: StepContext) -> dict[str, Any]:
        if self.model.repo:
            return self._run_hub(ctx)
        return self._run_local(ctx)

    # ------------------------------------------------------------------ local directory

    def _local_files(self) -> tuple[list[str], str]:
        if self._local is None:
            root = Path(self.model.path or "")
            if not root.is_dir():
                raise InvalidInput(f"model.path {root} is not a directory")
            found, _dirs = hashing.walk_tree(root)
            files = select_files(
                found,
                trust_remote_code=self.model.trust_remote_code,
                allow_patterns=self.model.allow_patterns,
            )
            for f in files:
                _refuse_link_out(root, f)
            digests = statindex.digests([root / f for f in files])
            h = hashlib.sha256()
            for f in files:
                h.update(f"{f} {digests[os.fspath(root / f)][0]}\n".encode())
            self._local = (files, h.hexdigest())
        return self._local

    def _run_local(self, ctx: StepContext) -> dict[str, Any]:
        root = Path(self.model.path or "")
        files = self._local_files()[0]
        total = 0
        for i, f in enumerate(files):
            dst = ctx.out_dir / f
            dst.parent.mkdir(parents=True, exist_ok=True)
            fsutil.link_file(root / f, dst)
            total += dst.stat().st_size
            ctx.progress("linking", i + 1, len(files), "files")
        return {"source": "path", "path": str(root), "files": len(files), "bytes": total}

    # ------------------------------------------------------------------ hub

    def _listing_path(self, sha: str) -> Path:
        return _listings_dir() / self.model.repo.replace("/", "--") / f"{sha}.json"

    def resolve(self) -> Resolved:
        """Revision -> commit sha and the repo's file list: from the hub, or offline from an earlier
        record."""
        if self._resolved is not None:
            return self._resolved
        m = self.model
        rev = m.revision
        if hub.COMMIT_RE.match(rev) and (listing := fsutil.read_json(self._listing_path(rev))):
            self._resolved = Resolved(rev, listing["sizes"])  # a commit never changes: no network needed
            return self._resolved
        if hub.offline():
            sha = hub.read_ref(m.repo, rev)
            listing = fsutil.read_json(self._listing_path(sha)) if sha else None
            if not listing:
                raise hub.offline_error(m.repo, rev)
            self._resolved = Resolved(sha, listing["sizes"])
            return self._resolved
        found = hub.list_repo(m.repo, rev, secrets.hub_token(m.token))
        self._listing_path(found.sha).parent.mkdir(parents=True, exist_ok=True)
        fsutil.atomic_write_json(
            self._listing_path(found.sha), {"repo": m.repo, "sha": found.sha, "sizes": found.sizes}
        )
        self._resolved = Resolved(found.sha, found.sizes)
        return self._resolved

    def _run_hub(self, ctx: StepContext) -> dict[str, Any]:
        m = self.model
        resolved = self.resolve()
        files = self.files()
        total = sum(resolved.sizes.get(f) or 0 for f in files)
        token = secrets.hub_token(m.token)
        storage = hub.storage_dir(m.repo)
        snapshot = hub.snapshot_dir(m.repo, resolved.sha)
        stop = threading.Event()
        poller = threading.Thread(
            target=_poll_progress, args=(ctx, storage, snapshot, files, total, stop), daemon=True
        )
        poller.start()

        def retrying(exc: BaseException, attempt: int) -> None:
            ctx.log(f"transfer interrupted ({type(exc).__name__}); resuming ({attempt}/{hub.ATTEMPTS})")

        try:
            with hub.quiet_hub_logs(_LogForward(ctx)):
                hub.download_snapshot(m.repo, resolved.sha, files, token, on_retry=retrying)
        finally:
            stop.set()
            poller.join(timeout=5)
        got = 0
        for f in files:
            src = snapshot / f
            if not src.exists():
                if hub.offline():
                    raise hub.offline_error(m.repo, resolved.sha[:12], f" ({f})")
                # snapshot_download returns the partial snapshot when the hub stops answering mid-way
                raise hub.unreachable_error(f"{f} of {m.repo}@{resolved.sha[:12]}")
            size = os.stat(src).st_size
            want = resolved.sizes.get(f)
            if want is not None and size != want:
                raise StepFailed(f"{m.repo}: {f} has {size} bytes, the hub says {want}")
            dst = ctx.out_dir / f
            dst.parent.mkdir(parents=True, exist_ok=True)
            fsutil.link_file(src, dst)
            os.chmod(os.path.realpath(src), 0o444)  # a hub blob is immutable; keep hard links to it read-only
            got += size
        ctx.progress("downloaded", got, total or got, "B")
        return {"source": "hub", "repo": m.repo, "revision": resolved.sha, "files": len(files), "bytes": got}


def _poll_progress(
    ctx: StepContext, storage: Path, snapshot: Path, files: list[str], total: int, stop: threading.Event
) -> None:
    """Bytes on disk so far: finished files in the snapshot plus `.incomplete` blobs being written."""
    last = -1
    while not stop.wait(0.5):
        done = 0
        try:
            for f in files:
                p = snapshot / f
                if p.exists():
                    done += p.stat().st_size
            blobs = storage / "blobs"
            if blobs.is_dir():
                done += sum(p.stat().st_size for p in blobs.glob("*.incomplete"))
        except OSError:
            continue
        if done != last:
            ctx.progress("downloading", done, total or None, "B")
            last = done


class _LogForward(logging.Handler):
    """huggingface_hub's warnings (e.g. 'resuming download') as the step's log events (first line,
    redacted)."""

    def __init__(self, ctx: StepContext) -> None:
        super().__init__(level=logging.WARNING)
        self.ctx = ctx

    def emit(self, record: logging.LogRecord) -> None:
        self.ctx.log(secrets.redact(record.getMessage().splitlines()[0])[:300])
