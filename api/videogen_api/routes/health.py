"""Liveness (/health, the reference's), readiness (/readyz: Kubernetes, the VideoJob cache; S3 only degrades it)
and /metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from videogen_api.deps import ServicesDep
from videogen_api.errors import is_s3_outage
from videogen_api.schemas import HealthResponse, ReadyResponse
from videogen_api.version import VERSION

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


# ``async def``: served on the event loop, so it never queues behind the threadpool that uploads and apiserver
# calls occupy (a liveness probe that waited there would restart a busy pod).
@router.get("/health", response_model=HealthResponse)
async def health(services: ServicesDep) -> HealthResponse:
    """The process serves requests (nothing else is checked: a liveness probe must not fail on a slow apiserver)."""
    return HealthResponse(service=services.settings.service_name, version=VERSION)


# What a failed check shows: /readyz is unauthenticated, so the reason (endpoints, bucket, exception text) goes
# to the log only.
_FAILED = "failed (see the API's log)"
_S3_UNREACHABLE = "unreachable: submits with an upload and /outputs answer 503 (see the API's log)"


@router.get("/readyz", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}})
def readyz(services: ServicesDep) -> JSONResponse:
    """Ready (200) when the Kubernetes API (VideoJobs in our namespace) and the S3 bucket both answer and the
    VideoJob cache has listed once; degraded (still 200) when S3 alone does not answer; unavailable (503)
    otherwise."""
    checks: dict[str, str] = {}
    try:
        services.kube.list_videojobs(label_selector="videogen.dev/readiness-probe=none")
        checks["kubernetes"] = "ok"
    except Exception as exc:
        log.warning("readiness: Kubernetes API check failed: %s: %s", type(exc).__name__, exc)
        checks["kubernetes"] = _FAILED
    try:
        services.storage.check()
        checks["s3"] = "ok"
    except Exception as exc:
        log.warning("readiness: S3 check failed: %s: %s", type(exc).__name__, exc)
        # Refused keys or a missing bucket are the configuration's fault, not a blip: the replica is not ready.
        checks["s3"] = _S3_UNREACHABLE if is_s3_outage(exc) else _FAILED
    # Without it every job read would go to the apiserver: correct, but not the latency this replica promises.
    checks["cache"] = "ok" if services.job_cache.synced else "cache not synced"
    # S3 only degrades this replica: job reads come from the cache and the apiserver, which still answer, while
    # every replica shares the one S3, and a probe failing on it would take them all out of the Service at once and
    # stop the reads too. What needs S3 answers 503 itself meanwhile (errors.py).
    if any(result not in ("ok", _S3_UNREACHABLE) for result in checks.values()):
        body = ReadyResponse(status="unavailable", checks=checks)
    else:
        body = ReadyResponse(status="ready" if checks["s3"] == "ok" else "degraded", checks=checks)
    return JSONResponse(body.model_dump(), status_code=503 if body.status == "unavailable" else 200)


@router.get("/metrics", include_in_schema=False)
def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
