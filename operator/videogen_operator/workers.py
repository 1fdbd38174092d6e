"""One asyncio task per open VideoJob or VideoModel: reconcile, then sleep until woken or the poll interval ends.

Watch events only wake a worker; the worker always re-reads the current state (level-based), so a lost or
repeated event changes nothing. The first reconcile runs at once (a new VideoJob's Job is created without delay);
later wake-ups wait ``settle_seconds`` so that a burst of events makes one reconcile. A worker ends when its
object reaches a final state or is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: A reconcile: None when the object is final or gone (the worker ends), else seconds until the next look.
Reconcile = Callable[[str], Awaitable[float | None]]


@dataclass
class _Worker:
    task: asyncio.Task[None]
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Workers:
    def __init__(
        self, kind: str, reconcile: Reconcile, on_error: Callable[[str], None], settle_seconds: float = 0.0
    ) -> None:
        self.kind = kind
        self._reconcile = reconcile
        self._on_error = on_error
        self._settle = settle_seconds
        self._workers: dict[str, _Worker] = {}

    def ensure(self, uid: str) -> None:
        """Start a worker for ``uid`` if none runs; wake it if one does."""
        worker = self._workers.get(uid)
        if worker is not None and not worker.task.done():
            worker.wake.set()
            return
        wake = asyncio.Event()
        task = asyncio.create_task(self._run(uid, wake), name=f"{self.kind}/{uid}")
        self._workers[uid] = _Worker(task, wake)

    def running(self, uid: str) -> bool:
        worker = self._workers.get(uid)
        return worker is not None and not worker.task.done()

    def wake(self, uid: str) -> None:
        worker = self._workers.get(uid)
        if worker is not None:
            worker.wake.set()

    def wake_all(self) -> None:
        for worker in self._workers.values():
            worker.wake.set()

    def stop(self, uid: str) -> None:
        worker = self._workers.pop(uid, None)
        if worker is not None:
            worker.task.cancel()

    async def stop_all(self) -> None:
        tasks = [w.task for w in self._workers.values()]
        self._workers.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, uid: str, wake: asyncio.Event) -> None:
        log.info("%s %s: worker started", self.kind, uid)
        backoff = 1.0
        while True:
            wake.clear()
            try:
                delay = await self._reconcile(uid)
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile of %s %s failed; retrying in %.0fs", self.kind, uid, backoff)
                self._on_error(self.kind)
                delay, backoff = backoff, min(backoff * 2, 30.0)
            if delay is None:
                if self._workers.get(uid) is not None and self._workers[uid].wake is wake:
                    del self._workers[uid]
                return
            try:
                # asyncio.timeout rather than wait_for: no extra task per wait (hundreds of workers wait at once).
                async with asyncio.timeout(delay):
                    await wake.wait()
            except TimeoutError:
                continue
            if self._settle:
                # One change (a Job created, its pod scheduled, the Job's status) comes as several watch events within
                # moments: one reconcile after they settle writes one status instead of one per event.
                await asyncio.sleep(self._settle)
