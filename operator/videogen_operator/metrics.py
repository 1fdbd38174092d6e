"""Prometheus metrics of the operator, every name prefixed ``videogen_``, in one registry served on metrics_port.

Per finished VideoJob (observed once, by the status write that makes it completed, failed or cancelled): its phase
durations, its outcome (state and reason), the GPU-seconds its runner pods used. At scrape time, from the in-memory
view: VideoJobs by state, the queue (depth and oldest pending age per model and mode), whether this operator leads.
Webhook deliveries and VideoModel downloads by outcome, Job-creation latency and reconcile errors as they happen.

Labels stay bounded: ``model`` is the name of the VideoModel a VideoJob runs or waits for (``unknown`` when none
matches; spec.model's free text never becomes a label), ``mode``, ``state``, ``reason``, ``phase``, ``event`` and
``outcome`` come from enums.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from videogen_common.model_choice import ModelPolicy, is_repo_id
from videogen_common.resources.objects import VideoJob, VideoModel
from videogen_common.resources.videojob_status import State, VideoJobStatus, WebhookStatus
from videogen_common.resources.videomodel import ModelState
from videogen_common.webhooks import WebhookEvent
from videogen_operator.naming import RUNNER_CONTAINER

#: What the operator's metrics server serves: these metrics and the process's own (CPU, memory, open files), named
#: videogen_operator_process_*; not the client library's global registry, whose names carry no prefix.
REGISTRY: Final = CollectorRegistry()
ProcessCollector(namespace="videogen_operator", registry=REGISTRY)

#: The runner's timing keys (RunResult.timings) by the phase label they are counted under; other keys (import,
#: total) are not phases. ``queue`` (VideoJob created -> its Job started) is the operator's own.
PHASES: Final[Mapping[str, str]] = {
    "download-input": "download_input",
    "load": "load",
    "encode-prompt": "encode_prompt",
    "denoise": "denoise",
    "decode": "decode",
    "encode-video": "encode",
    "upload": "upload",
}
QUEUE_PHASE: Final = "queue"
#: The model label of a VideoJob no VideoModel matches (a typo, a deleted model, no default model).
UNKNOWN_MODEL: Final = "unknown"
#: Webhook delivery outcomes: delivered, failed (tried again later), dropped (refused, or the retry window used up).
WEBHOOK_OUTCOMES: Final = ("delivered", "failed", "dropped")

_SECONDS_BUCKETS: Final = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

JOB_CREATION_SECONDS: Final = Histogram(
    "videogen_videojob_to_job_seconds",
    "Seconds from VideoJob creation to its Job's creation (queue time included).",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600),
    registry=REGISTRY,
)
RECONCILE_ERRORS: Final = Counter(
    "videogen_reconcile_errors", "Reconciles that raised an error.", ["kind"], registry=REGISTRY
)
PHASE_SECONDS: Final = Histogram(
    "videogen_videojob_phase_seconds",
    "Seconds a finished VideoJob spent per phase: queue (created to Job started), download_input, load, "
    "encode_prompt, denoise, decode, encode (MP4), upload.",
    ["model", "mode", "phase"],
    buckets=_SECONDS_BUCKETS,
    registry=REGISTRY,
)
DURATION_SECONDS: Final = Histogram(
    "videogen_videojob_duration_seconds",
    "Seconds from a VideoJob's creation to its end, by final state.",
    ["model", "mode", "state"],
    buckets=_SECONDS_BUCKETS,
    registry=REGISTRY,
)
FINISHED: Final = Counter(
    "videogen_videojobs_finished",
    "VideoJobs that reached a final state, by state and reason.",
    ["model", "mode", "state", "reason"],
    registry=REGISTRY,
)
GPU_SECONDS: Final = Counter(
    "videogen_gpu_seconds",
    "GPU-seconds used by finished VideoJobs: each runner container's run time times spec.gpus.",
    ["model", "mode"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES: Final = Counter(
    "videogen_webhook_deliveries",
    "Webhook delivery attempts by event and outcome (delivered; failed, to be tried again; dropped).",
    ["event", "outcome"],
    registry=REGISTRY,
)
MODEL_DOWNLOADS: Final = Counter(
    "videogen_model_downloads",
    "VideoModel downloads that ended, by VideoModel and outcome (Ready or Failed).",
    ["model", "outcome"],
    registry=REGISTRY,
)
# Exported from the start (as 0), so that alerts and dashboards on their rates have a series before the first one.
for _kind in ("videojob", "videomodel"):
    RECONCILE_ERRORS.labels(kind=_kind)
for _event in WebhookEvent:
    for _outcome in WEBHOOK_OUTCOMES:
        WEBHOOK_DELIVERIES.labels(event=_event.value, outcome=_outcome)


def model_label(videojob: VideoJob, videomodels: Iterable[VideoModel], policy: ModelPolicy) -> str:
    """The name of the VideoModel ``videojob`` runs or waits for (its spec.model, or the mode's default), found as
    the model choice finds it (by name, or by the repo id it downloads); UNKNOWN_MODEL when none matches."""
    wanted = videojob.spec.model or policy.default_models.get(videojob.spec.mode)
    if not wanted:
        return UNKNOWN_MODEL
    by_repo_id = is_repo_id(wanted)
    names = sorted(m.name for m in videomodels if (m.spec.repo_id if by_repo_id else m.name) == wanted)
    return names[0] if names else UNKNOWN_MODEL


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _seconds_between(start: str | None, end: str | None) -> float | None:
    begun, ended = _time(start), _time(end)
    if begun is None or ended is None:
        return None
    return max(0.0, (ended - begun).total_seconds())


def phase_seconds(videojob: VideoJob, status: VideoJobStatus) -> dict[str, float]:
    """A finished VideoJob's phase durations by phase label: queue from the status's times, the rest from the
    runner's timings (only those a run reported: a job that failed early has fewer, a cancelled one none)."""
    phases = {PHASES[key]: seconds for key, seconds in (status.timings or {}).items() if key in PHASES}
    queued = _seconds_between(videojob.metadata.creation_timestamp, status.start_time)
    if queued is not None:
        phases[QUEUE_PHASE] = queued
    return phases


def gpu_seconds(pods: Sequence[Mapping[str, Any]], gpus: int) -> float:
    """GPU-seconds the runner containers of ``pods`` held: each finished container's run time, times the GPUs each
    pod requests. Retried attempts count too; they used the GPU as well."""
    total = 0.0
    for pod in pods:
        for status in pod.get("status", {}).get("containerStatuses") or []:
            if status.get("name") != RUNNER_CONTAINER:
                continue
            terminated = (status.get("state") or {}).get("terminated") or {}
            ran = _seconds_between(terminated.get("startedAt"), terminated.get("finishedAt"))
            total += ran or 0.0
    return total * gpus


def observe_finished(videojob: VideoJob, status: VideoJobStatus, model: str, pods: Sequence[Mapping[str, Any]]) -> None:
    """Count one VideoJob that has just reached its final ``status`` (the caller calls this once per VideoJob: when
    its own status write made it final)."""
    mode = videojob.spec.mode.value
    state = status.current_state.value
    FINISHED.labels(model, mode, state, str(status.reason or "")).inc()
    for phase, seconds in phase_seconds(videojob, status).items():
        PHASE_SECONDS.labels(model, mode, phase).observe(seconds)
    total = _seconds_between(videojob.metadata.creation_timestamp, status.completion_time)
    if total is not None:
        DURATION_SECONDS.labels(model, mode, state).observe(total)
    # Zero too (a job that never ran): the series exists for every model and mode that finished a job.
    GPU_SECONDS.labels(model, mode).inc(gpu_seconds(pods, videojob.spec.gpus))


def webhook_outcome(before: WebhookStatus, after: WebhookStatus) -> str:
    """What one attempt came to, from ``status.webhook`` before and after it: delivered, dropped (refused, or the
    retry window used up) or failed (to be tried again)."""
    if after.delivered > before.delivered:
        return "delivered"
    return "dropped" if after.dropped > before.dropped else "failed"


def observe_webhook(event: WebhookEvent, before: WebhookStatus, after: WebhookStatus) -> None:
    WEBHOOK_DELIVERIES.labels(event.value, webhook_outcome(before, after)).inc()


def observe_download(videomodel: VideoModel, state: ModelState) -> None:
    MODEL_DOWNLOADS.labels(videomodel.name, state.value).inc()


class StateCollector(Collector):
    """Counts read from the operator's in-memory indexes at scrape time, so they are never stale."""

    def __init__(
        self,
        videojobs: Callable[[], Iterable[VideoJob]],
        queued: Callable[[], int],
        model_of: Callable[[VideoJob], str],
        leading: Callable[[], bool],
        now: Callable[[], float] = time.time,
    ) -> None:
        self._videojobs = videojobs
        self._queued = queued
        self._model_of = model_of
        self._leading = leading
        self._now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "videogen_operator_leader",
            "1 while this operator holds the Lease and acts (always, without leader election); 0 while it waits.",
            value=int(self._leading()),
        )
        videojobs = list(self._videojobs())
        by_state = Tally(vj.status.current_state for vj in videojobs)
        jobs = GaugeMetricFamily(
            "videogen_videojobs",
            "VideoJobs the operator watches, by state (a final one leaves the watch once labelled finished).",
            labels=["state"],
        )
        for state in State:
            jobs.add_metric([state.value], by_state.get(state, 0))
        yield jobs
        yield GaugeMetricFamily(
            "videogen_queue_length", "VideoJobs queued behind the cap on running Jobs (reason Queued).",
            value=self._queued(),
        )  # fmt: skip
        depth = GaugeMetricFamily(
            "videogen_queue_depth",
            "Pending VideoJobs (no runner pod running yet: queued, waiting for the model, a GPU, their pod).",
            labels=["model", "mode"],
        )
        oldest = GaugeMetricFamily(
            "videogen_queue_oldest_pending_seconds",
            "Age of the oldest pending VideoJob.",
            labels=["model", "mode"],
        )
        now = self._now()
        count: Tally[tuple[str, str]] = Tally()
        age: dict[tuple[str, str], float] = {}
        for vj in videojobs:
            if vj.status.current_state != State.PENDING or vj.spec.cancel:
                continue
            key = (self._model_of(vj), vj.spec.mode.value)
            count[key] += 1
            if (created := _time(vj.metadata.creation_timestamp)) is not None:
                age[key] = max(age.get(key, 0.0), now - created.timestamp())
        for key, pending in sorted(count.items()):
            depth.add_metric(list(key), pending)
            oldest.add_metric(list(key), max(0.0, age.get(key, 0.0)))
        yield depth
        yield oldest


def register(collector: StateCollector) -> None:
    REGISTRY.register(collector)
