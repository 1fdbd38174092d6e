"""GET/HEAD /outputs/{filename}: generated MP4s from S3, with Range for seeking players, or a presigned redirect.

With API keys a key gets only the outputs of its own jobs (an admin key every output), also once the VideoJob is
deleted (the runner's metadata beside the file names its owner): another's file is a 404, as if it did not exist,
and answers say ``Cache-Control: private`` so that no shared cache hands them to another.
"""

from __future__ import annotations

import re
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from videogen_api.auth import Caller
from videogen_api.deps import ApiKeyRequired, CallerDep, ServicesDep
from videogen_api.errors import ApiError, not_found
from videogen_api.job_records import output_metadata_key, read_metadata
from videogen_api.routes import error_responses
from videogen_api.storage import ObjectHead
from videogen_common.names import is_output_filename

router = APIRouter(tags=["outputs"], dependencies=[ApiKeyRequired])

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
#: Positions longer than this are beyond any file (and int() refuses numbers of 4,300 digits and more).
_MAX_POSITION_DIGITS = 18


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_POSITION_DIGITS else 10**_MAX_POSITION_DIGITS


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single-range header, None to send the whole file. Raises 416 when unsatisfiable
    (RFC 9110 14.1.2: a first position at or past the end, or a zero-length suffix)."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    # Several ranges, another unit or no number at all: RFC 9110 lets a server ignore Range and send the whole file.
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        suffix = _position(match[2])
        if suffix == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    first = _position(match[1])
    last = min(_position(match[2]), size - 1) if match[2] else size - 1
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
    **error_responses(401, 404, 416, 500, 503),
}


def _owns_output(services: ServicesDep, caller: Caller, filename: str) -> bool:
    """Whether one of the caller's jobs wrote this file (admins: every file is theirs to read): a job the cache holds
    (open or recently finished), else the metadata the runner wrote beside the file, which names the VideoJob and
    its owner and outlives the VideoJob. Never a list of the caller's history."""
    if caller.admin:
        return True
    cached = services.job_cache.snapshot() or []
    if any(
        caller.may_see(videojob) and videojob.status.output is not None and videojob.status.output.file == filename
        for videojob in cached
    ):
        return True
    settings = services.settings
    metadata = read_metadata(services.storage, output_metadata_key(settings.outputs_prefix, filename))
    if metadata is None or metadata.videojob.namespace != settings.namespace:
        return False
    if metadata.videojob.owner is not None:
        return metadata.videojob.owner == caller.owner
    # Written before the metadata carried the owner: the VideoJob tells, while it exists.
    videojob = services.kube.get_videojob(metadata.videojob.name)
    return videojob is not None and caller.may_see(videojob)


@router.head("/outputs/{filename}", name="head_output", response_class=Response, responses=_OUTPUT_RESPONSES)
@router.get("/outputs/{filename}", name="get_output", response_class=StreamingResponse, responses=_OUTPUT_RESPONSES)
def get_output(filename: str, request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    """A generated video by its output file name (``text2video_20240115_103045_abc123.mp4``)."""
    settings, storage = services.settings, services.storage
    # Only names of the output pattern reach S3: no '/', '..', NUL or other key can be asked for.
    if not is_output_filename(filename) or not _owns_output(services, caller, filename):
        raise not_found(f"No output named {filename!r}")
    key = f"{settings.outputs_prefix.strip('/')}/{filename}"
    head = storage.head(key)
    if head is None:
        raise not_found(f"No output named {filename!r}")
    private = {"Cache-Control": "private"} if services.api_keys.enabled else {}
    if settings.outputs_presigned_redirect:
        # Signed for the method asked (a HEAD-signed URL answers only HEAD), at the endpoint clients reach.
        url = storage.presigned_url(
            key, settings.presigned_url_ttl_seconds, "HEAD" if request.method == "HEAD" else "GET"
        )
        return RedirectResponse(url, status_code=307, headers=private)
    headers = _headers(head) | private
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
