"""Admission under the cluster-wide caps: which waiting VideoJobs may create their Job now.

Two caps hold at once: GPUs requested (the spec.gpus of running generation Jobs, summed; ``max_gpus``) and
generation Jobs running (``max_running_jobs``). Order is priority first (higher first), then creation time, then
namespace/name so that ties are stable. The head of the queue is never overtaken by a job that needs GPUs: when it
waits for GPUs, every later job that asks for any waits behind it, so a big job gets its GPUs as running jobs finish
instead of starving behind a stream of small ones. Only a job asking for no GPU (spec.gpus 0) may pass it, as it
takes nothing the head waits for (it still counts under the Job cap).
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
    gpus: int = 1

    @property
    def order(self) -> tuple[int, str, str, str]:
        return (-self.priority, self.created, self.namespace, self.name)


@dataclass(frozen=True)
class Usage:
    """What running generation Jobs hold: how many run, and the GPUs they requested."""

    jobs: int = 0
    gpus: int = 0


@dataclass(frozen=True)
class Caps:
    """The two caps; None for no cap."""

    max_jobs: int | None = None
    max_gpus: int | None = None


def admitted(waiting: Iterable[QueueEntry], running: Usage, caps: Caps) -> list[QueueEntry]:
    """The waiting entries that start now given what ``running`` holds, in admission order."""
    jobs, gpus = running.jobs, running.gpus
    gpu_blocked = False
    chosen = []
    for entry in sorted(waiting, key=lambda e: e.order):
        if caps.max_jobs is not None and jobs >= caps.max_jobs:
            break  # every entry needs a place under the Job cap alike
        if entry.gpus > 0 and (gpu_blocked or (caps.max_gpus is not None and gpus + entry.gpus > caps.max_gpus)):
            # Waits for GPUs, and so does every later entry that needs any (no overtaking the head).
            gpu_blocked = True
            continue
        chosen.append(entry)
        jobs, gpus = jobs + 1, gpus + entry.gpus
    return chosen


def never_fits(gpus: int, caps: Caps) -> str | None:
    """Why a job asking for ``gpus`` could never start under the GPU cap (None when it can)."""
    if caps.max_gpus is not None and gpus > caps.max_gpus:
        return (
            f"spec.gpus {gpus} is more than the installation's cap of {caps.max_gpus} GPUs in use at once "
            f"(setting max_gpus, chart value queue.maxGPUs): it could never start; ask for {caps.max_gpus} or fewer"
        )
    return None


def waiting_message(usage: Usage, caps: Caps, ahead: int) -> str:
    """The Queued status message: what the caps hold now, and how many wait ahead."""
    held = []
    if caps.max_jobs is not None:
        held.append(f"{usage.jobs} of {caps.max_jobs} generation Jobs run")
    if caps.max_gpus is not None:
        held.append(f"{usage.gpus} of {caps.max_gpus} GPUs are requested")
    return f"waiting for a free place: {', '.join(held)}; {ahead} ahead"


def queue_position(waiting: Iterable[QueueEntry], uid: str) -> int | None:
    """1-based place of ``uid`` in the queue (for the Queued message), or None if it is not waiting."""
    for position, entry in enumerate(sorted(waiting, key=lambda e: e.order), start=1):
        if entry.uid == uid:
            return position
    return None
