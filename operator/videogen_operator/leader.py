"""One acting operator at a time: leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it.

Every operator process watches and fills its indexes; only the one holding the Lease reconciles (``Controller.lead``).
The others wait warm, so a takeover needs no relisting.

- A candidate reads the Lease every ``retry_seconds`` and takes it when it has no holder (released by a graceful
  shutdown), when it names this candidate already (the same pod's container restarted: the old process is gone), or
  when it has not changed for its ``leaseDurationSeconds`` as measured by this candidate's own clock, from when it
  first saw that version (no trust in other machines' clocks). Each write is conditional on the version read, so of
  two candidates exactly one wins.
- The holder renews every ``retry_seconds``. When it has not renewed for ``renew_deadline_seconds`` (shorter than the
  duration), it exits at once, before any candidate can see the Lease as expired: two operators never act together.
  The restarted container then waits like any candidate.
- On a graceful shutdown the holder, once its workers stopped, releases the Lease (no holder) so that a waiting
  candidate takes over at its next look instead of after the duration.

The decisions are the pure functions below; :class:`LeaderElection` only reads, writes and waits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from videogen_operator.kube import Kube
from videogen_operator.settings import OperatorSettings

log = logging.getLogger(__name__)

Doc = dict[str, Any]

#: Where a pod finds its own namespace (the service account's mount).
POD_NAMESPACE_FILE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
#: The exit code of a holder that could not renew in time.
LOST_EXIT_CODE: Final = 75


@dataclass(frozen=True)
class Observed:
    """One version of the Lease and when (monotonic seconds) this process first saw it."""

    version: str
    since: float


def holder(lease: Doc | None) -> str | None:
    if lease is None:
        return None
    value = lease.get("spec", {}).get("holderIdentity")
    return str(value) if value else None


def observe(previous: Observed | None, lease: Doc, now: float) -> Observed:
    """``previous`` while the Lease is the version it saw (its clock keeps running), else the new version from now."""
    version = str(lease.get("metadata", {}).get("resourceVersion", ""))
    if previous is not None and previous.version == version:
        return previous
    return Observed(version, now)


def may_take(lease: Doc, identity: str, observed: Observed, now: float) -> bool:
    """Whether ``identity`` may write itself into ``lease`` now: free, its own already, or unchanged for its
    duration."""
    current = holder(lease)
    if current is None or current == identity:
        return True
    duration = lease.get("spec", {}).get("leaseDurationSeconds") or 0
    return now - observed.since >= float(duration)


def micro_time(at: datetime) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def taken(lease: Doc | None, namespace: str, name: str, identity: str, duration: int, at: datetime) -> Doc:
    """The Lease as ``identity`` writes it to take it (or renew it: the acquire time stays while it holds it)."""
    spec = dict((lease or {}).get("spec", {}))
    transitions = int(spec.get("leaseTransitions") or 0)
    if holder(lease) != identity:
        spec["acquireTime"] = micro_time(at)
        if lease is not None:
            transitions += 1
    spec |= {
        "holderIdentity": identity,
        "leaseDurationSeconds": duration,
        "renewTime": micro_time(at),
        "leaseTransitions": transitions,
    }
    return _lease(lease, namespace, name, spec)


def released(lease: Doc, namespace: str, name: str, at: datetime) -> Doc:
    """The Lease with no holder, as a holder leaves it on a graceful shutdown."""
    spec = {k: v for k, v in lease.get("spec", {}).items() if k not in ("holderIdentity", "acquireTime")}
    spec |= {"leaseDurationSeconds": 1, "renewTime": micro_time(at)}
    return _lease(lease, namespace, name, spec)


def _lease(lease: Doc | None, namespace: str, name: str, spec: Doc) -> Doc:
    metadata: Doc = {"name": name, "namespace": namespace}
    if lease is not None:
        metadata["resourceVersion"] = lease["metadata"]["resourceVersion"]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


def problem(err: Exception) -> str:
    """One line for the log: the apiserver's own message rather than the client's dump of headers and body."""
    if isinstance(err, ApiException):
        try:
            message = json.loads(err.body or "{}").get("message")
        except ValueError:
            message = None
        return f"{err.status} {err.reason}: {message or err.body}"
    return f"{type(err).__name__}: {err}"


def lease_namespace(settings: OperatorSettings, watched: list[str]) -> str:
    """Where the Lease lives: the setting, else the pod's own namespace, else the one namespace watched."""
    if settings.lease_namespace:
        return settings.lease_namespace
    if POD_NAMESPACE_FILE.exists():
        return POD_NAMESPACE_FILE.read_text().strip()
    if len(watched) == 1:
        return watched[0]
    raise ValueError(
        "leader election needs a namespace for its Lease: set VIDEOGEN_OPERATOR_LEASE_NAMESPACE "
        "(or VIDEOGEN_OPERATOR_LEADER_ELECTION=false for a single operator)"
    )


class LeaderElection:
    def __init__(self, kube: Kube, settings: OperatorSettings, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = settings.lease_name
        # The pod's name in a pod (a restarted container keeps it, and takes its own Lease back at once).
        self.identity = settings.leader_identity or socket.gethostname()
        self.duration = settings.lease_duration_seconds
        self.renew_deadline = settings.lease_renew_deadline_seconds
        self.retry = settings.lease_retry_seconds
        self._lease: Doc | None = None
        self._renewed = 0.0

    async def acquire(self) -> None:
        """Return once this process holds the Lease."""
        observed: Observed | None = None
        waiting_logged = False
        while True:
            started = time.monotonic()
            try:
                lease = await self.kube.read_lease(self.namespace, self.name)
                if lease is None:
                    got = await self.kube.create_lease(
                        taken(None, self.namespace, self.name, self.identity, self.duration, datetime.now(UTC))
                    )
                else:
                    # Seen from the answer on (not from the request): the version may have been written in between.
                    observed = observe(observed, lease, time.monotonic())
                    got = None
                    if may_take(lease, self.identity, observed, time.monotonic()):
                        body = taken(lease, self.namespace, self.name, self.identity, self.duration, datetime.now(UTC))
                        got = await self.kube.replace_lease(body)
                    elif not waiting_logged:
                        log.info("waiting for the Lease %s/%s, held by %s", self.namespace, self.name, holder(lease))
                        waiting_logged = True
            except Exception as err:
                log.warning("cannot read or take the Lease %s/%s: %s", self.namespace, self.name, problem(err))
                got = None
            if got is not None:
                self._lease, self._renewed = got, started
                log.info("leading: holds the Lease %s/%s as %s", self.namespace, self.name, self.identity)
                return
            await asyncio.sleep(self.retry)

    async def keep(self) -> None:
        """Renew the Lease until cancelled; exit the process when a renewal is overdue (the Lease may be another's
        soon, and this process must not act past that)."""
        while True:
            left = self._renewed + self.renew_deadline - time.monotonic()
            if left <= 0:
                self._lost("no renewal succeeded")
            await asyncio.sleep(min(self.retry, left))
            started = time.monotonic()
            try:
                async with asyncio.timeout(max(0.0, self._renewed + self.renew_deadline - started)):
                    renewed = await self._renew()
            except TimeoutError:
                continue
            except Exception as err:
                log.warning("cannot renew the Lease %s/%s: %s", self.namespace, self.name, problem(err))
                continue
            if renewed is None:
                self._lost("the Lease names another holder")
            self._lease, self._renewed = renewed, started

    async def _renew(self) -> Doc | None:
        """The renewed Lease; None when another holder has it."""
        assert self._lease is not None
        body = taken(self._lease, self.namespace, self.name, self.identity, self.duration, datetime.now(UTC))
        renewed = await self.kube.replace_lease(body)
        if renewed is not None:
            return renewed
        # Our version is stale: still ours (a write we did not see answered), or taken?
        current = await self.kube.read_lease(self.namespace, self.name)
        if current is None or holder(current) != self.identity:
            return None
        return await self.kube.replace_lease(
            taken(current, self.namespace, self.name, self.identity, self.duration, datetime.now(UTC))
        )

    def _lost(self, why: str) -> None:
        log.error("lost the Lease %s/%s (%s): exiting so that only the new holder acts", self.namespace, self.name, why)
        logging.shutdown()
        # At once, not through kopf's shutdown: its workers would keep reconciling while it runs.
        os._exit(LOST_EXIT_CODE)

    async def release(self) -> None:
        """Leave the Lease with no holder (after this process stopped acting), so a candidate takes it at once."""
        if self._lease is None:
            return
        try:
            current = await self.kube.read_lease(self.namespace, self.name)
            if current is not None and holder(current) == self.identity:
                await self.kube.replace_lease(released(current, self.namespace, self.name, datetime.now(UTC)))
                log.info("released the Lease %s/%s", self.namespace, self.name)
        except Exception as err:
            # The Lease then expires after its duration instead.
            log.warning("cannot release the Lease %s/%s: %s", self.namespace, self.name, problem(err))
        self._lease = None
