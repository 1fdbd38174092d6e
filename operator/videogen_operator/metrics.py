"""Prometheus metrics: VideoJobs by state, queue length, time to Job creation, reconcile errors."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob_status import State

JOB_CREATION_SECONDS = Histogram(
    "videogen_videojob_to_job_seconds",
    "Seconds from VideoJob creation to its Job's creation (queue time included).",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600),
)
RECONCILE_ERRORS = Counter("videogen_reconcile_errors_total", "Reconciles that raised an error.", ["kind"])
# Exported from the start (as 0), so that an alert on its rate has a series before the first error.
for _kind in ("videojob", "videomodel"):
    RECONCILE_ERRORS.labels(kind=_kind)


class StateCollector(Collector):
    """Counts read from the operator's in-memory indexes at scrape time, so they are never stale."""

    def __init__(self, videojobs: Callable[[], Iterable[VideoJob]], queued: Callable[[], int]) -> None:
        self._videojobs = videojobs
        self._queued = queued

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_state = Tally(vj.status.current_state for vj in self._videojobs())
        jobs = GaugeMetricFamily("videogen_videojobs", "VideoJobs by state.", labels=["state"])
        for state in State:
            jobs.add_metric([state.value], by_state.get(state, 0))
        yield jobs
        yield GaugeMetricFamily("videogen_queue_length", "VideoJobs waiting in the queue.", value=self._queued())


def register(collector: StateCollector) -> None:
    REGISTRY.register(collector)
