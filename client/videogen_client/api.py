"""The REST API as the CLI uses it: requests, the server's error message, and following a job until it ends.

Following prefers the job's event stream (GET /api/v1/job/{id}/events), reconnecting with Last-Event-ID as the
stream asks; a server without the stream (404/405 on the route), or one whose stream keeps failing, is polled
instead. Either way the caller sees each new state of the job once, in order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from httpx_sse import SSEError, connect_sse

TERMINAL = frozenset({"completed", "failed", "cancelled"})
_POLL_SECONDS = 1.0
# Stream failures in a row before the CLI polls instead.
_STREAM_ATTEMPTS = 5


class ApiError(Exception):
    """An answer other than 2xx: ``message`` is the server's own ``{"error"}`` text where it sent one."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _error(response: httpx.Response) -> ApiError:
    try:
        message = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        message = response.text.strip() or response.reason_phrase
    return ApiError(response.status_code, message)


class Client:
    def __init__(self, url: str, api_key: str | None, *, timeout: float = 30.0) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a 2xx answer; raises ApiError otherwise."""
        response = self.http.request(method, path, **kwargs)
        if not response.is_success:
            raise _error(response)
        return response.json()

    def generate(self, mode: str, fields: dict[str, Any], upload: tuple[str, Path] | None = None) -> dict[str, Any]:
        """POST a generation: JSON for text-to-video, a multipart form with the file for the other modes."""
        path = f"/api/v1/generate/{mode}"
        if upload is None:
            result: dict[str, Any] = self.request("POST", path, json=fields)
            return result
        part, file = upload
        with file.open("rb") as handle:
            files: dict[str, tuple[str, BinaryIO]] = {part: (file.name, handle)}
            data = {name: str(value) for name, value in fields.items()}
            result = self.request("POST", path, data=data, files=files)
        return result

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/api/v1/job/{job_id}")
        return result

    def follow(self, job_id: str, on_change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Call ``on_change`` with each new view of the job until it is final; returns the final view."""
        last: dict[str, Any] | None = None
        for job in self._stream_then_poll(job_id):
            if job != last:
                on_change(job)
                last = job
            if job["status"] in TERMINAL:
                return job
        raise AssertionError("unreachable: the poll only ends on a final job")

    def _stream_then_poll(self, job_id: str) -> Iterator[dict[str, Any]]:
        last_event_id: str | None = None
        failures = 0
        while failures < _STREAM_ATTEMPTS:
            headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
            try:
                # No read timeout: the server's heartbeats arrive every few seconds, and a job may run for long.
                timeout = httpx.Timeout(self.http.timeout.connect or 10.0, read=None)
                url = f"/api/v1/job/{job_id}/events"
                with connect_sse(self.http, "GET", url, headers=headers, timeout=timeout) as source:
                    if source.response.status_code in (404, 405) and last_event_id is None:
                        if source.response.status_code == 404:
                            self.job(job_id)  # an unknown job: its 404 message, not a fallback
                        break  # a server without the event stream
                    if not source.response.is_success:
                        source.response.read()
                        raise _error(source.response)
                    for event in source.iter_sse():
                        failures = 0
                        last_event_id = event.id or last_event_id
                        if event.data:
                            job: dict[str, Any] = json.loads(event.data)
                            yield job
                            if job["status"] in TERMINAL:
                                return
            except ApiError as exc:
                if exc.status_code in (400, 401, 403, 404):
                    raise
                failures += 1
            except (httpx.TransportError, SSEError, ValueError):
                failures += 1
            time.sleep(min(_POLL_SECONDS * failures, 5.0))
        while True:
            job = self.job(job_id)
            yield job
            if job["status"] in TERMINAL:
                return
            time.sleep(_POLL_SECONDS)

    def download(self, url: str, target: Path) -> int:
        """Stream a file (an output URL or path) into ``target``; returns its size."""
        size = 0
        partial = target.with_name(target.name + ".part")
        with self.http.stream("GET", url) as response:
            if not response.is_success:
                response.read()
                raise _error(response)
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    size += len(chunk)
        # Renamed only when whole, so a failed download never leaves a truncated MP4 under the asked-for name.
        partial.replace(target)
        return size
