"""Request dependencies as ``Annotated`` aliases; the objects behind them are built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from videogen_api.admission import Admission
from videogen_api.auth import ApiKeys, Caller
from videogen_api.cache import VideoJobCache
from videogen_api.config import ApiSettings
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
    #: Accepted API keys and their callers; none when authentication is off.
    api_keys: ApiKeys


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
    request: Request,
    services: ServicesDep,
    _api_key: Annotated[str | None, Depends(_api_key_header)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller, when API keys are configured proven by one (X-API-Key or Authorization: Bearer); 401 otherwise.
    (The two header parameters only document the scheme in /docs: the request gate already identified the caller
    of a route with a body, before reading it.)"""
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None:
        caller = services.api_keys.identify(request.headers)
        request.state.caller = caller
    return caller


ApiKeyRequired = Depends(require_api_key)
#: The caller of a route, for routes that show or act on only the caller's own jobs.
CallerDep = Annotated[Caller, ApiKeyRequired]
