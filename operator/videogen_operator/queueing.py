"""Admission under the cluster-wide cap: which waiting VideoJobs may create their Job now.

Order is priority first (higher first), then creation time, then namespace/name so that ties are stable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class QueueEntry:
    """A VideoJob that is ready to run (model Ready, not cancelled) but has no Job yet."""

    uid: str
    namespace: str
    name: str
    priority: int
    created: str  # RFC 3339 in UTC; compares in time order as text

    @property
    def order(self) -> tuple[int, str, str, str]:
        return (-self.priority, self.created, self.namespace, self.name)


def admitted(waiting: Iterable[QueueEntry], running: int, cap: int | None) -> list[QueueEntry]:
    """The waiting entries that fit under ``cap`` given ``running`` Jobs, in admission order."""
    ordered = sorted(waiting, key=lambda e: e.order)
    if cap is None:
        return ordered
    return ordered[: max(0, cap - running)]


def queue_position(waiting: Iterable[QueueEntry], uid: str) -> int | None:
    """1-based place of ``uid`` in the queue (for the Queued message), or None if it is not waiting."""
    for position, entry in enumerate(sorted(waiting, key=lambda e: e.order), start=1):
        if entry.uid == uid:
            return position
    return None
