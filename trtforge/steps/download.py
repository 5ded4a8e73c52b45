"""The download step: exactly the checkpoint files a build needs, from the Hugging Face hub or a local directory.

Hub: the recipe's revision is resolved to a commit sha (recorded in the lock file) and the files are fetched with
huggingface_hub's `snapshot_download` into `<trtforge cache>/hub` (blobs + snapshots, `.incomplete` then rename,
so an interrupted transfer resumes where it stopped), then hard-linked into the step's output.
Selection (unless `model.allow_patterns` overrides it): root-level files only (never `original/`, `metal/`...),
safetensors weights (never `*.bin` when safetensors exist; never Mistral's `consolidated*.safetensors`
duplicate), configs, tokenizer files, chat templates, licences; `*.py` only with trust_remote_code.
The token comes from `secrets.hub_token` and is passed to huggingface_hub only: never logged, never recorded.
Offline (HF_HUB_OFFLINE=1) the revision and file list come from what an earlier online build recorded.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from trtforge import secrets
from trtforge.errors import InvalidInput, StepFailed, ToolMissing, TrtforgeError
from trtforge.pipeline import fsutil
from trtforge.pipeline.step import Step, StepContext

SELECTION_VERSION = 1  # bump when select_files' rules change (changes the download fingerprint)
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
CONFIG_GLOBS = ("*.json", "*.model", "*.tiktoken", "merges.txt", "vocab.txt", "*.jinja", "LICENSE*", "NOTICE*",
                "USE_POLICY*")
ATTEMPTS = 3  # a dropped transfer is resumed (from the `.incomplete` file) up to ATTEMPTS - 1 times


def select_files(files: list[str], *, trust_remote_code: bool = False,
                 allow_patterns: list[str] | None = None) -> list[str]:
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
    raise InvalidInput(f"model.path {root}: {name} is a symlink to {target}, outside the checkpoint "
                       "directory", hint="copy the file into the directory: a build never follows links out "
                       "of a checkpoint")


def _offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _endpoint() -> str | None:
    # huggingface_hub reads HF_ENDPOINT once, at import; read it at call time and pass it explicitly.
    value = os.environ.get("HF_ENDPOINT")
    return value.rstrip("/") if value else None


def _hub_dir() -> Path:
    from trtforge.pipeline.cache import active_root

    return active_root() / "hub"


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
        return {"source": "hub" if m.repo else "path", "repo": m.repo, "allow_patterns": m.allow_patterns,
                "selection": SELECTION_VERSION, "trust_remote_code": m.trust_remote_code}

    def source_fingerprint(self) -> str:
        if self.model.repo:
            return f"hub:{self.model.repo}@{self.resolve().sha}"
        return f"path:{self._local_files()[1]}"

    def files(self) -> list[str]:
        """The files this step will produce (resolves the revision for a hub source)."""
        m = self.model
        if m.repo:
            files = select_files(list(self.resolve().sizes), trust_remote_code=m.trust_remote_code,
                                 allow_patterns=m.allow_patterns)
            unsafe = [f for f in files if not _contained(f)]
            if unsafe:
                raise StepFailed(f"{m.repo}: the hub lists a file name that leaves the checkpoint directory "
                                 f"({unsafe[0]!r}); refusing to download it",
                                 hint="narrow model.allow_patterns, or check that HF_ENDPOINT is a hub")
            return files
        return self._local_files()[0]

    def preflight(self) -> None:
        if not self.files():
            raise InvalidInput(f"no files of {self.model.repo or self.model.path} match what the build needs",
                               hint="check model.allow_patterns, or that the checkpoint has config.json and "
                               "safetensors")

    def run(self, ctx: StepContext) -> dict[str, Any]:
        if self.model.repo:
            return self._run_hub(ctx)
        return self._run_local(ctx)

    # ------------------------------------------------------------------ local directory

    def _local_files(self) -> tuple[list[str], str]:
        if self._local is None:
            from trtforge.pipeline import hashing, statindex

            root = Path(self.model.path or "")
            if not root.is_dir():
                raise InvalidInput(f"model.path {root} is not a directory")
            found, _dirs = hashing.walk_tree(root)
            files = select_files(found, trust_remote_code=self.model.trust_remote_code,
                                 allow_patterns=self.model.allow_patterns)
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
        return _hub_dir() / "trtforge-listings" / self.model.repo.replace("/", "--") / f"{sha}.json"

    def _ref_path(self, revision: str) -> Path:
        safe = hashlib.sha256(revision.encode()).hexdigest()[:24]
        return _hub_dir() / "trtforge-listings" / self.model.repo.replace("/", "--") / "refs" / safe

    def resolve(self) -> Resolved:
        """Revision -> commit sha and the repo's file list: from the hub, or offline from an earlier record."""
        if self._resolved is not None:
            return self._resolved
        m = self.model
        rev = m.revision
        if COMMIT_RE.match(rev) and (listing := fsutil.read_json(self._listing_path(rev))):
            self._resolved = Resolved(rev, listing["sizes"])  # a commit never changes: no network needed
            return self._resolved
        if _offline():
            sha = rev if COMMIT_RE.match(rev) else (fsutil.read_json(self._ref_path(rev)) or {}).get("sha")
            listing = fsutil.read_json(self._listing_path(sha)) if sha else None
            if not listing:
                raise ToolMissing(f"offline (HF_HUB_OFFLINE=1) and {m.repo}@{rev} is not in the trtforge cache",
                                  hint="build once with network access, or unset HF_HUB_OFFLINE")
            self._resolved = Resolved(sha, listing["sizes"])
            return self._resolved
        token = secrets.hub_token(m.token)
        try:
            from huggingface_hub import HfApi

            info = HfApi(endpoint=_endpoint(), token=token or None).model_info(m.repo, revision=rev,
                                                                                files_metadata=True)
        except Exception as exc:  # noqa: BLE001 - mapped to one precise line
            raise hub_error(exc, m.repo, rev, token_given=bool(token)) from None
        if not info.sha:
            raise StepFailed(f"the hub did not report a commit for {m.repo}@{rev}")
        sizes = {s.rfilename: s.size for s in (info.siblings or [])}
        self._listing_path(info.sha).parent.mkdir(parents=True, exist_ok=True)
        fsutil.atomic_write_json(self._listing_path(info.sha), {"repo": m.repo, "sha": info.sha, "sizes": sizes})
        self._ref_path(rev).parent.mkdir(parents=True, exist_ok=True)
        fsutil.atomic_write_json(self._ref_path(rev), {"revision": rev, "sha": info.sha})
        self._resolved = Resolved(info.sha, sizes)
        return self._resolved

    def _run_hub(self, ctx: StepContext) -> dict[str, Any]:
        m = self.model
        resolved = self.resolve()
        files = self.files()
        total = sum(resolved.sizes.get(f) or 0 for f in files)
        hub_dir = ctx.cache_root / "hub"
        token = secrets.hub_token(m.token)
        storage = hub_dir / ("models--" + m.repo.replace("/", "--"))
        snapshot = storage / "snapshots" / resolved.sha
        stop = threading.Event()
        poller = threading.Thread(target=_poll_progress, args=(ctx, storage, snapshot, files, total, stop),
                                  daemon=True)
        poller.start()
        try:
            with _hub_logs_to(ctx):
                self._snapshot(ctx, hub_dir, resolved.sha, files, token)
        finally:
            stop.set()
            poller.join(timeout=5)
        got = 0
        for f in files:
            src = snapshot / f
            if not src.exists():
                if _offline():
                    raise ToolMissing(f"{m.repo}@{resolved.sha[:12]}: {f} is not in the hub cache (offline?)")
                # snapshot_download returns the partial snapshot when the hub stops answering mid-way
                where = _endpoint() or "https://huggingface.co"
                raise ToolMissing(f"cannot reach the hub at {where} to fetch {f} of "
                                  f"{m.repo}@{resolved.sha[:12]}",
                                  hint="check the network or HF_ENDPOINT; a rerun resumes the transfer")
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

    def _snapshot(self, ctx: StepContext, hub_dir: Path, sha: str, files: list[str], token: str | None) -> None:
        import requests
        from huggingface_hub import snapshot_download
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()  # our own progress (bytes/ETA) replaces tqdm
        offline = _offline()
        for attempt in range(1, ATTEMPTS + 1):
            try:
                snapshot_download(self.model.repo, revision=sha, cache_dir=hub_dir, endpoint=_endpoint(),
                                  allow_patterns=[glob.escape(f) for f in files], token=token or None,
                                  local_files_only=offline, max_workers=4)
                return
            except Exception as exc:  # noqa: BLE001
                transient = isinstance(exc, (requests.ConnectionError, requests.Timeout,
                                             requests.exceptions.ChunkedEncodingError)) or (
                    "Consistency check failed" in str(exc)) or (
                    type(exc).__name__ == "LocalEntryNotFoundError" and not offline)
                if not transient or attempt == ATTEMPTS:
                    raise hub_error(exc, self.model.repo, sha, token_given=bool(token)) from None
                ctx.log(f"transfer interrupted ({type(exc).__name__}); resuming ({attempt + 1}/{ATTEMPTS})")
                time.sleep(attempt)


def _poll_progress(ctx: StepContext, storage: Path, snapshot: Path, files: list[str], total: int,
                   stop: threading.Event) -> None:
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


class _hub_logs_to:
    """Route huggingface_hub's warnings (e.g. 'resuming download') into the step's log events."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.logger = logging.getLogger("huggingface_hub")

    def __enter__(self) -> None:
        ctx = self.ctx

        class Forward(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                ctx.log(secrets.redact(record.getMessage().splitlines()[0])[:300])

        self.handler = Forward(level=logging.WARNING)
        self.propagate = self.logger.propagate
        self.logger.addHandler(self.handler)
        self.logger.propagate = False

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.propagate = self.propagate


def hub_error(exc: BaseException, repo: str, revision: str, *, token_given: bool) -> TrtforgeError:
    """One precise line for a huggingface_hub/requests failure (never the token: we do not format it in)."""
    from huggingface_hub import errors as hf

    import requests

    where = _endpoint() or "https://huggingface.co"
    if isinstance(exc, TrtforgeError):
        return exc
    if isinstance(exc, hf.GatedRepoError):
        if token_given:
            return InvalidInput(f"{repo} is gated and the hub refused the token given",
                                hint="accept the model's licence on its hub page with the token's account")
        return InvalidInput(f"{repo} is gated and needs a token: set HF_TOKEN",
                            hint="and accept the model's licence on its hub page")
    if isinstance(exc, hf.RevisionNotFoundError):
        return InvalidInput(f"revision '{revision}' does not exist in {repo}")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return InvalidInput(f"model repo {repo} was not found at {where}",
                            hint=None if token_given else "if it is private, set HF_TOKEN")
    if isinstance(exc, hf.LocalEntryNotFoundError) or isinstance(exc, hf.OfflineModeIsEnabled):
        if _offline():
            return ToolMissing(f"offline (HF_HUB_OFFLINE=1) and {repo}@{revision} is not in the trtforge cache")
        return ToolMissing(f"cannot reach the hub at {where} to fetch {repo}",
                           hint="check the network or HF_ENDPOINT")
    if isinstance(exc, hf.EntryNotFoundError):
        return StepFailed(f"{repo}@{revision}: a file listed by the hub is missing ({exc.__class__.__name__})")
    if isinstance(exc, hf.HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in (401, 403):
            if token_given:
                return InvalidInput(f"the hub refused the token for {repo} (HTTP {status})",
                                    hint="check HF_TOKEN and that its account may read the repo")
            return InvalidInput(f"{repo} needs a token: set HF_TOKEN (HTTP {status})")
        return ToolMissing(f"the hub at {where} answered HTTP {status} for {repo}", hint="try again later")
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        return ToolMissing(f"cannot reach the hub at {where} ({type(exc).__name__})",
                           hint="check the network or HF_ENDPOINT; a rerun resumes the transfer")
    return StepFailed(f"download of {repo} failed: {type(exc).__name__}: {secrets.redact(str(exc))[:300]}")
