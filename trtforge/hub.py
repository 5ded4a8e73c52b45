"""The one Hugging Face client of trtforge: planning's config.json look-ups and the download step use it.

- One cache: huggingface_hub's own layout (`models--org--name/{blobs,snapshots,refs}`) in the directory every
  Hugging Face tool uses: $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
  ~/.cache/huggingface/hub. A checkpoint another tool already fetched is not fetched again, and a revision's
  commit is recorded in the hub's own `refs/<revision>` (an offline run resolves `main` like huggingface_hub).
- One retry policy (`with_retries`, `is_transient`): what huggingface_hub does not retry itself (a transfer
  cut mid-body, an API call's connection error) is tried ATTEMPTS times in all; a download resumes from its
  `.incomplete` file.
- One error table (`hub_error`): gated, not found, revision missing, offline, unreachable: one line each, with
  the fix. Tokens are passed to huggingface_hub only and never formatted into a message.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE once, at its import; this module reads them at
call time and passes them explicitly, so the environment of the running command is what counts.
huggingface_hub itself is imported inside the functions that call it (start-up time of `trtforge --help`).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from trtforge import secrets
from trtforge.errors import InvalidInput, StepFailed, ToolMissing, TrtforgeError

ATTEMPTS = 3  # a transient failure is tried again up to ATTEMPTS - 1 times
BACKOFF_S = 0.5  # wait BACKOFF_S * attempt before the next try
DEFAULT_ENDPOINT = "https://huggingface.co"
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_TRUE = ("1", "true", "yes", "on")

T = TypeVar("T")


def cache_dir() -> Path:
    """The Hugging Face hub cache, by huggingface_hub's own conventions (read now, not at its import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.path.expanduser(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        return Path(os.path.expanduser(os.environ["HF_HOME"])) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "huggingface" / "hub"


def storage_dir(repo: str) -> Path:
    """huggingface_hub's folder for one model repo: blobs/, snapshots/<commit>/, refs/<revision>."""
    return cache_dir() / ("models--" + repo.replace("/", "--"))


def snapshot_dir(repo: str, sha: str) -> Path:
    return storage_dir(repo) / "snapshots" / sha


def offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set: answer from the cache, never the network."""
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def endpoint() -> str | None:
    value = os.environ.get("HF_ENDPOINT")
    return value.rstrip("/") if value else None


def where() -> str:
    return endpoint() or DEFAULT_ENDPOINT


# ---------------------------------------------------------------------------------------------------- refs


def _ref_path(repo: str, revision: str) -> Path | None:
    """refs/<revision> in the hub cache; None for a revision that is no safe relative path (never written)."""
    parts = PurePosixPath(revision).parts
    if not revision or revision.startswith("/") or ".." in parts or "\\" in revision:
        return None
    return storage_dir(repo) / "refs" / revision


def record_ref(repo: str, revision: str, sha: str) -> None:
    """Remember revision -> commit where huggingface_hub keeps it (refs/<revision> holds the commit)."""
    path = _ref_path(repo, revision)
    if path is None or revision == sha:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text().strip() != sha:
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(sha)
        os.replace(tmp, path)


def read_ref(repo: str, revision: str) -> str | None:
    """The commit a revision pointed to when it was last resolved online (a commit is its own ref)."""
    if COMMIT_RE.match(revision):
        return revision
    path = _ref_path(repo, revision)
    try:
        sha = path.read_text().strip() if path is not None else ""
    except OSError:
        return None
    return sha if COMMIT_RE.match(sha) else None


# ---------------------------------------------------------------------------------------------------- retries


def is_transient(exc: BaseException) -> bool:
    """A failure worth trying again that huggingface_hub did not already retry.

    huggingface_hub retries each file request itself (5 tries, backoff up to 8 s; a refused connection
    surfaces after ~23 s as LocalEntryNotFoundError, which is final). It does not retry a transfer cut
    mid-body, nor a connection error of an API call (model_info): those are ours.
    """
    import requests

    dropped = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    if isinstance(exc, dropped):
        return True
    return "Consistency check failed" in str(exc)  # huggingface_hub: the transfer ended short


def with_retries(call: Callable[[], T], *, on_retry: Callable[[BaseException, int], None] | None = None) -> T:
    """call(), tried again on a transient failure (ATTEMPTS in all, BACKOFF_S * attempt apart)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - re-raised unless transient
            if attempt == ATTEMPTS or not is_transient(exc):
                raise
            if on_retry is not None:
                on_retry(exc, attempt + 1)
            time.sleep(BACKOFF_S * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def quiet_hub_logs(handler: logging.Handler | None = None) -> Iterator[None]:
    """huggingface_hub's warnings would break the one-line error contract: to `handler`, or dropped."""
    logger = logging.getLogger("huggingface_hub")
    level, propagate = logger.level, logger.propagate
    if handler is not None:
        logger.addHandler(handler)
    else:
        logger.setLevel(logging.ERROR)
    logger.propagate = False
    try:
        yield
    finally:
        if handler is not None:
            logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


# ---------------------------------------------------------------------------------------------------- errors


def hub_error(
    exc: BaseException, repo: str, revision: str, *, token_given: bool, filename: str | None = None
) -> TrtforgeError:
    """The one error table: a huggingface_hub/requests failure as one precise line with its fix."""
    if isinstance(exc, TrtforgeError):
        return exc
    from huggingface_hub import errors as hf

    if isinstance(exc, hf.GatedRepoError):
        if token_given:
            return InvalidInput(
                f"{repo} is gated and the hub refused the token given",
                hint="accept the model's licence on its hub page with the token's account",
            )
        return InvalidInput(
            f"{repo} is gated and needs a token: set HF_TOKEN",
            hint="and accept the model's licence on its hub page",
        )
    if isinstance(exc, hf.RevisionNotFoundError):
        return InvalidInput(
            f"revision '{revision}' does not exist in {repo}", hint="use a branch, tag or commit of the repo"
        )
    if isinstance(exc, hf.RepositoryNotFoundError):
        private = "" if token_given else "; if it is private, set HF_TOKEN"
        return InvalidInput(f"model repo {repo} was not found at {where()}", hint=f"check the name{private}")
    if isinstance(exc, (hf.LocalEntryNotFoundError, hf.OfflineModeIsEnabled)):  # before EntryNotFoundError
        return offline_error(repo, revision) if offline() else unreachable_error(repo)
    if isinstance(exc, hf.EntryNotFoundError):
        what = filename or "a file the hub listed"
        return (
            InvalidInput(f"{repo}@{revision} has no {what}")
            if filename
            else StepFailed(f"{repo}@{revision}: {what} is missing ({type(exc).__name__})")
        )
    if isinstance(exc, hf.HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in (401, 403):
            if token_given:
                return InvalidInput(
                    f"the hub refused the token for {repo} (HTTP {status})",
                    hint="check HF_TOKEN and that its account may read the repo",
                )
            return InvalidInput(f"{repo} needs a token: set HF_TOKEN (HTTP {status})")
        return ToolMissing(f"the hub at {where()} answered HTTP {status} for {repo}", hint="try again later")
    if is_transient(exc) or isinstance(exc, OSError) and not isinstance(exc, PermissionError):
        return unreachable_error(repo, f" ({type(exc).__name__})")
    return StepFailed(f"hub access for {repo} failed: {type(exc).__name__}: {secrets.redact(str(exc))[:300]}")


def offline_error(repo: str, revision: str, what: str = "") -> ToolMissing:
    return ToolMissing(
        f"offline (HF_HUB_OFFLINE=1) and {repo}@{revision}{what} is not in the Hugging Face "
        f"cache at {cache_dir()}",
        hint="run once with network access, or unset HF_HUB_OFFLINE",
    )


def unreachable_error(repo: str, detail: str = "") -> ToolMissing:
    return ToolMissing(
        f"cannot reach the hub at {where()} to fetch {repo}{detail}",
        hint="check the network or HF_ENDPOINT; a rerun resumes the transfer",
    )


# ---------------------------------------------------------------------------------------------------- calls


def cached_file(repo: str, filename: str, revision: str) -> Path | None:
    """A file of repo@revision already in the hub cache (no network), else None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(repo, filename, cache_dir=cache_dir(), revision=revision)
    return Path(found) if isinstance(found, str) else None


def fetch_file(repo: str, filename: str, revision: str, token: str | None) -> Path:
    """One file of repo@revision, from the cache or the hub (retried); hub failures as one TrtforgeError."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ToolMissing(
            "huggingface_hub is not installed", hint="pass a local model directory or config.json"
        ) from None
    if offline():
        found = cached_file(repo, filename, revision)
        if found is None:
            raise offline_error(repo, revision, f" ({filename})")
        return found

    def call() -> str:
        return hf_hub_download(
            repo, filename, revision=revision, cache_dir=cache_dir(), endpoint=endpoint(), token=token or None
        )

    try:
        with quiet_hub_logs():
            return Path(with_retries(call))
    except Exception as exc:  # noqa: BLE001 - mapped to one precise line
        raise hub_error(exc, repo, revision, token_given=bool(token), filename=filename) from None


@dataclass(frozen=True)
class RepoListing:
    sha: str  # the commit the revision resolved to
    sizes: dict[str, int | None]  # every file of the repo at that commit -> size (None: the hub did not say)


def list_repo(repo: str, revision: str, token: str | None) -> RepoListing:
    """Revision -> commit and the repo's files (one API call, retried); records refs/<revision>."""
    from huggingface_hub import HfApi

    def call() -> RepoListing:
        info = HfApi(endpoint=endpoint(), token=token or None).model_info(
            repo, revision=revision, files_metadata=True
        )
        if not info.sha:
            raise StepFailed(f"the hub did not report a commit for {repo}@{revision}")
        return RepoListing(info.sha, {s.rfilename: s.size for s in (info.siblings or [])})

    try:
        listing = with_retries(call)
    except Exception as exc:  # noqa: BLE001 - mapped to one precise line
        raise hub_error(exc, repo, revision, token_given=bool(token)) from None
    record_ref(repo, revision, listing.sha)
    return listing


def download_snapshot(
    repo: str,
    sha: str,
    files: list[str],
    token: str | None,
    *,
    on_retry: Callable[[BaseException, int], None] | None = None,
) -> Path:
    """Fetch FILES of repo@sha into the hub cache (resumable, retried); returns the snapshot directory."""
    import glob

    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()  # callers report progress themselves

    def call() -> str:
        return snapshot_download(
            repo,
            revision=sha,
            cache_dir=cache_dir(),
            endpoint=endpoint(),
            allow_patterns=[glob.escape(f) for f in files],
            token=token or None,
            local_files_only=offline(),
            max_workers=4,
        )

    try:
        with_retries(call, on_retry=on_retry)
    except Exception as exc:  # noqa: BLE001 - mapped to one precise line
        raise hub_error(exc, repo, sha, token_given=bool(token)) from None
    return snapshot_dir(repo, sha)
