"""Every error as {"error": "<what to fix>"}: 400 for client mistakes (not FastAPI's 422), 500 without internals."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as S3ConnectionError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

TOO_MANY_REQUESTS = "Too many concurrent requests. Please try again later."
MODEL_NOT_LOADED = "Model not loaded"
S3_UNAVAILABLE = "Storage (S3) is unreachable, so this request cannot be served now; retry later"
#: Seconds a client is told to wait after S3_UNAVAILABLE.
S3_RETRY_AFTER_SECONDS = 30


class ApiError(Exception):
    """An error the client gets as-is: status code, a message that says what to fix, optional headers."""

    def __init__(self, status_code: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str) -> ApiError:
    return ApiError(400, f"Invalid request: {message}")


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def error_response(status_code: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code, headers=dict(headers or {}))


def _location(loc: Sequence[Any]) -> str:
    # FastAPI prefixes where the value came from ("body", "query", "header", "form"); the field name is what a
    # person can act on. Nested keys read as a.b.
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header", "form")]
    return ".".join(parts)


def describe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """'num_frames: Input should be less than or equal to 128; prompt: Field required', one entry per field."""
    described = []
    for error in errors:
        where = _location(error.get("loc", ()))
        kind = error.get("type")
        if kind == "json_invalid":
            described.append("the body is not valid JSON")
        elif kind == "extra_forbidden":
            described.append(f"{where}: unknown field; remove it (see /docs for the accepted fields)")
        elif kind == "missing":
            described.append(f"{where} is required")
        elif kind == "model_attributes_type" and not where:
            described.append("the body must be a JSON object")
        else:
            message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
            described.append(f"{where}: {message}" if where else message)
    return "; ".join(described)


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, f"Invalid request: {describe_validation_errors(exc.errors())}")


async def _on_api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.message, exc.headers)


_HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed", 413: "Upload too large"}


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else _HTTP_MESSAGES.get(exc.status_code, "Request failed")
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"Not found: {request.url.path}"
    return error_response(exc.status_code, message, exc.headers)


def is_s3_outage(exc: BaseException) -> bool:
    """S3 not answering (connection refused, timed out, cut off) or answering 5xx: the store's state, neither the
    client's mistake nor a fault of our configuration (credentials, bucket), which stay errors."""
    if isinstance(exc, S3ConnectionError | HTTPClientError):
        return True
    return (
        isinstance(exc, ClientError) and int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500
    )


async def _on_s3_error(request: Request, exc: Exception) -> JSONResponse:
    if not is_s3_outage(exc):
        return await _on_unexpected_error(request, exc)
    # A 503 the client may retry (an upload, a video download), while job reads, which never touch S3, go on.
    log.warning("S3 unavailable on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return error_response(503, S3_UNAVAILABLE, {"Retry-After": str(S3_RETRY_AFTER_SECONDS)})


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the log, never to the client.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(BotoCoreError, _on_s3_error)
    app.add_exception_handler(ClientError, _on_s3_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
