"""The request id of each HTTP request: taken from the client's X-Request-ID when safe, else made; in every log line
written while the request is served, in the response's X-Request-ID, and on the VideoJob a generate request makes.

Pure ASGI (no BaseHTTPMiddleware), so the id bound here is in the context of the route, of the thread pool that runs
sync routes, and of the answers of the middlewares inside it (the gate's 401/413).
"""

from __future__ import annotations

import logging
import time
from typing import Final

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from videogen_common import logs
from videogen_common.resources.meta import ANNOTATION_REQUEST_ID

log = logging.getLogger("videogen_api.requests")

_HEADER: Final = logs.REQUEST_ID_HEADER.lower().encode()
#: Probes and scrapes come every few seconds: a line (or a trace) each would bury the requests people look for.
QUIET_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})


def request_id_annotation() -> dict[str, str]:
    """The annotation naming the current request's id, for the VideoJob it makes ({} outside a request)."""
    request_id = logs.context().get("request_id")
    return {ANNOTATION_REQUEST_ID: request_id} if request_id else {}


def _sent_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == _HEADER:
            return logs.valid_request_id(value.decode("latin-1"))
    return None


class RequestIdMiddleware:
    """Binds the request id for the request, answers it in X-Request-ID and logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _sent_request_id(scope) or logs.new_request_id()
        # FastAPI's span of this request, when tracing is on (a no-op otherwise).
        trace.get_current_span().set_attribute("videogen.request_id", request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER]
                message = {**message, "headers": [*headers, (_HEADER, request_id.encode())]}
            await send(message)

        with logs.bound(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if scope["path"] not in QUIET_PATHS:
                    log.info(
                        "%s %s %d %.3fs",
                        scope["method"],
                        scope["path"],
                        status,
                        time.perf_counter() - started,
                    )
