"""One operator acts at a time: the Lease decisions as pure functions, then two real operators on the local apiserver,
of which only the Lease's holder creates Jobs; after the holder's SIGKILL the other takes over within the Lease's
duration, and after a graceful stop (the Lease released) at once; never a second Job for a VideoJob. A holder that
finds another in its Lease exits."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.operator.conftest import Namespace, OperatorProcess
from tests.operator.test_operator_runs_videojobs import smoke_model
from videogen_operator import leader
from videogen_operator.settings import OperatorSettings

AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def lease(holder: str | None, version: str = "1", duration: int = 15, transitions: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {"leaseDurationSeconds": duration, "leaseTransitions": transitions}
    if holder is not None:
        spec |= {"holderIdentity": holder, "acquireTime": "2026-01-01T00:00:00.000000Z"}
    return {"metadata": {"name": "videogen-operator", "namespace": "ns", "resourceVersion": version}, "spec": spec}


def test_a_held_lease_is_taken_only_after_it_stood_still_for_its_duration() -> None:
    held = lease("a", duration=15)
    seen = leader.observe(None, held, now=100.0)
    assert not leader.may_take(held, "b", seen, now=114.9)
    assert leader.may_take(held, "b", leader.observe(seen, held, now=115.0), now=115.0)
    # A renewal (a new version) restarts the count, measured on this process's clock, not the holder's renewTime.
    renewed = lease("a", version="2", duration=15)
    seen = leader.observe(seen, renewed, now=110.0)
    assert seen == leader.Observed("2", 110.0)
    assert not leader.may_take(renewed, "b", seen, now=124.0)


def test_a_free_lease_or_ones_own_is_taken_at_once() -> None:
    seen = leader.Observed("1", 100.0)
    assert leader.may_take(lease(None), "b", seen, now=100.0)
    # The same pod's restarted container: the process that held it is gone.
    assert leader.may_take(lease("b"), "b", seen, now=100.0)


def test_taking_renewing_and_releasing_write_the_lease_fields() -> None:
    taken = leader.taken(lease("a", version="7", transitions=2), "ns", "videogen-operator", "b", 6, AT)
    assert taken["metadata"] == {"name": "videogen-operator", "namespace": "ns", "resourceVersion": "7"}
    assert taken["spec"] == {
        "holderIdentity": "b",
        "leaseDurationSeconds": 6,
        "acquireTime": "2026-01-02T03:04:05.678901Z",
        "renewTime": "2026-01-02T03:04:05.678901Z",
        "leaseTransitions": 3,
    }
    mine = lease("b", version="8", transitions=3) | {"spec": taken["spec"]}
    renewed = leader.taken(mine, "ns", "videogen-operator", "b", 6, AT.replace(second=9))
    assert renewed["spec"]["acquireTime"] == taken["spec"]["acquireTime"] and renewed["spec"]["leaseTransitions"] == 3
    assert renewed["spec"]["renewTime"] == "2026-01-02T03:04:09.678901Z"
    created = leader.taken(None, "ns", "videogen-operator", "b", 6, AT)
    assert "resourceVersion" not in created["metadata"] and created["spec"]["leaseTransitions"] == 0
    released = leader.released(mine, "ns", "videogen-operator", AT)
    assert leader.holder(released) is None and released["spec"]["leaseDurationSeconds"] == 1


def test_lease_timings_must_let_the_holder_stop_before_anyone_takes_over() -> None:
    with pytest.raises(ValueError, match="lease_renew_deadline_seconds < lease_duration_seconds"):
        OperatorSettings(lease_duration_seconds=10, lease_renew_deadline_seconds=10)


#: Short, so the handover is seconds; the holder renews every 0.5 s and gives up after 3 s without a renewal.
LEASE = {"lease_duration_seconds": 5, "lease_renew_deadline_seconds": 3, "lease_retry_seconds": 0.5}
DURATION = LEASE["lease_duration_seconds"]


def job_owners(ns: Namespace) -> Counter[str]:
    return Counter(job["metadata"]["labels"]["videogen.dev/videojob"] for job in ns.jobs("videogen.dev/videojob"))


def log_text(operator: OperatorProcess) -> str:
    return operator.log.read_text(errors="replace")


def holder(ns: Namespace) -> str | None:
    found: str | None = ns.get("lease", "videogen-operator").get("spec", {}).get("holderIdentity")
    return found


def test_only_the_lease_holder_acts_and_the_other_takes_over_after_a_sigkill_and_a_graceful_stop(
    ns: Namespace, start_operator: Any
) -> None:
    smoke_model(ns)
    first = start_operator(leader_identity="operator-a", **LEASE)
    first.wait_for_log("leading: holds the Lease", 0, timeout=60)
    second = start_operator(leader_identity="operator-b", **LEASE)
    second.wait_for_log("waiting for the Lease", 0, timeout=60)
    assert holder(ns) == "operator-a"

    ns.videojob("lease-1", prompt="a cat steps=2 step_seconds=0.05")
    ns.wait_state("lease-1", {"completed"})
    # The waiting operator watched the same events and did nothing with them.
    assert "created Job lease-1" in log_text(first)
    assert "created Job" not in log_text(second) and "worker started" not in log_text(second)

    first.kill()
    killed = time.monotonic()
    ns.videojob("lease-2", prompt="a cat steps=2 step_seconds=0.05")
    second.wait_for_log("leading: holds the Lease", 0, timeout=DURATION + 15)
    took_over = time.monotonic() - killed
    ns.wait_state("lease-2", {"completed"})
    print(f"takeover after SIGKILL: {took_over:.1f} s (lease duration {DURATION} s)")
    # Not before the Lease stood still for its duration (less what had passed since the last renewal), not much after.
    assert DURATION - 1 <= took_over < DURATION + 5
    assert "created Job lease-2" in log_text(second) and holder(ns) == "operator-b"

    # The killed one comes back and waits; a graceful stop of the holder releases the Lease, so it takes over at once.
    offset = first.log_size()
    first.start()
    first.wait_for_log("waiting for the Lease", offset, timeout=60)
    second.stop()
    stopped = time.monotonic()
    assert "released the Lease" in log_text(second)
    first.wait_for_log("leading: holds the Lease", offset, timeout=DURATION)
    print(f"takeover after a graceful stop: {time.monotonic() - stopped:.1f} s")
    assert time.monotonic() - stopped < DURATION - 1
    ns.videojob("lease-3", prompt="a cat steps=2 step_seconds=0.05")
    ns.wait_state("lease-3", {"completed"})

    assert job_owners(ns) == Counter({"lease-1": 1, "lease-2": 1, "lease-3": 1})
    # A taking-over operator's workers post their Events and write statuses like those started by a watch event.
    for operator in (first, second):
        assert "Traceback" not in log_text(operator), operator.tail()


def test_a_holder_that_finds_its_lease_taken_exits_at_once(ns: Namespace, start_operator: Any) -> None:
    operator = start_operator(leader_identity="operator-a", **LEASE)
    operator.wait_for_log("leading: holds the Lease", 0, timeout=60)
    # Another holder in the Lease (as after a partition, when the others saw it expire): this one must stop acting.
    patch = json.dumps({"spec": {"holderIdentity": "operator-elsewhere"}})
    ns.cluster.kubectl("patch", "lease", "videogen-operator", "-n", ns.name, "--type", "merge", "-p", patch)
    assert operator.proc is not None
    assert operator.proc.wait(timeout=LEASE["lease_renew_deadline_seconds"] + 5) == leader.LOST_EXIT_CODE
    assert "lost the Lease" in log_text(operator) and holder(ns) == "operator-elsewhere"
