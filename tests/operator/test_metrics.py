"""Operations: Prometheus metrics (read from the in-memory view at scrape time), liveness, reconcile errors."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from tests.operator.conftest import Namespace
from tests.operator.factories import videojob
from tests.operator.test_operator_runs_videojobs import smoke_model
from videogen_common.resources.videojob_status import Reason, State, VideoJobStatus
from videogen_dev.waiting import wait_for
from videogen_operator.metrics import StateCollector
from videogen_operator.workers import Workers


def test_videojobs_by_state_and_queue_length_are_exported() -> None:
    queued = VideoJobStatus(state=State.PENDING, reason=Reason.QUEUED)
    videojobs = [
        videojob("a", status=VideoJobStatus(state=State.PROCESSING)),
        videojob("b", status=queued),
        videojob("c", status=queued),
        videojob("d"),  # not seen by the operator yet: pending
    ]
    registry = CollectorRegistry()
    registry.register(StateCollector(lambda: videojobs, lambda: 2))
    text = generate_latest(registry).decode()
    assert 'videogen_videojobs{state="pending"} 3.0' in text
    assert 'videogen_videojobs{state="processing"} 1.0' in text
    assert 'videogen_videojobs{state="completed"} 0.0' in text
    assert "videogen_queue_length 2.0" in text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_a_running_operator_answers_liveness_and_serves_its_metrics(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    metrics_port, health_port = free_port(), free_port()
    start_operator(
        metrics_port=metrics_port,
        metrics_host="127.0.0.1",
        liveness_endpoint=f"http://127.0.0.1:{health_port}/healthz",
    )
    ns.videojob("cat", prompt="a cat steps=1")
    assert ns.wait_state("cat", {"completed", "failed"})["state"] == "completed"

    status, _ = wait_for(
        lambda: get(f"http://127.0.0.1:{health_port}/healthz"), lambda answer: answer[0] == 200, 30, "liveness"
    )
    assert status == 200
    # The gauges are read from the watch-fed view at scrape time, so they follow the status without a delay.
    _, text = wait_for(
        lambda: get(f"http://127.0.0.1:{metrics_port}/metrics"),
        lambda answer: 'videogen_videojobs{state="completed"} 1.0' in answer[1],
        10,
        "the completed VideoJob in the metrics",
    )
    assert 'videogen_videojobs{state="pending"} 0.0' in text
    assert "videogen_queue_length 0.0" in text
    # One Job created, its wait observed once in the creation-latency histogram.
    assert "videogen_videojob_to_job_seconds_count 1.0" in text
    assert 'videogen_videojob_to_job_seconds_bucket{le="+Inf"} 1.0' in text
    assert 'videogen_reconcile_errors_total{kind="videojob"} 0.0' in text
    assert 'videogen_reconcile_errors_total{kind="videomodel"} 0.0' in text


def test_a_failing_reconcile_is_counted_and_retried() -> None:
    errors: list[str] = []
    calls = 0

    async def run() -> None:
        done = asyncio.Event()

        async def reconcile(uid: str) -> float | None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("the API server said no")
            done.set()
            return None  # final: the worker ends

        Workers("videojob", reconcile, errors.append).ensure("uid-1")
        async with asyncio.timeout(5):  # the retry comes after a 1 s back-off
            await done.wait()

    asyncio.run(run())
    assert (calls, errors) == (2, ["videojob"])
