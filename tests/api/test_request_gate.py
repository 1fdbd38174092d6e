"""Authentication before any body is read, bounded uploads (room on the temporary volume, a body deadline), a
liveness probe that never waits behind them, and an API that does not start without keys unless told to.

Uploads here go through raw sockets, so the test controls exactly how much of a body has been sent when the answer
arrives.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.api.conftest import ServeApi, s3_settings
from tests.conftest import S3Endpoint
from videogen_api.auth import load_api_keys
from videogen_api.config import ApiSettings, ConfigurationError

V2V = "/api/v1/generate/video-to-video"
_MIB = 1024 * 1024
_BOUNDARY = "videogen-test-boundary"


def _upload_head(url: str, path: str, length: int, headers: dict[str, str] | None = None) -> bytes:
    host = url.removeprefix("http://")
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        f"Content-Type: multipart/form-data; boundary={_BOUNDARY}",
        f"Content-Length: {length}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _part_start() -> bytes:
    return (
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _answer(sock: socket.socket, timeout: float) -> bytes:
    """What the server has answered within ``timeout`` seconds (headers at least), or b'' for nothing."""
    ready, _, _ = select.select([sock], [], [], timeout)
    if not ready:
        return b""
    data = b""
    deadline = time.monotonic() + 2
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_an_unauthenticated_200_mib_upload_is_refused_after_the_server_read_a_few_kb(
    serve_api: ServeApi, key: str | None
) -> None:
    api = serve_api(api_keys=["right-key"])
    body_length = 200 * _MIB
    with _connect(api.url) as sock:
        head = _upload_head(api.url, V2V, body_length, {"X-API-Key": key} if key else {})
        first = _part_start() + b"\0" * 4096
        sock.sendall(head + first)
        # The answer comes with only the headers and 4 KB sent: the server decided without waiting for the body.
        answer = _answer(sock, timeout=10)
        assert _status(answer) == 401, answer[:200]
        assert b"connection: close" in answer.lower()
        # And it reads no more: the connection is closed, so the rest of the 200 MiB cannot be pushed into it
        # beyond what the kernels' socket buffers hold.
        sent = len(first)
        chunk = b"\0" * 65536
        try:
            while sent < body_length:
                sent += sock.send(chunk)
        except OSError:
            pass
    assert sent < 16 * _MIB, f"the server went on accepting the body: {sent} bytes"


def test_uploads_beyond_the_temporary_volume_get_429_until_one_finishes(serve_api: ServeApi) -> None:
    # Room for two video uploads (1 MiB plus the form fields each), not three.
    api = serve_api(max_video_bytes=_MIB, max_image_bytes=_MIB, upload_temp_bytes=2 * _MIB + 200 * 1024)
    held = [_connect(api.url) for _ in range(2)]
    try:
        for sock in held:
            sock.sendall(_upload_head(api.url, V2V, _MIB) + _part_start())
        time.sleep(0.3)  # both are being read by now

        def third(wait: float = 5) -> int:
            with _connect(api.url) as sock:
                sock.sendall(_upload_head(api.url, V2V, _MIB) + _part_start())
                answer = _answer(sock, timeout=wait)
                if _status(answer) == 429:
                    assert b"retry-after: 10" in answer.lower()
                return _status(answer)

        assert third() == 429
        held.pop().close()
        deadline = time.monotonic() + 5
        while (status := third(wait=1)) == 429 and time.monotonic() < deadline:
            time.sleep(0.1)
        # Past the room check, the incomplete body stalls and the answer does not come within _answer's wait.
        assert status == 0, status
    finally:
        for sock in held:
            sock.close()


def test_a_body_that_does_not_arrive_in_time_gets_408(serve_api: ServeApi) -> None:
    api = serve_api(body_timeout_seconds=1)
    with _connect(api.url) as sock:
        started = time.monotonic()
        sock.sendall(_upload_head(api.url, V2V, _MIB) + _part_start() + b"\0" * 1000)
        answer = _answer(sock, timeout=10)
        waited = time.monotonic() - started
    assert _status(answer) == 408, answer[:200]
    assert 0.9 < waited < 5


def test_health_answers_while_every_worker_thread_waits_on_the_apiserver(
    serve_api: ServeApi, api_kubeconfig: Path, tmp_path: Path
) -> None:
    # An "apiserver" that accepts connections and never answers: each job read holds a worker thread for the
    # client's whole timeout.
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(200)
    config = yaml.safe_load(api_kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{blackhole.getsockname()[1]}"
    kubeconfig = tmp_path / "blackhole.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    api = serve_api(kubeconfig=kubeconfig, wait_for_cache=False)
    http = httpx.Client(base_url=api.url, timeout=30)

    def read_job() -> None:
        with contextlib.suppress(httpx.HTTPError):
            http.get("/api/v1/job/job_1234567890_abcdef123456")

    readers = [threading.Thread(target=read_job, daemon=True) for _ in range(60)]
    try:
        for reader in readers:
            reader.start()
        time.sleep(1)  # more readers than the threadpool has threads: all of them are taken
        started = time.monotonic()
        assert api.http.get("/health", timeout=5).status_code == 200
        assert time.monotonic() - started < 1
    finally:
        blackhole.close()


def test_an_empty_key_file_stops_the_api_at_start_naming_the_setting(tmp_path: Path, s3: S3Endpoint) -> None:
    empty = tmp_path / "api-keys"
    empty.write_text("\n  \n")
    env = {
        **os.environ,
        "VIDEOGEN_API_API_KEYS_FILE": str(empty),
        "VIDEOGEN_API_PORT": "9",
        "VIDEOGEN_S3_ENDPOINT_URL": s3_settings(s3).endpoint_url or "",
    }
    started = subprocess.run(
        [sys.executable, "-m", "videogen_api.main"], env=env, capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 2
    assert "VIDEOGEN_API_API_KEYS_FILE" in started.stderr
    assert "holds no API key" in started.stderr
    assert "Traceback" not in started.stderr


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({}, "no API key: set VIDEOGEN_API_API_KEYS or VIDEOGEN_API_API_KEYS_FILE, or VIDEOGEN_API_AUTH_DISABLED"),
        ({"api_keys_file": "/nonexistent/api-keys"}, "VIDEOGEN_API_API_KEYS_FILE=/nonexistent/api-keys cannot be"),
        ({"api_keys": "k1", "auth_disabled": True}, "VIDEOGEN_API_AUTH_DISABLED=true and API keys are given"),
        ({"api_keys": "k1 root"}, "VIDEOGEN_API_API_KEYS: an entry is '<key>' or '<key> admin'"),
    ],
)
def test_keys_that_cannot_work_stop_the_start(fields: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigurationError, match="^" + says.replace("(", r"\(")) as raised:
        load_api_keys(ApiSettings.model_validate(fields))
    assert "k1" not in str(raised.value)  # the message never shows a key


def test_authentication_is_off_only_when_the_setting_says_so(tmp_path: Path) -> None:
    assert not load_api_keys(ApiSettings(auth_disabled=True)).enabled
    keys = tmp_path / "api-keys"
    keys.write_text("tenant-key\n\nadmin-key admin\n")
    loaded = load_api_keys(ApiSettings(api_keys_file=keys))
    tenant = loaded.identify({"x-api-key": "tenant-key"})
    admin = loaded.identify({"authorization": "Bearer admin-key"})
    assert (tenant.admin, admin.admin) == (False, True)
    assert tenant.owner != admin.owner and tenant.owner is not None and "tenant-key" not in tenant.owner


def test_a_file_limit_the_temporary_volume_cannot_hold_stops_the_start(serve_api: ServeApi) -> None:
    with pytest.raises(ConfigurationError, match="VIDEOGEN_API_UPLOAD_TEMP_BYTES=1000 cannot hold one upload"):
        serve_api(upload_temp_bytes=1000)


def test_a_content_length_of_thousands_of_digits_is_a_4xx(serve_api: ServeApi) -> None:
    api = serve_api()
    with _connect(api.url) as sock:
        sock.sendall(_upload_head(api.url, V2V, 0).replace(b"Content-Length: 0", b"Content-Length: " + b"9" * 5000))
        answer = _answer(sock, timeout=10)
    assert 400 <= _status(answer) < 500, answer[:200]


def test_connections_beyond_max_connections_get_503(serve_api: ServeApi) -> None:
    api = serve_api(max_connections=3)
    held = [_connect(api.url) for _ in range(3)]
    try:
        time.sleep(0.2)
        assert api.http.get("/health").status_code == 503
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert api.http.get("/health").status_code == 200
