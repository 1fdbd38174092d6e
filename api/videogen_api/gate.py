"""Checks made before a request body is read: its media type (415) and its size (413).

Starlette would otherwise spool an oversized upload to disk before the route could refuse it, and FastAPI would
answer a form sent to a JSON route with a validation error instead of 415.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from videogen_api.errors import error_response


@dataclass(frozen=True)
class BodyRule:
    media_type: str
    max_bytes: int
    #: The 413's message: what the limit is, in the terms the client chose (the file, not the multipart body).
    too_large_message: str


class BodyTooLarge(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


class RequestGate:
    def __init__(self, app: ASGIApp, rules: dict[tuple[str, str], BodyRule]) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self.rules.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
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
