"""GET/HEAD /outputs/{filename}: generated MP4s from S3, with Range for seeking players, or a presigned redirect."""

from __future__ import annotations

import re
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from videogen_api.deps import ApiKeyRequired, SettingsDep, StorageDep
from videogen_api.errors import ApiError, not_found
from videogen_api.routes import error_responses
from videogen_api.storage import ObjectHead
from videogen_common.names import is_output_filename

router = APIRouter(tags=["outputs"], dependencies=[ApiKeyRequired])

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single-range header, None to send the whole file. Raises 416 when unsatisfiable."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    # Several ranges or another unit: RFC 9110 lets a server ignore Range and send the whole file.
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    first = int(match[1])
    last = min(int(match[2]), size - 1) if match[2] else size - 1
    if first >= size or last < first:
        raise _unsatisfiable(size)
    return first, last


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(416, f"Range not satisfiable: the file has {size} bytes", {"Content-Range": f"bytes */{size}"})


def _headers(head: ObjectHead) -> dict[str, str]:
    headers = {"Accept-Ranges": "bytes", "ETag": head.etag, "Content-Type": head.content_type or "video/mp4"}
    if head.last_modified is not None:
        headers["Last-Modified"] = format_datetime(head.last_modified.astimezone(UTC), usegmt=True)
    return headers


_VIDEO_BODY: dict[str, Any] = {"content": {"video/mp4": {}}}
_OUTPUT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _VIDEO_BODY,
    206: _VIDEO_BODY,
    **error_responses(401, 404, 416, 500),
}


@router.head("/outputs/{filename}", name="head_output", response_class=Response, responses=_OUTPUT_RESPONSES)
@router.get("/outputs/{filename}", name="get_output", response_class=StreamingResponse, responses=_OUTPUT_RESPONSES)
def get_output(filename: str, request: Request, storage: StorageDep, settings: SettingsDep) -> Response:
    """A generated video by its output file name (``text2video_20240115_103045_abc123.mp4``)."""
    # Only names of the output pattern reach S3: no '/', '..', NUL or other key can be asked for.
    if not is_output_filename(filename):
        raise not_found(f"No output named {filename!r}")
    key = f"{settings.outputs_prefix.strip('/')}/{filename}"
    head = storage.head(key)
    if head is None:
        raise not_found(f"No output named {filename!r}")
    if settings.outputs_presigned_redirect:
        return RedirectResponse(storage.presigned_get_url(key, settings.presigned_url_ttl_seconds), status_code=307)
    headers = _headers(head)
    if request.headers.get("if-none-match") == head.etag:
        return Response(status_code=304, headers=headers)
    byte_range = _byte_range(request.headers.get("range"), head.size)
    first, last = byte_range or (0, head.size - 1)
    headers["Content-Length"] = str(last - first + 1)
    status_code = 200
    if byte_range is not None:
        status_code = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{head.size}"
    if request.method == "HEAD" or head.size == 0:
        return Response(status_code=status_code, headers=headers)
    return StreamingResponse(storage.stream(key, first, last), status_code=status_code, headers=headers)
