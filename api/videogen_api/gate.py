"""Checks made before a request body is read: who sends it (401), its media type (415), its size (413), room for
it on the temporary volume (429), and then, while it arrives, its size again and its deadline (408).

Starlette would otherwise spool an upload to disk (up to the 200 MiB video limit) before the route's own key check
could refuse it, and FastAPI would answer a form sent to a JSON route with a validation error instead of 415. A
refusal here reads nothing of the body and closes the connection, so it costs the server the request's headers.
Every route that takes a body requires an API key (when keys are configured).

Each route that takes a body declares its rule where it is declared, with ``@accepts_body(...)`` under the route
decorator. The rule names a limit (``image_upload``: the image limit plus room for the form fields); the app's
settings turn it into bytes when ``gated_routes`` reads the routes, once, at app creation. A route that can take
a body and declares no rule stops the app from being created, so a new one cannot go without a limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from videogen_api.auth import ApiKeys
from videogen_api.config import ApiSettings, ConfigurationError
from videogen_api.errors import ApiError, error_response

# Room for the form fields beside the file (two prompts of at most 4000 characters and a few numbers).
_FORM_FIELDS_BYTES = 64 * 1024
_JSON_BODY_BYTES = 64 * 1024
_MULTIPART = "multipart/form-data"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_DECLARED_RULE = "videogen_body_rule"
# A refusal before the body is read: the client may still be sending it, and a kept-alive connection would have
# to read (and throw away) the rest before the next request.
_CLOSE = {"Connection": "close"}


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
    return BodyRule(_MULTIPART, limit + _FORM_FIELDS_BYTES, f"{field} must be at most {limit} bytes")


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
        super().__init__(status_code=413, detail=message, headers=_CLOSE)


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        message = f"the request body did not arrive within {seconds:g} seconds"
        super().__init__(status_code=408, detail=message, headers=_CLOSE)


class UploadRoom:
    """Room on the temporary volume: each upload in progress holds its route's largest body until it is answered,
    so the uploads spooled at once never exceed ``budget`` bytes. Only touched on the event loop, so no lock."""

    def __init__(self, budget: int, retry_after_seconds: int) -> None:
        self.budget = budget
        self.held = 0
        self.retry_after_seconds = retry_after_seconds

    def take(self, size: int) -> bool:
        if self.held + size > self.budget:
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        self.held -= size


def upload_room_for(routes: tuple[tuple[RouteContext, BodyRule], ...], settings: ApiSettings) -> UploadRoom:
    """The upload room of these settings; raises ConfigurationError when it cannot hold even one upload."""
    largest = max((rule.max_bytes for _, rule in routes if rule.media_type == _MULTIPART), default=0)
    if largest > settings.upload_temp_bytes:
        raise ConfigurationError(
            f"VIDEOGEN_API_UPLOAD_TEMP_BYTES={settings.upload_temp_bytes} cannot hold one upload of {largest} bytes "
            "(the largest file limit plus the form fields): raise it, or lower the file limits"
        )
    return UploadRoom(settings.upload_temp_bytes, settings.retry_after_seconds)


class RequestGate:
    def __init__(
        self,
        app: ASGIApp,
        routes: tuple[tuple[RouteContext, BodyRule], ...],
        api_keys: ApiKeys,
        upload_room: UploadRoom,
        body_timeout_seconds: float,
    ) -> None:
        self.app = app
        self.routes = routes
        self.api_keys = api_keys
        self.upload_room = upload_room
        self.body_timeout_seconds = body_timeout_seconds

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
        try:
            caller = self.api_keys.identify(headers)
        except ApiError as exc:
            await error_response(exc.status_code, exc.message, exc.headers | _CLOSE)(scope, receive, send)
            return
        # The routes read it (deps.require_api_key) rather than identifying the caller twice.
        scope.setdefault("state", {})["caller"] = caller
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != rule.media_type:
            message = f"Content-Type must be {rule.media_type}, not {media_type or 'missing'}"
            await error_response(415, message, _CLOSE)(scope, receive, send)
            return
        too_large = rule.too_large_message
        declared = headers.get("content-length")
        # Compared by length first: int() refuses numbers of 4,300 digits and more.
        if declared is not None and declared.isdigit() and (len(declared) > 18 or int(declared) > rule.max_bytes):
            await error_response(413, too_large, _CLOSE)(scope, receive, send)
            return
        room = rule.max_bytes if rule.media_type == _MULTIPART else 0
        if room and not self.upload_room.take(room):
            retry = {"Retry-After": str(self.upload_room.retry_after_seconds)}
            message = "Too many uploads in progress on this server; retry later"
            await error_response(429, message, retry | _CLOSE)(scope, receive, send)
            return
        try:
            await self.app(scope, self._guarded_receive(receive, rule), send)
        finally:
            if room:
                self.upload_room.give_back(room)

    def _guarded_receive(self, receive: Receive, rule: BodyRule) -> Receive:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_seconds
        received = 0
        body_done = False

        async def guarded_receive() -> Message:
            # Chunked bodies have no Content-Length: count as they arrive and stop at the limit. The deadline
            # holds for the body only: after it, receive() waits for the client to leave, as long as it takes.
            nonlocal received, body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise BodyTimeout(self.body_timeout_seconds) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > rule.max_bytes:
                    raise BodyTooLarge(rule.too_large_message)
                body_done = not message.get("more_body", False)
            return message

        return guarded_receive
