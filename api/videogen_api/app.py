"""The app factory: settings in, a FastAPI app with its Kubernetes and S3 clients, routes and error handling out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from videogen_api.admission import Admission
from videogen_api.auth import load_api_keys
from videogen_api.cache import VideoJobCache
from videogen_api.config import ApiSettings
from videogen_api.deps import Services
from videogen_api.errors import install_error_handlers
from videogen_api.gate import RequestGate, gated_routes, upload_room_for
from videogen_api.job_events import JobEventHub
from videogen_api.kube import Kube, make_api_client
from videogen_api.metrics import Metrics, MetricsMiddleware
from videogen_api.request_ids import QUIET_PATHS, RequestIdMiddleware
from videogen_api.routes import events, generate, health, jobs, models, outputs, ui
from videogen_api.routes.events import StreamLimits
from videogen_api.storage import Storage
from videogen_api.version import VERSION
from videogen_common.s3 import S3Settings, make_client

DESCRIPTION = """\
Video generation on Kubernetes, compatible with the reference video server API.

Each generation request becomes a `VideoJob` resource (the only record of the job); `GET /api/v1/job/{id}` reads
it back. Errors are always `{"error": "<what to fix>"}`.
"""


#: The S3 readiness check's client: one attempt, answered within the probe's 5 s timeout or counted as unreachable.
READINESS_CHECK_S3 = {"connect_timeout": 2.0, "read_timeout": 2.0, "max_attempts": 1}


def create_app(
    settings: ApiSettings | None = None,
    *,
    s3_settings: S3Settings | None = None,
    kube: Kube | None = None,
    s3_client: Any = None,
) -> FastAPI:
    """The API for these settings; ``kube`` and ``s3_client`` replace the ones the settings would make."""
    settings = settings or ApiSettings()
    # First: a missing or empty key file stops the start before anything connects (ConfigurationError).
    api_keys = load_api_keys(settings)
    kube = kube or Kube(make_api_client(settings), settings.namespace)
    s3_settings = s3_settings or S3Settings()
    public_endpoint = settings.outputs_public_endpoint_url
    storage = Storage(
        s3_client or make_client(s3_settings),
        settings.bucket,
        make_client(s3_settings.model_copy(update={"endpoint_url": public_endpoint})) if public_endpoint else None,
        None if s3_client else make_client(s3_settings.model_copy(update=READINESS_CHECK_S3)),
    )
    metrics = Metrics()
    job_cache = VideoJobCache(
        kube.api_client,
        kube.namespace,
        watch_timeout_seconds=settings.cache_watch_timeout_seconds,
        finished_window=settings.cache_finished_jobs,
    )
    metrics.watch_cache(job_cache)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Not waited for: /readyz reports "cache not synced" until the first list, and reads fall back to the
        # apiserver meanwhile, so a slow apiserver delays readiness, not the process start.
        job_cache.start()
        try:
            yield
        finally:
            await asyncio.to_thread(job_cache.stop)

    app = FastAPI(
        title="videogen API",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI traces each request once a TracerProvider is installed (videogen_common.tracing, only with an
        # endpoint); probes and scrapes would bury the requests people look for.
        telemetry={"exclude": lambda scope: scope.get("path") in QUIET_PATHS},
    )
    app.state.services = Services(
        settings=settings,
        kube=kube,
        job_cache=job_cache,
        storage=storage,
        admission=Admission(settings, kube, storage, job_cache),
        metrics=metrics,
        api_keys=api_keys,
    )
    app.state.job_events = JobEventHub(job_cache, history_seconds=settings.events_history_seconds)
    app.state.event_stream_limits = StreamLimits(settings.events_max_streams, settings.events_max_streams_per_client)
    install_error_handlers(app)
    for module in (health, generate, jobs, events, models, outputs, ui):
        app.include_router(module.router)
    app.include_router(ui.posters)
    # After the routers, whose routes declare the rules: a route that takes a body and declares none stops here.
    routes = gated_routes(app.routes, settings)
    app.add_middleware(
        RequestGate,
        routes=routes,
        api_keys=api_keys,
        upload_room=upload_room_for(routes, settings),
        body_timeout_seconds=settings.body_timeout_seconds,
    )
    # Added last, so it is outermost and also sees the gate's 413/415 answers.
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outermost of all: every answer carries the request id and every line written while serving it names it.
    app.add_middleware(RequestIdMiddleware)
    _drop_422_from_openapi(app)
    return app


def _drop_422_from_openapi(app: FastAPI) -> None:
    """FastAPI documents a 422 on every route; this API answers validation errors with 400 (errors.py)."""
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate_openapi()
            for path in schema["paths"].values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema or schema

    app.openapi = openapi  # type: ignore[method-assign]
