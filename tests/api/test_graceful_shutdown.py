"""A stopping API (SIGTERM: a rollout, a drain) lets an upload in progress finish, and ends job event streams at once
so they do not hold the pod for the whole grace period. The server is the one `videogen-api` runs (ApiServer);
`should_exit` is what its SIGTERM handler sets."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx

from tests.api.conftest import DATA, s3_settings
from tests.conftest import S3Endpoint
from videogen_api.app import create_app
from videogen_api.config import UPLOAD_STORE_SECONDS, ApiSettings
from videogen_api.main import ApiServer, server_config


class _Server(ApiServer):
    def install_signal_handlers(self) -> None:  # the test process keeps its own handlers
        pass


def _upload_request(url: str) -> tuple[bytes, bytes]:
    """An image-to-video submit as raw HTTP/1.1: its head and its body."""
    request = httpx.Request(
        "POST", f"{url}/api/v1/generate/image-to-video", files={"image": ("i.png", (DATA / "image.png").read_bytes())}
    )
    body = request.read()
    head = (
        f"POST /api/v1/generate/image-to-video HTTP/1.1\r\nHost: {request.url.netloc.decode()}\r\n"
        f"Content-Type: {request.headers['content-type']}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode(), body


def test_shutdown_finishes_an_upload_in_progress_and_ends_event_streams_at_once(
    api_kubeconfig: Path, namespace: str, s3: S3Endpoint
) -> None:
    settings = ApiSettings(
        namespace=namespace,
        kubeconfig=api_kubeconfig,
        bucket=s3.bucket,
        inputs_prefix=f"test-inputs/{namespace}",
        outputs_prefix=f"test-outputs/{namespace}",
        auth_disabled=True,
        shutdown_grace_seconds=30,
    )
    app = create_app(settings, s3_settings=s3_settings(s3))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = _Server(server_config(app, settings, log_level="warning", lifespan="on"), app.state.job_events)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        with httpx.Client(base_url=url, timeout=30) as http:
            job_id = http.post("/api/v1/generate/text-to-video", json={"prompt": "x"}).json()["job_id"]

        stream_ended = threading.Event()

        def follow_events() -> None:
            with (
                httpx.Client(base_url=url, timeout=60) as http,
                http.stream("GET", f"/api/v1/job/{job_id}/events") as response,
            ):
                for _ in response.iter_lines():
                    pass
            stream_ended.set()

        follower = threading.Thread(target=follow_events, daemon=True)
        follower.start()
        head, body = _upload_request(url)
        upload = socket.create_connection(listener.getsockname(), timeout=30)
        upload.sendall(head + body[: len(body) // 2])
        time.sleep(0.5)  # the stream is open and the upload's request has begun

        server.should_exit = True
        # The stream (its job is pending: it would last until the job ends) is ended by the shutdown itself.
        assert stream_ended.wait(10), "the event stream was still open 10 s into the shutdown"
        assert thread.is_alive(), "the server stopped with an upload in progress"
        upload.sendall(body[len(body) // 2 :])
        answer = upload.recv(65536).decode(errors="replace")
        upload.close()
        assert answer.startswith("HTTP/1.1 202"), answer
    finally:
        server.should_exit = True
        thread.join(timeout=40)
    assert not thread.is_alive()


def test_the_shutdown_grace_defaults_to_the_upload_window() -> None:
    settings = ApiSettings(body_timeout_seconds=120)
    assert settings.shutdown_grace() == 120 + UPLOAD_STORE_SECONDS
    assert ApiSettings(shutdown_grace_seconds=15).shutdown_grace() == 15
