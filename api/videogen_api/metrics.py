"""Prometheus metrics, every name prefixed ``videogen_api_``: requests by route and code, latency, uploads, the
VideoJob cache, the process. One registry per app (tests build several)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import fields
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from videogen_api.cache import VideoJobCache


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # videogen_api_process_resident_memory_bytes and the rest: what the upload and media-check bounds are
        # measured with (prefixed like every metric here, so they are told apart from other processes' in a query).
        ProcessCollector(namespace="videogen_api", registry=self.registry)
        self.requests = Counter(
            "videogen_api_requests", "HTTP requests by route and status code", ["method", "route", "code"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "videogen_api_request_duration_seconds", "Time to the response's first byte", ["method", "route"],
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=self.registry,
        )  # fmt: skip
        self.uploads = Counter(
            "videogen_api_uploads", "Uploaded inputs by mode and outcome", ["mode", "outcome"], registry=self.registry
        )
        self.upload_bytes = Counter(
            "videogen_api_upload_bytes", "Bytes of accepted uploads by mode", ["mode"], registry=self.registry
        )

    def watch_cache(self, cache: VideoJobCache) -> None:
        self.registry.register(_CacheCollector(cache))


class _CacheCollector(Collector):
    """The VideoJob cache's own counters, read at scrape time (the cache counts; nothing is copied twice)."""

    def __init__(self, cache: VideoJobCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self.cache.stats
        counters = CounterMetricFamily(
            "videogen_api_cache_operations",
            "VideoJob cache: full lists, watches started, events applied, 410 Gone restarts, errors",
            labels=["operation"],
        )
        for field in fields(stats):
            counters.add_metric([field.name], getattr(stats, field.name))
        yield counters
        yield GaugeMetricFamily("videogen_api_cache_synced", "1 when the cache serves reads", value=self.cache.synced)
        yield GaugeMetricFamily("videogen_api_cache_videojobs", "VideoJobs held by the cache", value=len(self.cache))


class MetricsMiddleware:
    """Counts every response under its route template (``/api/v1/job/{job_id}``), so ids do not explode labels."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500

        async def send_and_observe(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
                self.metrics.latency.labels(_method(scope), _route(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_and_observe)
        finally:
            self.metrics.requests.labels(_method(scope), _route(scope), str(code)).inc()


#: The methods a label may name; any other (clients may send any token) counts as "other", so that unauthenticated
#: requests cannot add label values, and series, without bound.
_KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(scope: Scope) -> str:
    method = str(scope["method"])
    return method if method in _KNOWN_METHODS else "other"


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
