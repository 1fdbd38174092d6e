"""Operations: Prometheus metrics (read from the in-memory view at scrape time, or counted once per finished
VideoJob), liveness, reconcile errors."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from tests.operator.conftest import Namespace
from tests.operator.factories import MODEL, pod, videojob, videomodel
from tests.operator.test_operator_runs_videojobs import smoke_model
from videogen_common.model_choice import ModelPolicy
from videogen_common.resources.videojob import Mode
from videogen_common.resources.videojob_status import PendingWebhook, Reason, State, VideoJobStatus, WebhookStatus
from videogen_common.webhooks import WebhookEvent
from videogen_dev.waiting import wait_for
from videogen_operator import metrics, webhook_queue
from videogen_operator.metrics import StateCollector
from videogen_operator.workers import Workers

#: factories.videojob's creationTimestamp (2024-01-15T10:30:45Z) as a Unix time.
CREATED = 1705314645.0


def test_videojobs_by_state_queue_length_and_per_model_queue_are_exported() -> None:
    queued = VideoJobStatus(state=State.PENDING, reason=Reason.QUEUED)
    videojobs = [
        videojob("a", status=VideoJobStatus(state=State.PROCESSING)),
        videojob("b", status=queued),
        videojob("c", status=queued, mode="image-to-video", input={"uri": "s3://inputs/in.png"}),
        videojob("d"),  # not seen by the operator yet: pending
        videojob("e", status=queued, cancel=True),  # being cancelled: not waiting for anything
    ]
    registry = CollectorRegistry()
    registry.register(
        StateCollector(lambda: videojobs, lambda: 2, lambda vj: "wan-t2v", lambda: False, now=lambda: CREATED + 90)
    )
    text = generate_latest(registry).decode()
    assert 'videogen_videojobs{state="pending"} 4.0' in text
    assert 'videogen_videojobs{state="processing"} 1.0' in text
    assert 'videogen_videojobs{state="completed"} 0.0' in text
    assert "videogen_queue_length 2.0" in text
    assert 'videogen_queue_depth{mode="text-to-video",model="wan-t2v"} 2.0' in text
    assert 'videogen_queue_depth{mode="image-to-video",model="wan-t2v"} 1.0' in text
    assert 'videogen_queue_oldest_pending_seconds{mode="text-to-video",model="wan-t2v"} 90.0' in text
    # Waiting for the Lease: the gauges are this operator's view, the leader gauge says it does not act.
    assert "videogen_operator_leader 0.0" in text


def test_the_model_label_is_a_videomodel_name_never_free_text() -> None:
    models = [videomodel("wan-t2v", MODEL.repo_id), videomodel("ltx", "Lightricks/LTX-Video")]
    policy = ModelPolicy(default_models={Mode.TEXT_TO_VIDEO: "ltx"})
    assert metrics.model_label(videojob(model="wan-t2v"), models, policy) == "wan-t2v"
    # A repo id names the VideoModel that downloads it.
    assert metrics.model_label(videojob(model=MODEL.repo_id), models, policy) == "wan-t2v"
    assert metrics.model_label(videojob(model=None), models, policy) == "ltx"
    # Whatever a caller typed that no VideoModel matches is one label value, not one per typo.
    assert metrics.model_label(videojob(model="someone/anything-at-all"), models, policy) == metrics.UNKNOWN_MODEL
    assert metrics.model_label(videojob(model="no-such-model"), models, ModelPolicy()) == metrics.UNKNOWN_MODEL


def test_phases_come_from_the_runners_timings_and_the_queue_from_the_status_times() -> None:
    status = VideoJobStatus(
        state=State.COMPLETED,
        start_time="2024-01-15T10:31:15Z",
        timings={"import": 4.0, "load": 3.0, "denoise": 20.0, "decode": 2.0, "encode-video": 1.5, "upload": 0.5,
                 "total": 31.0},
    )  # fmt: skip
    phases = metrics.phase_seconds(videojob(), status)
    assert phases == {"queue": 30.0, "load": 3.0, "denoise": 20.0, "decode": 2.0, "encode": 1.5, "upload": 0.5}
    # Failed before its Job started: no queue phase to count, and no runner timings.
    assert metrics.phase_seconds(videojob(), VideoJobStatus(state=State.FAILED)) == {}


def test_gpu_seconds_are_the_runner_containers_run_times_times_the_gpus() -> None:
    def ran(name: str, started: str, finished: str) -> dict[str, Any]:
        finished_pod = pod(name, "Failed", exit_code=12)
        finished_pod["status"]["containerStatuses"][0]["state"]["terminated"] |= {
            "startedAt": started,
            "finishedAt": finished,
        }
        return finished_pod

    pods = [
        ran("cat-a", "2024-01-15T10:31:00Z", "2024-01-15T10:31:40Z"),  # a failed attempt used the GPU too
        ran("cat-b", "2024-01-15T10:32:00Z", "2024-01-15T10:33:00Z"),
        pod("cat-c", "Pending"),  # never ran
    ]
    assert metrics.gpu_seconds(pods, 1) == 100.0
    assert metrics.gpu_seconds(pods, 0) == 0.0


def test_a_webhook_attempt_is_delivered_failed_or_dropped() -> None:
    sent = datetime(2024, 1, 15, 10, 31, tzinfo=UTC)
    item = PendingWebhook(id="msg_1", event=WebhookEvent.COMPLETED, time=webhook_queue.format_time(sent))
    owed = WebhookStatus(pending=[item])
    policy = webhook_queue.RetryPolicy(first_seconds=5, max_seconds=60, window_seconds=600)

    def outcome(result: webhook_queue.Outcome, at: datetime = sent) -> str:
        return metrics.webhook_outcome(owed, webhook_queue.after_attempt(owed, item, result, policy, at))

    assert outcome(webhook_queue.Outcome(status_code=204)) == "delivered"
    assert outcome(webhook_queue.Outcome(status_code=503)) == "failed"
    assert outcome(webhook_queue.Outcome(error="refused: internal address", permanent=True)) == "dropped"
    # The retry window used up: given up.
    assert outcome(webhook_queue.Outcome(status_code=503), sent + timedelta(seconds=600)) == "dropped"


def _sample(name: str, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels)
    return value or 0.0


def test_a_finished_videojob_is_counted_by_model_mode_state_and_reason() -> None:
    model, mode = "metrics-unit-model", "text-to-video"
    before = _sample("videogen_videojobs_finished_total", model=model, mode=mode, state="failed", reason="OutOfMemory")
    status = VideoJobStatus(
        state=State.FAILED,
        reason=Reason.OUT_OF_MEMORY,
        start_time="2024-01-15T10:30:50Z",
        completion_time="2024-01-15T10:32:45Z",
        timings={"load": 3.0},
    )
    metrics.observe_finished(videojob(), status, model, [])
    after = _sample("videogen_videojobs_finished_total", model=model, mode=mode, state="failed", reason="OutOfMemory")
    assert after == before + 1
    assert _sample("videogen_videojob_phase_seconds_count", model=model, mode=mode, phase="queue") >= 1
    assert _sample("videogen_videojob_phase_seconds_sum", model=model, mode=mode, phase="load") >= 3.0
    assert _sample("videogen_videojob_duration_seconds_sum", model=model, mode=mode, state="failed") >= 120.0


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
    # Counted by the status write that made it final, before anything else happens.
    labels = 'mode="text-to-video",model="smoke"'
    finished = f'videogen_videojobs_finished_total{{{labels},reason="Succeeded",state="completed"}} 1.0'
    _, text = wait_for(
        lambda: get(f"http://127.0.0.1:{metrics_port}/metrics"),
        lambda answer: finished in answer[1],
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
    # Counted once, under its VideoModel's name and mode: its outcome, its queue phase, its GPU time.
    assert f'videogen_videojob_phase_seconds_count{{{labels},phase="queue"}} 1.0' in text
    assert f'videogen_videojob_duration_seconds_count{{{labels},state="completed"}} 1.0' in text
    assert f"videogen_gpu_seconds_total{{{labels}}}" in text
    assert 'videogen_model_downloads_total{model="smoke",outcome="Ready"} 1.0' in text
    assert "videogen_operator_leader 1.0" in text
    # Every name prefixed, the process's own included.
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert "videogen_operator_process_resident_memory_bytes" in names
    assert all(name.startswith("videogen_") for name in names), sorted(names)


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
