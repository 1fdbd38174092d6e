"""A watch-fed cache of the VideoJobs in the API's namespace (a small informer), so job reads skip the apiserver.

It holds every open VideoJob and a bounded window of finished ones (the newest ``finished_window`` by creation
time), so its memory grows with active work, never with history: a read of an older finished job falls back to the
apiserver (a GET by name), and once the VideoJob is gone to the job record in S3 (routes/jobs.py).

One background thread lists the VideoJobs, then watches from the list's resourceVersion and applies every event
in the order the apiserver sends it. The cache only ever holds what the list and the watch delivered, so it is
the apiserver's state as of some recent resourceVersion: it lags (usually by milliseconds) but never reorders.

- A watch that ends (its server-side timeout, or the client read timeout when a connection died silently)
  resumes from the last resourceVersion seen, bookmarks included; nothing is missed and nothing is listed again.
- 410 Gone (the resourceVersion is older than the apiserver keeps) and any other error relist: the list
  replaces the whole cache, so objects deleted while nobody watched disappear too.
- ``synced`` turns true once a list is in and its watch runs, and false on any error other than a dropped
  connection (a refused watch, a failed relist); meanwhile readers get ``None`` and ask the apiserver, and
  readiness reports "cache not synced".

What it does not give, and how the API covers it (routes/jobs.py):

- Read-your-writes. A job this replica just created or cancelled may not have reached the cache yet. The API
  falls back to a direct GET on a miss for a well-formed id (so a GET right after a submit never 404s, on any
  replica), and ``note_write`` records the resourceVersion of this replica's own writes: until the watch has
  delivered that version, ``get`` answers ``None`` for the object and the caller reads it from the apiserver.
- Counts of other replicas' creates the watch has not delivered yet. The concurrency limit (admission.py) counts
  the active jobs here, plus this replica's own creates (``note_create``) until the watch delivers them, so on one
  replica the count is exact however fast submits come; another replica's create counts a few milliseconds
  late, as before (``limit + N - 1`` across N replicas). Unsynced, admission asks the apiserver instead.
- Every finished job. A relist reads every VideoJob, a page at a time, and keeps the open ones and the newest
  finished ones: its memory stays bounded, its time grows with the VideoJobs the TTL has not removed yet. It
  happens at start and after a 410, not per request.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from videogen_api.kube import WatchEvent, parse_items, parse_watch_event
from videogen_common.resources.meta import GROUP, LABEL_FINISHED, LABEL_OWNER, VERSION
from videogen_common.resources.objects import VIDEOJOBS, VideoJob
from videogen_common.resources.videojob_status import State

log = logging.getLogger(__name__)

_LIST_PAGE = 500
_LIST_TIMEOUT_SECONDS = 30
_CONNECT_TIMEOUT_SECONDS = 10
# Beyond the server-side watch timeout: a connection that carries nothing this long has died on the way.
_READ_GRACE_SECONDS = 30
_MAX_BACKOFF_SECONDS = 30.0
# Pending own writes are forgotten once the watch delivers them; the cap only bounds a watch that never does.
_MAX_PENDING_WRITES = 10_000


def _version(resource_version: str | None) -> int | None:
    """resourceVersions are opaque strings to clients; the apiserver's (etcd's) are integers, which lets us
    tell whether the cache has seen a write. ``None`` when one is not, and callers then assume it has not."""
    try:
        return int(resource_version) if resource_version is not None else None
    except ValueError:
        return None


#: Where a finished VideoJob stands in the window: (creationTimestamp, name), the order GET /api/v1/jobs shows.
_Order = tuple[str, str]


def _order(name: str, creation_timestamp: str | None) -> _Order:
    return (creation_timestamp or "", name)


def _is_finished(videojob: VideoJob) -> bool:
    """Terminal by its status, or labelled finished by the operator (the label is what the apiserver selects on)."""
    return videojob.status.current_state.terminal or videojob.metadata.labels.get(LABEL_FINISHED) == "true"


def _raw_finished(item: dict[str, Any]) -> bool:
    """Whether a listed VideoJob (its JSON, before parsing) is finished: a relist skips parsing the old ones."""
    if ((item.get("metadata") or {}).get("labels") or {}).get(LABEL_FINISHED) == "true":
        return True
    state = (item.get("status") or {}).get("state")
    try:
        return state is not None and State(state).terminal
    except ValueError:
        return False


#: Told of every change the cache applies: the VideoJob's name and its new object, ``None`` once it is gone.
ChangeListener = Callable[[str, VideoJob | None], None]


class _Gone(Exception):
    """The watch's resourceVersion is too old (410): only a new list can continue."""


@dataclass
class CacheStats:
    """Counters for tests and /metrics: how often the cache listed, (re)started a watch and applied events."""

    lists: int = 0
    watches: int = 0
    events: int = 0
    gone: int = 0
    errors: int = 0


class VideoJobCache:
    """VideoJobs of one namespace by name. Objects handed out are shared: callers must not modify them."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        *,
        watch_timeout_seconds: int = 300,
        finished_window: int = 500,
    ) -> None:
        self._objects = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self._watch_timeout = watch_timeout_seconds
        self.finished_window = finished_window
        self._lock = threading.Lock()
        self._items: dict[str, VideoJob] = {}
        # The finished VideoJobs in _items by name, and a min-heap of their places to evict the oldest from. The
        # heap may hold places of names no longer kept (deleted since); they are skipped, and dropped on a rebuild.
        self._finished: dict[str, _Order] = {}
        self._finished_heap: list[_Order] = []
        # VideoJobs this replica created that the watch has not delivered yet, for the concurrency count.
        self._unseen_creates: dict[str, VideoJob] = {}
        self._resource_version: str | None = None
        self._synced = threading.Event()
        # name -> resourceVersion of this replica's latest write to it that the watch has not delivered yet.
        self._pending_writes: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None
        self._resume_from: str | None = None
        self._listeners: list[ChangeListener] = []
        self.stats = CacheStats()

    # --- reading -------------------------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def get(self, name: str) -> VideoJob | None:
        """The cached VideoJob, or ``None`` when the caller must ask the apiserver: not synced, not (yet) in the
        cache, or older than a write this replica made to it."""
        if not self._synced.is_set():
            return None
        with self._lock:
            videojob = self._items.get(name)
            pending = self._pending_writes.get(name)
        if videojob is None:
            return None
        if pending is not None:
            seen = _version(videojob.metadata.resource_version)
            if seen is None or seen < pending:
                return None
        return videojob

    def snapshot(self) -> list[VideoJob] | None:
        """Every cached VideoJob, or ``None`` while not synced (the caller lists from the apiserver)."""
        if not self._synced.is_set():
            return None
        with self._lock:
            return list(self._items.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def finished_count(self) -> int:
        """Finished VideoJobs held (at most ``finished_window``)."""
        with self._lock:
            return len(self._finished)

    def count_active(self, owner: str | None) -> tuple[int, int] | None:
        """(active VideoJobs, those of ``owner``): open ones the cache holds plus this replica's creates the watch
        has not delivered yet; ``None`` while not synced (the caller asks the apiserver). O(open + window)."""
        if not self._synced.is_set():
            return None
        total = mine = 0
        with self._lock:
            unseen = [vj for name, vj in self._unseen_creates.items() if name not in self._items]
            for name, videojob in [*self._items.items(), *((vj.name, vj) for vj in unseen)]:
                if name in self._finished or _is_finished(videojob):
                    continue
                total += 1
                mine += owner is not None and videojob.metadata.labels.get(LABEL_OWNER) == owner
        return total, mine

    def note_create(self, videojob: VideoJob) -> None:
        """Record a VideoJob this replica just created (the apiserver's answer): it counts as active at once, and
        ``get`` reads it from the apiserver until the watch delivers it."""
        with self._lock:
            self._unseen_creates[videojob.name] = videojob
            while len(self._unseen_creates) > _MAX_PENDING_WRITES:
                del self._unseen_creates[next(iter(self._unseen_creates))]
        self.note_write(videojob)

    def note_write(self, videojob: VideoJob) -> None:
        """Record a write this replica made (the object the apiserver returned), so ``get`` does not answer with
        an older version until the watch has delivered this one."""
        version = _version(videojob.metadata.resource_version)
        if version is None:
            return
        name = videojob.name
        with self._lock:
            cached = self._items.get(name)
            seen = _version(cached.metadata.resource_version) if cached is not None else None
            if seen is not None and seen >= version:
                return
            self._pending_writes.pop(name, None)
            self._pending_writes[name] = version
            while len(self._pending_writes) > _MAX_PENDING_WRITES:
                del self._pending_writes[next(iter(self._pending_writes))]

    def add_listener(self, listener: ChangeListener) -> None:
        """Call ``listener`` for every change the cache applies, in the watch's order, on the watch thread (so it
        must be quick and must not block: the event stream hands the change to its asyncio loop). A relist reports
        what changed between the old contents and the new list, deletions included."""
        self._listeners.append(listener)

    def _notify(self, changes: list[tuple[str, VideoJob | None]]) -> None:
        for name, videojob in changes:
            for listener in self._listeners:
                try:
                    listener(name, videojob)
                except Exception:
                    # A listener's bug must not stop the cache every route reads from.
                    log.exception("VideoJob cache listener failed on %s", name)

    # --- lifecycle -----------------------------------------------------------------------------------------------

    def start(self, *, from_resource_version: str | None = None) -> None:
        """Start the list-and-watch thread. A cache that has synced before resumes watching where it stopped;
        ``from_resource_version`` resumes from that version instead (tests pass an expired one to see the
        410 relist)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._resume_from = from_resource_version
        self._thread = threading.Thread(target=self._run, name=f"videojob-cache-{self.namespace}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Stop watching; the contents stay as they were (shutdown, or a frozen cache in tests)."""
        self._stop.set()
        self.restart_watch()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def restart_watch(self) -> None:
        """Close the current watch; the thread reconnects from the last resourceVersion it saw."""
        response = self._response
        if response is not None:
            # shutdown() unblocks a read in progress on the watch thread, which close() alone does not. It fails
            # when the watch ended on its own a moment ago, which is what we wanted anyway.
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                response.shutdown()

    # --- the list-and-watch loop ---------------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.5
        must_list = not self._synced.is_set()
        while not self._stop.is_set():
            try:
                if must_list:
                    self._relist()
                    must_list = False
                self._watch()
                backoff = 0.5
            except _Gone:
                self.stats.gone += 1
                log.info("VideoJob watch: resourceVersion expired (410); relisting")
                must_list = True
            except (Urllib3Error, OSError) as exc:
                # The connection broke (or was closed by restart_watch): resume from the last version seen.
                if not self._stop.is_set():
                    log.info("VideoJob watch connection ended: %s; resuming", exc)
            except Exception as exc:
                self.stats.errors += 1
                self._synced.clear()
                log.warning("VideoJob cache: %s; relisting in %.1f s", exc, backoff)
                must_list = True
                if self._stop.wait(backoff):
                    break
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)

    def _relist(self) -> None:
        try:
            items, resource_version = self._list_all()
        except Exception:
            # Serving a cache we can no longer refresh would hide that it is stale: readers fall back instead.
            self._synced.clear()
            raise
        listed = _version(resource_version)
        fresh = {item.name: item for item in items}
        with self._lock:
            old = self._items
            self._items = fresh
            self._finished = {
                item.name: _order(item.name, item.metadata.creation_timestamp) for item in items if _is_finished(item)
            }
            self._finished_heap = list(self._finished.values())
            heapq.heapify(self._finished_heap)
            self._resource_version = resource_version
            self._pending_writes = {
                name: version for name, version in self._pending_writes.items() if listed is None or version > listed
            }
            self._unseen_creates = {
                name: videojob
                for name, videojob in self._unseen_creates.items()
                if name not in fresh
                and (listed is None or (_version(videojob.metadata.resource_version) or 0) > listed)
            }
        self.stats.lists += 1
        changes: list[tuple[str, VideoJob | None]] = [(name, None) for name in old if name not in fresh]
        changes += [
            (name, item)
            for name, item in fresh.items()
            if name not in old or old[name].metadata.resource_version != item.metadata.resource_version
        ]
        self._notify(changes)

    def _list_all(self) -> tuple[list[VideoJob], str]:
        """Every open VideoJob and the newest ``finished_window`` finished ones, a page at a time; all pages are one
        snapshot at the first page's resourceVersion. A finished one older than all those kept is not parsed."""
        open_items: list[VideoJob] = []
        # Min-heap of the newest finished ones so far: (place, index, raw object); the index breaks no ties (places
        # are unique by name) but keeps the dicts out of comparisons.
        newest: list[tuple[_Order, int, dict[str, Any]]] = []
        resource_version = ""
        continue_token = ""
        index = 0
        while True:
            body: Any = self._objects.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, VIDEOJOBS,
                limit=_LIST_PAGE, _continue=continue_token, _request_timeout=_LIST_TIMEOUT_SECONDS,
            )  # fmt: skip
            for item in body.get("items") or []:
                if not _raw_finished(item):
                    open_items += parse_items(VideoJob, [item])
                    continue
                metadata = item.get("metadata") or {}
                entry = (_order(str(metadata.get("name")), metadata.get("creationTimestamp")), index, item)
                index += 1
                if len(newest) < self.finished_window:
                    heapq.heappush(newest, entry)
                elif newest and entry[0] > newest[0][0]:
                    heapq.heapreplace(newest, entry)
            metadata = body["metadata"]
            resource_version = resource_version or metadata["resourceVersion"]
            continue_token = metadata.get("continue") or ""
            if not continue_token:
                return open_items + parse_items(VideoJob, [item for _, _, item in newest]), resource_version

    def _watch(self) -> None:
        with self._lock:
            if self._resume_from is not None:
                self._resource_version, self._resume_from = self._resume_from, None
            resource_version = self._resource_version
        # Spread reconnects of many replicas over time, as client-go does.
        timeout = int(self._watch_timeout * random.uniform(1.0, 1.5))  # noqa: S311 - jitter, not security
        try:
            response: Any = self._objects.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, VIDEOJOBS,
                watch=True, resource_version=resource_version, allow_watch_bookmarks=True, timeout_seconds=timeout,
                _preload_content=False, _request_timeout=(_CONNECT_TIMEOUT_SECONDS, timeout + _READ_GRACE_SECONDS),
            )  # fmt: skip
        except ApiException as exc:
            if exc.status == 410:
                raise _Gone from exc
            raise
        self._response = response
        self.stats.watches += 1
        # Synced means a list plus a live watch continuing from it: a cache whose watch is refused (RBAC without
        # "watch", say) would otherwise pass for fresh while it silently stops changing.
        self._synced.set()
        try:
            for line in _lines(response):
                if self._stop.is_set():
                    return
                self._apply(parse_watch_event(line))
        finally:
            self._response = None
            # Closed, not reused: a watch connection may be half-read or shut down.
            response.close()
            response.release_conn()

    def _apply(self, event: WatchEvent) -> None:
        if event.type == "ERROR":
            if event.error_code == 410:
                raise _Gone(event.error_message or "resourceVersion too old")
            raise RuntimeError(f"watch error: {event.error_message}")
        changed: VideoJob | None = None
        with self._lock:
            if event.name is not None:
                if event.type == "DELETED" or event.videojob is None:
                    # An object the types cannot read (kube.py logged it) is left out, as the list leaves it out.
                    self._items.pop(event.name, None)
                    self._finished.pop(event.name, None)
                else:
                    self._items[event.name] = changed = event.videojob
                    if _is_finished(changed):
                        self._keep_finished(changed)
                self._unseen_creates.pop(event.name, None)
                pending = self._pending_writes.get(event.name)
                version = _version(event.resource_version)
                if pending is not None and (event.type == "DELETED" or (version is not None and version >= pending)):
                    del self._pending_writes[event.name]
                self.stats.events += 1
            if event.resource_version:
                # BOOKMARK events carry only this: the position to resume from, so a quiet namespace does not
                # leave the cache holding a version the apiserver has long forgotten.
                self._resource_version = event.resource_version
        if event.name is not None:
            self._notify([(event.name, changed)])

    def _keep_finished(self, videojob: VideoJob) -> None:
        """Add a finished VideoJob (already in _items) to the window, evicting the oldest beyond its size. Called
        with the lock held. An evicted job is not a change: listeners are not told, and reads of it go to the
        apiserver."""
        if videojob.name not in self._finished:
            place = _order(videojob.name, videojob.metadata.creation_timestamp)
            self._finished[videojob.name] = place
            heapq.heappush(self._finished_heap, place)
        while len(self._finished) > self.finished_window and self._finished_heap:
            oldest = heapq.heappop(self._finished_heap)
            if self._finished.get(oldest[1]) == oldest:
                del self._finished[oldest[1]]
                self._items.pop(oldest[1], None)
        if len(self._finished_heap) > 2 * len(self._finished) + 64:
            self._finished_heap = list(self._finished.values())
            heapq.heapify(self._finished_heap)


def _lines(response: Any) -> Iterator[str]:
    """The watch's newline-delimited JSON events, as the bytes arrive."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield line.decode()
