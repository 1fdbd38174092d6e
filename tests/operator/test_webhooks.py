"""Webhooks through a running operator: a real receiver on loopback (allow-listed in the operator's settings, as an
installation would allow an internal receiver), the real apiserver, the stand-in runner."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.operator.conftest import Namespace
from tests.operator.test_operator_runs_videojobs import smoke_model
from videogen_common.webhooks import generate_secret, verify
from videogen_dev.cluster import Cluster
from videogen_dev.waiting import wait_for

SECRET = generate_secret()


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def event(self) -> str:
        return str(self.document["type"])

    @property
    def job(self) -> str:
        return str(self.document["data"]["job_id"])


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST; ``/redirect`` answers 302 to ``/target``."""

    port: int
    deliveries: list[Delivery] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.deliveries.append(Delivery(self.path, headers, body))
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("location", receiver.url("/target"))
                else:
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def of(self, job: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.job == job]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())
    yield found
    found.stop()


def webhook_status(ns: Namespace, name: str) -> dict[str, Any]:
    found: dict[str, Any] = ns.status(name).get("webhook", {})
    return found


def settled(webhook: dict[str, Any]) -> bool:
    """Every event queued so far is delivered or dropped."""
    return bool(webhook.get("queued")) and not webhook.get("pending")


def retried(webhook: dict[str, Any]) -> bool:
    return bool(webhook.get("pending")) and webhook["pending"][0]["attempts"] >= 2


def dropped(webhook: dict[str, Any]) -> bool:
    return bool(webhook.get("dropped") == 1)


def signed(delivery: Delivery) -> bool:
    return verify(SECRET, delivery.headers, delivery.body, now=int(time.time()))


def test_receiver_gets_exactly_the_filtered_events_each_signed(
    ns: Namespace, start_operator: Any, receiver: Receiver
) -> None:
    receiver.start()
    smoke_model(ns)
    start_operator(webhook_secret=SECRET, webhook_allowlist="127.0.0.1")
    ns.videojob("default-filter", prompt="a cat steps=2", webhook=receiver.url())
    ns.videojob(
        "start-done", prompt="a cat steps=2", webhook=receiver.url(), webhookEventsFilter=["start", "completed"]
    )
    ns.videojob(
        "progress", prompt="a cat steps=4 step_seconds=0.4", webhook=receiver.url(), webhookEventsFilter=["progress"]
    )
    ns.videojob(
        "failing", prompt="a cat steps=1 exit=10", webhook=receiver.url(), webhookEventsFilter=["failed", "completed"]
    )
    for name in ("default-filter", "start-done", "progress", "failing"):
        ns.wait_state(name, {"completed", "failed"})
        wait_for(
            partial(webhook_status, ns, name),
            settled,
            30,
            f"{name}'s webhooks",
        )

    assert [d.event for d in receiver.of("default-filter")] == ["completed"]
    assert [d.event for d in receiver.of("start-done")] == ["start", "completed"]
    assert [d.event for d in receiver.of("failing")] == ["failed"]
    progress = receiver.of("progress")
    assert progress and {d.event for d in progress} == {"progress"}
    steps = [d.document["data"]["progress"]["step"] for d in progress]
    assert steps == sorted(set(steps)), steps
    assert all(signed(d) for d in receiver.deliveries)
    assert len({d.headers["webhook-id"] for d in receiver.deliveries}) == len(receiver.deliveries)
    done = receiver.of("default-filter")[0].document
    assert done["data"]["status"] == "completed" and done["data"]["output_path"].startswith("./outputs/")
    assert receiver.of("failing")[0].document["data"]["reason"] == "InvalidInput"
    final = webhook_status(ns, "start-done")
    assert final["delivered"] == 2 and final["lastStatusCode"] == 204 and "lastError" not in final


def test_terminal_event_arrives_once_the_receiver_is_back_even_across_an_operator_restart(
    ns: Namespace, start_operator: Any, receiver: Receiver
) -> None:
    smoke_model(ns)
    operator = start_operator(
        webhook_secret=SECRET,
        webhook_allowlist="127.0.0.1",
        webhook_retry_first_seconds=0.5,
        webhook_retry_max_seconds=1.5,
        webhook_timeout_seconds=2,
    )
    ns.videojob("later", prompt="a cat steps=1", webhook=receiver.url())
    ns.wait_state("later", {"completed"})
    failing = wait_for(
        partial(webhook_status, ns, "later"),
        retried,
        30,
        "retries",
    )
    assert "no answer" in failing["lastError"], failing
    # The pending event is in the status, not in the process: a new operator picks it up.
    operator.kill()
    receiver.start()
    start_operator(
        webhook_secret=SECRET,
        webhook_allowlist="127.0.0.1",
        webhook_retry_first_seconds=0.5,
        webhook_retry_max_seconds=1.5,
    )
    wait_for(lambda: receiver.of("later"), lambda got: len(got) >= 1, 30, "the completed event")
    time.sleep(2)
    assert [d.event for d in receiver.of("later")] == ["completed"]
    assert signed(receiver.of("later")[0])
    final = webhook_status(ns, "later")
    assert final["delivered"] == 1 and not final.get("pending") and final["lastStatusCode"] == 204


def test_internal_destinations_are_refused_and_redirects_not_followed(
    ns: Namespace, start_operator: Any, receiver: Receiver, cluster: Cluster
) -> None:
    receiver.start()
    smoke_model(ns)
    start_operator(webhook_secret=SECRET, webhook_retry_first_seconds=0.5, webhook_retry_window_seconds=3)
    ns.videojob("metadata", prompt="a cat steps=1", webhook="http://169.254.169.254/latest/meta-data/")
    ns.videojob("loopback", prompt="a cat steps=1", webhook=receiver.url())
    for name in ("metadata", "loopback"):
        ns.wait_state(name, {"completed"})
        refused = wait_for(partial(webhook_status, ns, name), dropped, 30, f"{name} dropped")
        assert refused["lastError"].startswith("refused:") and "attempts" not in refused["lastError"], refused
    assert "link-local" in webhook_status(ns, "metadata")["lastError"]
    assert "loopback" in webhook_status(ns, "loopback")["lastError"]
    assert receiver.deliveries == []
    # A malformed URL never becomes a VideoJob.
    for bad in ("ftp://example.com/hook", "https://user:secret@example.com/hook", "https://exa mple.com/"):
        result = cluster.kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps(
                {
                    "apiVersion": "videogen.dev/v1alpha1",
                    "kind": "VideoJob",
                    "metadata": {"name": "malformed", "namespace": ns.name},
                    "spec": {"mode": "text-to-video", "prompt": "a cat", "webhook": bad},
                }
            ),
            check=False,
        )
        assert result.returncode != 0 and "spec.webhook in body should match" in result.stderr, result.stderr


def test_a_redirect_is_a_failed_delivery_and_is_not_followed(
    ns: Namespace, start_operator: Any, receiver: Receiver
) -> None:
    receiver.start()
    smoke_model(ns)
    start_operator(
        webhook_secret=SECRET,
        webhook_allowlist="127.0.0.1",
        webhook_retry_first_seconds=0.5,
        webhook_retry_window_seconds=2,
    )
    ns.videojob("redirected", prompt="a cat steps=1", webhook=receiver.url("/redirect"))
    ns.wait_state("redirected", {"completed"})
    final = wait_for(partial(webhook_status, ns, "redirected"), dropped, 30, "given up")
    assert final["lastStatusCode"] == 302 and "not followed" in final["lastError"], final
    assert {d.path for d in receiver.deliveries} == {"/redirect"} and len(receiver.deliveries) >= 2
