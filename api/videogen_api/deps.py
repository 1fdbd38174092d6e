"""Request dependencies as ``Annotated`` aliases; the objects behind them are built once by the app factory."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from videogen_api.admission import Admission
from videogen_api.cache import VideoJobCache
from videogen_api.config import ApiSettings
from videogen_api.errors import ApiError
from videogen_api.kube import Kube
from videogen_api.metrics import Metrics
from videogen_api.storage import Storage


@dataclass(frozen=True)
class Services:
    settings: ApiSettings
    kube: Kube
    #: VideoJobs as the watch last delivered them; job reads come from here (see cache.py for what it guarantees).
    job_cache: VideoJobCache
    storage: Storage
    admission: Admission
    metrics: Metrics
    #: Accepted API keys; empty means authentication is off.
    api_keys: tuple[str, ...]


# The dependencies are ``async def`` although they do no I/O: FastAPI runs a plain ``def`` dependency in its
# threadpool, and on a cached GET those hops would cost more than the request's own work.


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]


async def _settings(services: ServicesDep) -> ApiSettings:
    return services.settings


async def _kube(services: ServicesDep) -> Kube:
    return services.kube


async def _storage(services: ServicesDep) -> Storage:
    return services.storage


async def _admission(services: ServicesDep) -> Admission:
    return services.admission


async def _job_cache(services: ServicesDep) -> VideoJobCache:
    return services.job_cache


SettingsDep = Annotated[ApiSettings, Depends(_settings)]
KubeDep = Annotated[Kube, Depends(_kube)]
StorageDep = Annotated[Storage, Depends(_storage)]
AdmissionDep = Annotated[Admission, Depends(_admission)]
JobCacheDep = Annotated[VideoJobCache, Depends(_job_cache)]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Any unique string (at most 255 printable ASCII characters); a retried submit with the same key "
        "and the same request returns the same job instead of starting another.",
    ),
]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="One of the configured API keys.")
_bearer = HTTPBearer(auto_error=False, description="One of the configured API keys as a bearer token.")


async def require_api_key(
    services: ServicesDep,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """When API keys are configured, the request must carry one (X-API-Key or Authorization: Bearer)."""
    if not services.api_keys:
        return
    presented = api_key or (bearer.credentials if bearer else None)
    if presented is None:
        raise ApiError(401, "An API key is required: send it in the X-API-Key header", {"WWW-Authenticate": "Bearer"})
    # Compare against every key without stopping early, so the timing does not tell which key came close.
    matched = False
    for key in services.api_keys:
        matched |= hmac.compare_digest(presented.encode(), key.encode())
    if not matched:
        raise ApiError(401, "The API key is not valid", {"WWW-Authenticate": "Bearer"})


ApiKeyRequired = Depends(require_api_key)
