"""Job events for the live stream (routes/events.py): what changed in each VideoJob, as the watch cache saw it.

The hub listens to the VideoJob cache (cache.py), so a thousand clients following jobs cost no apiserver call
between them. Each change the watch delivers becomes at most one event: a new state (or reason) is ``status``, or
the terminal state's own name (``completed``, ``failed``, ``cancelled``); a new progress step is ``progress``; a
change that shows nothing new to a client (a condition's time, a label) is no event.

An event's id is the resourceVersion of the VideoJob version it shows: it grows with every write, and every API
replica's watch sees the same numbers, so a client that reconnects with ``Last-Event-ID`` (to this replica or
another) resumes after exactly the event it saw last. Each job keeps its recent events (all of them for a job that
runs, at most ``_MAX_EVENTS_PER_JOB``), for ``history_seconds`` after it ends, so a client that lost its
connection gets the steps it missed rather than only the latest.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from videogen_api.cache import VideoJobCache
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob_status import State

# Progress steps are at most spec.numInferenceSteps (100), state changes a handful per attempt: this holds a job's
# whole life, retries included, and bounds what a job whose status flaps can cost.
_MAX_EVENTS_PER_JOB = 512


def event_id(videojob: VideoJob) -> int | None:
    """The event id of this version of the VideoJob: its resourceVersion, an integer on every apiserver (etcd)."""
    try:
        return int(videojob.metadata.resource_version or "")
    except ValueError:
        return None


def _key(videojob: VideoJob) -> tuple[State, str | None, int]:
    """What a client sees change: the state, its reason and the progress step."""
    status = videojob.status
    return status.current_state, status.reason, status.progress.step if status.progress else 0


def event_kind(videojob: VideoJob, previous: VideoJob | None) -> str | None:
    """The event this version makes after ``previous`` (None: the first one seen), or None when it shows nothing
    new."""
    state = videojob.status.current_state
    if previous is not None and _key(previous) == _key(videojob):
        return None
    if state.terminal:
        return str(state)
    if previous is not None and _key(previous)[:2] == _key(videojob)[:2]:
        return "progress"
    return "status"


@dataclass(frozen=True)
class JobEvent:
    id: int
    kind: str
    videojob: VideoJob

    @property
    def terminal(self) -> bool:
        return self.videojob.status.current_state.terminal


@dataclass
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[JobEvent | None]


@dataclass
class _JobHistory:
    events: deque[JobEvent] = field(default_factory=lambda: deque(maxlen=_MAX_EVENTS_PER_JOB))
    subscribers: list[_Subscriber] = field(default_factory=list)


class JobEventHub:
    """Events per VideoJob name, recorded for every job in the cache and handed to the streams that follow it."""

    def __init__(self, cache: VideoJobCache, *, history_seconds: float) -> None:
        self._history_seconds = history_seconds
        # The cache calls on its watch thread; streams read on the event loop.
        self._lock = threading.Lock()
        self._jobs: dict[str, _JobHistory] = {}
        # Ended jobs in the order they ended, with the time: their history goes once it is old enough.
        self._ended: OrderedDict[str, float] = OrderedDict()
        self._closed = False
        cache.add_listener(self._on_change)

    def history(self, name: str) -> list[JobEvent]:
        with self._lock:
            job = self._jobs.get(name)
            return list(job.events) if job is not None else []

    def subscribe(self, name: str) -> asyncio.Queue[JobEvent | None]:
        """A queue that gets every later event of the job, and ``None`` when the VideoJob is deleted or the server
        stops (``close``). Call from the event loop; ``unsubscribe`` when done."""
        subscriber = _Subscriber(asyncio.get_running_loop(), asyncio.Queue())
        with self._lock:
            if self._closed:
                subscriber.queue.put_nowait(None)
            self._jobs.setdefault(name, _JobHistory()).subscribers.append(subscriber)
        return subscriber.queue

    def close(self) -> None:
        """End every stream, now and from now on: the server is stopping. A stream lasts until its job ends, so
        the shutdown's grace period would otherwise be spent on streams (and a rollout wait for it); their clients
        reconnect (EventSource does) to a replica that stays, with Last-Event-ID, and miss nothing."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                for subscriber in job.subscribers:
                    subscriber.loop.call_soon_threadsafe(subscriber.queue.put_nowait, None)

    def unsubscribe(self, name: str, queue: asyncio.Queue[JobEvent | None]) -> None:
        with self._lock:
            job = self._jobs.get(name)
            if job is not None:
                job.subscribers = [s for s in job.subscribers if s.queue is not queue]
                if not job.subscribers and not job.events:
                    # Subscribed to a job the cache had not delivered yet, and left before it did.
                    del self._jobs[name]

    def _on_change(self, name: str, videojob: VideoJob | None) -> None:
        now = time.monotonic()
        with self._lock:
            self._forget_old(now)
            job = self._jobs.get(name)
            if videojob is None:
                self._ended.pop(name, None)
                gone = self._jobs.pop(name, None)
                for subscriber in gone.subscribers if gone else []:
                    subscriber.loop.call_soon_threadsafe(subscriber.queue.put_nowait, None)
                return
            if job is None:
                job = self._jobs[name] = _JobHistory()
            event = self._event(job, videojob)
            if event is None:
                return
            job.events.append(event)
            if event.terminal:
                self._ended[name] = now
                self._ended.move_to_end(name)
            else:
                # A retried or un-cancelled job runs again: its history stays while it does.
                self._ended.pop(name, None)
            for subscriber in job.subscribers:
                subscriber.loop.call_soon_threadsafe(subscriber.queue.put_nowait, event)

    @staticmethod
    def _event(job: _JobHistory, videojob: VideoJob) -> JobEvent | None:
        new_id = event_id(videojob)
        last = job.events[-1] if job.events else None
        if new_id is None or (last is not None and new_id <= last.id):
            # An older version than the last event (a relist can hand one back after a watch delivered a newer one).
            return None
        kind = event_kind(videojob, last.videojob if last else None)
        return JobEvent(new_id, kind, videojob) if kind is not None else None

    def _forget_old(self, now: float) -> None:
        while self._ended:
            name, ended_at = next(iter(self._ended.items()))
            if now - ended_at < self._history_seconds:
                return
            del self._ended[name]
            job = self._jobs.get(name)
            if job is not None and not job.subscribers:
                # Its last event stays: a client that asks about the ended job still gets the final state from it.
                job.events = deque(list(job.events)[-1:], maxlen=_MAX_EVENTS_PER_JOB)
