"""Checks made before a request body is read: its media type (415) and its size (413).

Starlette would otherwise spool an oversized upload to disk before the route could refuse it, and FastAPI would
answer a form sent to a JSON route with a validation error instead of 415.

Each route that takes a body declares its rule where it is declared, with ``@accepts_body(...)`` under the route
decorator. The rule names a limit (``image_upload``: the image limit plus room for the form fields); the app's
settings turn it into bytes when ``gated_routes`` reads the routes, once, at app creation. A route that can take
a body and declares no rule stops the app from being created, so a new one cannot go without a limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from videogen_api.config import ApiSettings
from videogen_api.errors import error_response

# Room for the form fields beside the file (two prompts of at most 4000 characters and a few numbers).
_FORM_FIELDS_BYTES = 64 * 1024
_JSON_BODY_BYTES = 64 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_DECLARED_RULE = "videogen_body_rule"


@dataclass(frozen=True)
class BodyRule:
    media_type: str
    max_bytes: int
    #: The 413's message: what the limit is, in the terms the client chose (the file, not the multipart body).
    too_large_message: str


#: A route's rule as declared: the limits are settings, and apps with different settings share the routes.
BodyRuleFor = Callable[[ApiSettings], BodyRule]


def json_body(_settings: ApiSettings) -> BodyRule:
    """A JSON object of request fields."""
    return BodyRule("application/json", _JSON_BODY_BYTES, f"the JSON body must be at most {_JSON_BODY_BYTES} bytes")


def image_upload(settings: ApiSettings) -> BodyRule:
    """A form with an image of at most ``max_image_bytes``, plus room for the other fields."""
    return _upload("image", settings.max_image_bytes)


def video_upload(settings: ApiSettings) -> BodyRule:
    """A form with a video of at most ``max_video_bytes``, plus room for the other fields."""
    return _upload("video", settings.max_video_bytes)


def _upload(field: str, limit: int) -> BodyRule:
    return BodyRule("multipart/form-data", limit + _FORM_FIELDS_BYTES, f"{field} must be at most {limit} bytes")


_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def accepts_body(rule: BodyRuleFor) -> Callable[[_Endpoint], _Endpoint]:
    """Declares the body an endpoint takes; the endpoint itself is unchanged, so it costs nothing per request."""

    def declare(endpoint: _Endpoint) -> _Endpoint:
        setattr(endpoint, _DECLARED_RULE, rule)
        return endpoint

    return declare


def gated_routes(routes: Sequence[BaseRoute], settings: ApiSettings) -> tuple[tuple[RouteContext, BodyRule], ...]:
    """Each route's declared rule with these settings, in routing order; raises if a route that can take a body
    declares none."""
    gated: list[tuple[RouteContext, BodyRule]] = []
    undeclared: list[str] = []
    # Included routers are not flattened into app.routes (FastAPI 0.137+); this walks them with their prefixes.
    for route in iter_route_contexts(routes):
        rule_for: BodyRuleFor | None = getattr(route.endpoint, _DECLARED_RULE, None)
        if rule_for is not None:
            gated.append((route, rule_for(settings)))
        elif route.methods is None:
            # A mount, a websocket, a route for any method: nothing says it takes no body.
            undeclared.append(f"{route.path or route.original_route!r} (any method)")
        elif route.methods & _BODY_METHODS:
            undeclared.append(f"{','.join(sorted(route.methods))} {route.path} ({route.name})")
    if undeclared:
        raise RuntimeError(
            "Routes that take a request body must declare its media type and size limit with "
            "@accepts_body(...) from videogen_api.gate, so a wrong one is refused (415, 413) before it is read; "
            "none declared by: " + "; ".join(undeclared)
        )
    return tuple(gated)


class BodyTooLarge(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


class RequestGate:
    def __init__(self, app: ASGIApp, routes: tuple[tuple[RouteContext, BodyRule], ...]) -> None:
        self.app = app
        self.routes = routes

    def _rule_for(self, scope: Scope) -> BodyRule | None:
        # A RouteContext matches as the router does (prefix included). The first full match (path and method) is
        # the route the router will pick: every route that can take a body is here, in the router's order.
        return next((rule for route, rule in self.routes if route.matches(scope)[0] is Match.FULL), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self._rule_for(scope) if scope["type"] == "http" else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != rule.media_type:
            message = f"Content-Type must be {rule.media_type}, not {media_type or 'missing'}"
            await error_response(415, message)(scope, receive, send)
            return
        too_large = rule.too_large_message
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > rule.max_bytes:
            await error_response(413, too_large)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            # Chunked bodies have no Content-Length: count as they arrive and stop at the limit.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > rule.max_bytes:
                    raise BodyTooLarge(too_large)
            return message

        await self.app(scope, counting_receive, send)
