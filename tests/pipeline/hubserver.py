"""A local HTTP server that answers the way the Hugging Face hub does for what huggingface_hub 0.36 calls.

Not a mock of huggingface_hub: the real client talks HTTP to it (set HF_ENDPOINT to `FakeHub.url`).
Implemented, after huggingface_hub's file_download.py / _snapshot_download.py / hf_api.py / utils/_http.py:
- GET  /api/models/{org}/{name}/revision/{rev}[?blobs=true] -> {"id", "sha", "siblings": [{"rfilename",
"size",
  "blobId", "lfs": {"sha256", "size", "pointerSize"}}]}; unknown repo 404 X-Error-Code: RepoNotFound,
  unknown revision 404 X-Error-Code: RevisionNotFound.
- HEAD/GET /{org}/{name}/resolve/{rev}/{path}: small files answer 200 with ETag (git blob sha1),
X-Repo-Commit,
  Content-Length; LFS files (*.safetensors, *.bin) answer 302 to /cdn/{sha256} with X-Linked-Etag,
  X-Linked-Size and X-Repo-Commit, like the hub's CDN redirect. Gated repos: 401 (no token) or 403 (wrong
  token) with X-Error-Code: GatedRepo. Missing file: 404 X-Error-Code: EntryNotFound.
- GET /cdn/{sha256}: the bytes, with `Range: bytes=N-` support (206 + Content-Range) for resumed downloads.
Fault injection: `drop_once[file] = n` sends n bytes of that file's first GET then closes the connection;
`stall[file] = n` sends n bytes then waits until `release` is set (for SIGKILL-mid-transfer tests).
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    files: dict[str, bytes]
    sha: str
    branches: dict[str, str] = field(default_factory=dict)
    gated_token: str | None = None  # when set, file downloads need `Authorization: Bearer <it>`


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, bytes] = {}  # sha256 -> bytes (the "CDN")
        self.log: list[dict] = []  # one record per request: method, path, range, auth
        self.drop_once: dict[str, int] = {}
        self.stall: dict[str, int] = {}
        self.release = threading.Event()
        self.stalled = threading.Event()  # set once a stalled transfer has sent its bytes
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ content

    def add_repo(
        self, repo_id: str, files: dict[str, bytes], *, gated_token: str | None = None, branch: str = "main"
    ) -> str:
        """Add (or add a commit to) a repo; returns the new commit sha."""
        sha = hashlib.sha1(
            json.dumps(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())).encode()
            + repo_id.encode()
        ).hexdigest()
        repo = self.repos.get(repo_id) or Repo(files={}, sha=sha)
        repo.files, repo.sha, repo.gated_token = dict(files), sha, gated_token
        repo.branches[branch] = sha
        self.repos[repo_id] = repo
        for data in files.values():
            self.blobs[hashlib.sha256(data).hexdigest()] = data
        return sha

    @staticmethod
    def add_dir(path: Path) -> dict[str, bytes]:
        return {
            p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
        }

    def requests(self, method: str | None = None, contains: str = "") -> list[dict]:
        with self._lock:
            return [
                r for r in self.log if (method is None or r["method"] == method) and contains in r["path"]
            ]

    # ------------------------------------------------------------------ server

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        return

    # ------------------------------------------------------------------ helpers

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(status, body, {"X-Error-Code": code, "X-Error-Message": message, **(extra or {})})

    def _record(self) -> None:
        with self.fake._lock:
            self.fake.log.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "range": self.headers.get("Range"),
                    "auth": self.headers.get("Authorization"),
                }
            )

    def _repo_rev(self, repo_id: str, rev: str) -> tuple[Repo | None, str | None]:
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None, None
        rev = unquote(rev)
        sha = repo.branches.get(rev) or (rev if rev == repo.sha else None)
        if sha is None:
            self._error(404, "RevisionNotFound", "Invalid rev id: " + rev)
            return None, None
        return repo, sha

    # ------------------------------------------------------------------ routes

    def do_HEAD(self) -> None:  # noqa: N802
        self._route()

    def do_GET(self) -> None:  # noqa: N802
        self._route()

    def _route(self) -> None:
        self._record()
        url = urlparse(self.path)
        path = url.path
        m = re.match(r"^/api/models/([^/]+/[^/]+)/revision/([^/]+)$", path)
        if m:
            return self._model_info(m.group(1), m.group(2), parse_qs(url.query))
        m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m:
            return self._resolve(m.group(1), m.group(2), unquote(m.group(3)))
        m = re.match(r"^/cdn/([0-9a-f]{64})$", path)
        if m:
            return self._cdn(m.group(1))
        self._error(404, "NotFound", "no such route")

    def _model_info(self, repo_id: str, rev: str, query: dict) -> None:
        repo, sha = self._repo_rev(repo_id, rev)
        if repo is None:
            return
        siblings = []
        for name, data in sorted(repo.files.items()):
            sib: dict = {"rfilename": name}
            if query.get("blobs"):
                sib.update(size=len(data), blobId=git_blob_sha1(data))
                if name.endswith(LFS_SUFFIXES):
                    sib["lfs"] = {
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "size": len(data),
                        "pointerSize": 134,
                    }
            siblings.append(sib)
        doc = {
            "id": repo_id,
            "modelId": repo_id,
            "sha": sha,
            "private": False,
            "gated": "manual" if repo.gated_token else False,
            "siblings": siblings,
        }
        self._send(200, json.dumps(doc).encode())

    def _resolve(self, repo_id: str, rev: str, filename: str) -> None:
        repo, sha = self._repo_rev(repo_id, rev)
        if repo is None:
            return
        if repo.gated_token is not None:
            auth = self.headers.get("Authorization") or ""
            if not auth:
                return self._error(
                    401, "GatedRepo", "Access to model is restricted. You must be authenticated."
                )
            if auth != f"Bearer {repo.gated_token}":
                return self._error(
                    403, "GatedRepo", "Access to model is restricted and you are not in the authorized list."
                )
        data = repo.files.get(filename)
        if data is None:
            return self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": sha})
        common = {"X-Repo-Commit": sha}
        if filename.endswith(LFS_SUFFIXES):
            digest = hashlib.sha256(data).hexdigest()
            host = self.headers.get("Host")
            self._send(
                302,
                b"",
                {
                    **common,
                    "Location": f"http://{host}/cdn/{digest}",
                    "X-Linked-Etag": f'"{digest}"',
                    "X-Linked-Size": str(len(data)),
                    "ETag": f'"{git_blob_sha1(data)}"',
                },
            )
            return
        self._body(data, {**common, "ETag": f'"{git_blob_sha1(data)}"'}, filename)

    def _cdn(self, digest: str) -> None:
        data = self.fake.blobs.get(digest)
        if data is None:
            return self._error(404, "NotFound", "no such blob")
        name = next(
            (
                n
                for r in self.fake.repos.values()
                for n, d in r.files.items()
                if hashlib.sha256(d).hexdigest() == digest
            ),
            digest,
        )
        self._body(data, {"ETag": f'"{digest}"'}, name)

    def _body(self, data: bytes, headers: dict[str, str], name: str) -> None:
        start = 0
        rng = self.headers.get("Range")
        status = 200
        if rng:
            m = re.match(r"bytes=(\d+)-(\d*)$", rng)
            if m:
                start = int(m.group(1))
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        headers["Content-Length"] = str(len(body))
        headers["Accept-Ranges"] = "bytes"
        if self.command == "HEAD":
            return self._send(status, b"", headers, "application/octet-stream")
        cut = None
        if name in self.fake.drop_once and start == 0:
            cut = self.fake.drop_once.pop(name)
        stall = self.fake.stall.get(name) if start == 0 else None
        if cut is None and stall is None:
            return self._send(status, body, headers, "application/octet-stream")
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(body[: cut if cut is not None else stall])
        self.wfile.flush()
        if stall is not None:
            self.fake.stalled.set()
            self.fake.release.wait(timeout=120)
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True
