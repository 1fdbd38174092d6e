"""A local stand-in for the Hugging Face Hub, on loopback: the few routes huggingface_hub's real client calls to
resolve a revision, list a repo's files with their sizes and download files (``HF_ENDPOINT`` points at it).

A file may be listed with a size larger than its content (the hub's metadata is all a budget check reads), may
fail when fetched (a download that breaks half way), or may be slow; every file fetched is recorded, so a test can
show that no weight was fetched.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


@dataclass
class HubFile:
    content: bytes
    #: The size the hub lists; None: the content's.
    listed_size: int | None = None
    #: Answer fetches with this status (e.g. 500: the download breaks).
    fail_with: int | None = None
    #: Seconds to wait before answering a fetch.
    delay: float = 0.0

    @property
    def size(self) -> int:
        return self.listed_size if self.listed_size is not None else len(self.content)

    @property
    def oid(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.content) + self.content).hexdigest()


@dataclass
class HubRepo:
    files: dict[str, HubFile]
    sha: str = field(default_factory=lambda: hashlib.sha1(str(time.monotonic_ns()).encode()).hexdigest())


@dataclass
class Hub:
    url: str
    repos: dict[str, HubRepo]
    #: (repo id, path) of every file fetched (GET on /resolve/).
    fetched: list[tuple[str, str]]

    def add(self, repo_id: str, files: dict[str, HubFile]) -> HubRepo:
        repo = HubRepo(files)
        self.repos[repo_id] = repo
        return repo


def diffusers_repo(pipeline_class: str = "LTXPipeline", weights: HubFile | None = None) -> dict[str, HubFile]:
    """The files of a tiny diffusers pipeline repo (its weights need not be real: nothing loads them)."""
    return {
        "model_index.json": HubFile(json.dumps({"_class_name": pipeline_class}).encode()),
        "transformer/config.json": HubFile(b"{}"),
        "transformer/diffusion_pytorch_model.safetensors": weights or HubFile(b"\0" * 1000),
        "pytorch_model.bin": HubFile(b"pickle, never fetched"),
    }


def folder_repo(folder: Path) -> dict[str, HubFile]:
    """The files of a local folder (a diffusers pipeline saved by ``save_pretrained``) as a hub repo's files."""
    return {str(p.relative_to(folder)): HubFile(p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _json(self, body: object, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _missing(self, code: str) -> None:
            data = json.dumps({"error": code}).encode()
            self.send_response(404)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _repo(self, org: str, name: str) -> HubRepo | None:
            return hub.repos.get(f"{org}/{name}")

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def _serve(self, body: bool) -> None:
            parts = [unquote(p) for p in urlparse(self.path).path.strip("/").split("/")]
            # /api/models/{org}/{name}/revision/{rev} and /api/models/{org}/{name}/tree/{rev}
            if parts[:2] == ["api", "models"] and len(parts) >= 6:
                repo = self._repo(parts[2], parts[3])
                if repo is None:
                    return self._missing("RepoNotFound")
                if parts[4] == "revision":
                    siblings = [{"rfilename": path} for path in repo.files]
                    return self._json({"id": f"{parts[2]}/{parts[3]}", "sha": repo.sha, "siblings": siblings})
                if parts[4] == "tree":
                    entries = [
                        {"type": "file", "oid": f.oid, "size": f.size, "path": path} for path, f in repo.files.items()
                    ]
                    return self._json(entries)
            # /{org}/{name}/resolve/{rev}/{path...}
            if len(parts) >= 5 and parts[2] == "resolve":
                repo = self._repo(parts[0], parts[1])
                path = "/".join(parts[4:])
                if repo is None:
                    return self._missing("RepoNotFound")
                file = repo.files.get(path)
                if file is None:
                    return self._missing("EntryNotFound")
                if body:
                    hub.fetched.append((f"{parts[0]}/{parts[1]}", path))
                    time.sleep(file.delay)
                    if file.fail_with is not None:
                        self.send_response(file.fail_with)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return None
                self.send_response(200)
                self.send_header("X-Repo-Commit", repo.sha)
                self.send_header("ETag", f'"{file.oid}"')
                self.send_header("Content-Length", str(len(file.content)))
                self.end_headers()
                if body:
                    self.wfile.write(file.content)
                return None
            return self._missing("EntryNotFound")

    return Handler


@contextmanager
def local_hub() -> Iterator[Hub]:
    """The stand-in hub on a free loopback port for the duration of the block."""
    hub = Hub(url="", repos={}, fetched=[])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
