"""GET /api/v1/job/{job_id}/events: a job's changes as Server-Sent Events, until it ends.

Each event is ``id: <resourceVersion>``, ``event: status|progress|completed|failed|cancelled`` and ``data:`` the job
exactly as GET /api/v1/job/{id} shows it. The first event is the job as it is now; a client that reconnects with
``Last-Event-ID`` gets the events after that one instead (none lost, none twice: job_events.py). The stream ends
after the terminal event, or when the VideoJob is deleted. Comment lines every ``events_heartbeat_seconds`` keep
proxies from closing a quiet stream.

Events come from the watch cache through the hub; the apiserver is asked only when the cache does not have the
job yet (one just created), as GET job does.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from videogen_api.deps import ApiKeyRequired, CallerDep, ServicesDep
from videogen_api.errors import ApiError, bad_request
from videogen_api.job_events import JobEvent, JobEventHub, event_id, event_kind
from videogen_api.routes import error_responses
from videogen_api.routes.jobs import _cached_videojob, _output_url
from videogen_api.videojobs import videojob_to_job
from videogen_common.names import job_id_to_videojob_name
from videogen_common.resources.objects import VideoJob

router = APIRouter(prefix="/api/v1", tags=["jobs"], dependencies=[ApiKeyRequired])

# What EventSource waits before it reconnects a dropped stream.
_RETRY_MILLISECONDS = 2000


class StreamLimits:
    """Open streams, in all and per client. Only touched on the event loop, so no lock."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total, self.per_client = total, per_client
        self._open: dict[str, int] = {}

    def acquire(self, client: str) -> Callable[[], None]:
        """Hold a stream slot for ``client``; the returned release may be called more than once."""
        if sum(self._open.values()) >= self.total:
            raise ApiError(429, f"Too many event streams open on this server ({self.total}); retry later")
        if self._open.get(client, 0) >= self.per_client:
            raise ApiError(429, f"Too many event streams open for this client ({self.per_client}); close one first")
        self._open[client] = self._open.get(client, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._open[client] -= 1
                if not self._open[client]:
                    del self._open[client]

        return release


def _client(request: Request) -> str:
    """The client a per-client limit counts: its API key (hashed; never kept), else its address."""
    presented = request.headers.get("x-api-key") or request.headers.get("authorization")
    if presented:
        return "key:" + hashlib.sha256(presented.encode()).hexdigest()[:16]
    return "addr:" + (request.client.host if request.client else "?")


def _last_event_id(header: str | None) -> int | None:
    if header is None or not header.strip():
        return None
    try:
        return int(header)
    except ValueError:
        raise bad_request("Last-Event-ID must be the id of an event this stream sent") from None


def _first_events(history: list[JobEvent], current: VideoJob, after: int | None) -> list[JobEvent]:
    """What to send before the live events: the missed ones after ``after``, or the job as it is now.
    ``current`` may be newer than the history (read from the apiserver) or older (a cache a moment behind)."""
    current_id = event_id(current)
    newest = history[-1].id if history else None
    if after is None:
        latest = (
            history[-1].videojob if newest is not None and (current_id is None or newest >= current_id) else current
        )
        kind = event_kind(latest, None) or "status"
        return [JobEvent(event_id(latest) or 0, kind, latest)]
    missed = [event for event in history if event.id > after]
    if current_id is not None and current_id > max([after, *(event.id for event in missed)]):
        missed.append(
            JobEvent(current_id, event_kind(current, missed[-1].videojob if missed else None) or "status", current)
        )
    return missed


def _format(event: JobEvent, output_url: Callable[[str], str]) -> str:
    data = videojob_to_job(event.videojob, output_url).model_dump_json(by_alias=True)
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"


@router.get(
    "/job/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(400, 401, 404, 429, 500)},
)
async def job_events(
    job_id: str,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="Resume after this event (EventSource sends it).")
    ] = None,
) -> StreamingResponse:
    """The job's state changes and progress steps as Server-Sent Events, ending after the terminal one."""
    after = _last_event_id(last_event_id)
    hub: JobEventHub = request.app.state.job_events
    limits: StreamLimits = request.app.state.event_stream_limits
    current = await _cached_videojob(services, job_id, caller)
    release = limits.acquire(_client(request))
    name = job_id_to_videojob_name(job_id)
    # Subscribed before the history is read: an event that lands in between is in one or the other (or both,
    # and the id check drops the copy), never in neither.
    queue = hub.subscribe(name)
    first = _first_events(hub.history(name), current, after)
    output_url = _output_url(request)
    heartbeat = services.settings.events_heartbeat_seconds

    def close() -> None:
        hub.unsubscribe(name, queue)
        release()

    async def stream() -> AsyncIterator[str]:
        try:
            yield f"retry: {_RETRY_MILLISECONDS}\n\n"
            last = after if after is not None else -1
            for event in first:
                last = event.id
                yield _format(event, output_url)
                if event.terminal:
                    return
            while True:
                try:
                    live = await asyncio.wait_for(queue.get(), heartbeat)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if live is None:
                    return  # the VideoJob was deleted: a reconnect gets 404
                if live.id <= last:
                    continue
                last = live.id
                yield _format(live, output_url)
                if live.terminal:
                    return
        finally:
            close()

    # The background task runs even when the stream never started (the client left first).
    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(close),
    )
