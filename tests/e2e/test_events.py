"""GET /api/v1/job/{id}/events against the installed release: every change the VideoJob goes through reaches the
stream, in order, ending with the terminal event; a stream cut short and resumed with Last-Event-ID misses nothing
and repeats nothing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from kubernetes import client, watch

from tests.e2e.conftest import FINAL_STATES, System
from videogen_common.resources.meta import GROUP, VERSION
from videogen_common.resources.objects import VIDEOJOBS

# Enough denoising steps (and pixels) that the run outlasts a few of the operator's progress polls (2 s apart), so
# the VideoJob goes through several progress steps; still seconds on the CPU. (At 128x128 the 100 steps took under
# 2 s in the runner image's container: one poll saw step 0, the next 100.)
SLOW_ENOUGH = {"num_inference_steps": 100, "width": 256, "height": 256}


@dataclass
class Event:
    id: int
    kind: str
    job: dict[str, Any]

    @property
    def key(self) -> tuple[str, str | None, int]:
        return self.job["status"], self.job["reason"], (self.job["progress"] or {}).get("step", 0)


def read_events(http: httpx.Client, job_id: str, last_event_id: int | None = None) -> Iterator[Event]:
    """The stream's events as they arrive (heartbeats and retry hints skipped)."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    with http.stream("GET", f"/api/v1/job/{job_id}/events", headers=headers, timeout=httpx.Timeout(10, read=60)) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in r.iter_lines():
            if line:
                if not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                continue
            if "data" in fields:
                yield Event(int(fields["id"]), fields["event"], json.loads(fields["data"]))
            fields = {}


@dataclass
class Observed:
    job_id: str
    watched: list[tuple[str, str | None, int]] = field(default_factory=list)
    full: list[Event] = field(default_factory=list)
    before_cut: list[Event] = field(default_factory=list)
    after_cut: list[Event] = field(default_factory=list)
    stream_latency: list[float] = field(default_factory=list)


def watch_videojobs(
    kube: client.ApiClient, namespace: str, names: list[str], seen: dict[str, list[Any]], stop: threading.Event
) -> None:
    """Every (state, reason, step) each VideoJob's status goes through, as the apiserver's watch delivers them, until
    the one named in ``names`` (known only once its submit returns) is final."""
    objects = client.CustomObjectsApi(kube)
    events = watch.Watch().stream(  # type: ignore[no-untyped-call]
        objects.list_namespaced_custom_object, GROUP, VERSION, namespace, VIDEOJOBS, timeout_seconds=240
    )
    for item in events:
        obj = item["object"]
        status = obj.get("status") or {}
        key = (status.get("state") or "pending", status.get("reason"), (status.get("progress") or {}).get("step", 0))
        keys = seen.setdefault(obj["metadata"]["name"], [])
        if not keys or keys[-1][0] != key:
            keys.append((key, time.monotonic()))
        if stop.is_set() or (names and seen.get(names[0]) and seen[names[0]][-1][0][0] in FINAL_STATES):
            return


@pytest.fixture(scope="module")
def observed(module_system: System, kube: client.ApiClient) -> Observed:
    """One job followed three ways at once: the apiserver's watch, an uninterrupted stream, and a stream cut after
    its second event and resumed with Last-Event-ID once the job has moved on."""
    system = module_system
    names: list[str] = []
    seen: dict[str, list[Any]] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch_videojobs, args=(kube, system.namespace, names, seen, stop), daemon=True)
    watcher.start()
    time.sleep(0.5)  # the watch is open before the job exists
    job_id = system.submit_tiny(**SLOW_ENOUGH)
    names.append(job_id.replace("_", "-"))
    result = Observed(job_id)
    arrivals: dict[int, float] = {}

    def follow_whole() -> None:
        for event in read_events(system.http, job_id):
            arrivals[event.id] = time.monotonic()
            result.full.append(event)

    whole = threading.Thread(target=follow_whole, daemon=True)
    whole.start()
    with httpx.Client(base_url=system.release.api_url) as second:
        for event in read_events(second, job_id):
            result.before_cut.append(event)
            if len(result.before_cut) == 2 or event.kind in FINAL_STATES:
                break
        # The job goes on while nobody on this connection listens; then the resume.
        system.wait_final(job_id, 240)
        if result.before_cut[-1].kind not in FINAL_STATES:
            result.after_cut = list(read_events(second, job_id, result.before_cut[-1].id))
    whole.join(30)
    stop.set()
    watcher.join(30)
    watched = seen.get(names[0], [])
    result.watched = [key for key, _ in watched]
    # How long after the apiserver's watch delivered a change the stream did (both on this machine's clock).
    watched_at = {key: at for key, at in reversed(watched)}
    result.stream_latency = [arrivals[e.id] - watched_at[e.key] for e in result.full if e.key in watched_at]
    print(f"stream latency behind the apiserver watch: max {max(result.stream_latency, default=0):.3f} s")
    return result


def test_event_stream_delivers_every_progress_step_and_ends_with_completed(observed: Observed) -> None:
    full = observed.full
    assert full, "the stream sent no event"
    assert full[-1].kind == "completed" and full[-1].job["status"] == "completed", full[-1]
    assert full[-1].job["output_url"] and full[-1].job["progress"]["percent"] == 100
    # Each event is the REST job view, with ids that only grow.
    assert all(e.job["job_id"] == observed.job_id for e in full)
    assert [e.id for e in full] == sorted({e.id for e in full})
    # Every change the apiserver recorded from the stream's first event on reached it, in order, once.
    keys = [e.key for e in full]
    start = observed.watched.index(keys[0])
    assert keys == observed.watched[start:], (keys, observed.watched)
    progress = [e for e in full if e.kind == "progress"]
    assert len(progress) >= 2, f"expected several progress steps, the VideoJob went through {observed.watched}"
    steps = [e.job["progress"]["step"] for e in progress]
    assert steps == sorted(set(steps))
    kinds = {e.kind for e in full}
    assert kinds <= {"status", "progress", "completed"}, kinds


def test_a_stream_resumed_with_last_event_id_misses_nothing_and_repeats_nothing(observed: Observed) -> None:
    assert len(observed.before_cut) == 2 and observed.after_cut, (observed.before_cut, observed.after_cut)
    resumed = observed.before_cut + observed.after_cut
    ids = [e.id for e in resumed]
    assert len(ids) == len(set(ids)), "an event came twice"
    uninterrupted = [e.id for e in observed.full if e.id >= ids[0]]
    assert ids == uninterrupted
    assert resumed[-1].kind == "completed"
    # The missed part is replayed, not just the latest state.
    assert len(observed.after_cut) >= 2
