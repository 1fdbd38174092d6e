"""Ten jobs submitted at once under the chart's GPU cap (queue.maxRunningJobs: 2 in dev/local-values.yaml), with the
operator killed (kill -9) twice while some jobs wait and some run: a watch on the namespace's runner pods never sees
more than two of them alive at a time, all ten complete, and each has exactly one batch Job that ran one pod: the
restarted operator neither lost a job nor started one twice."""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client, watch

from tests.e2e.conftest import RUNNER_PODS, System, raw
from videogen_dev.waiting import wait_for

JOBS = 10
#: The operator is killed once when this many jobs have completed, for each number here.
OPERATOR_KILLS_AFTER = (0, JOBS // 2)
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


class RunnerPodWatch:
    """Follows the runner pods through a watch (every change, in order; no poll can miss a short overlap) and keeps
    the most that were alive at once. Alive: neither Succeeded nor Failed, and not yet removed."""

    def __init__(self, core: client.CoreV1Api, namespace: str) -> None:
        self.most_alive = 0
        self.alive: set[str] = set()
        self.seen: set[str] = set()
        self.error: BaseException | None = None
        self._core = core
        self._namespace = namespace
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="runner-pod-watch", daemon=True)

    def __enter__(self) -> RunnerPodWatch:
        self._thread.start()
        assert self._started.wait(30), "the pod watch did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        try:
            # The list gives the starting point and its resourceVersion; the watch continues from exactly there.
            listed = raw(
                self._core.list_namespaced_pod(self._namespace, label_selector=RUNNER_PODS, _preload_content=False)
            )
            for pod in listed["items"]:
                self._note("ADDED", pod)
            version = listed["metadata"]["resourceVersion"]
            self._started.set()
            stream = watch.Watch()  # type: ignore[no-untyped-call]
            while not self._stop.is_set():
                for event in stream.stream(  # type: ignore[no-untyped-call]
                    self._core.list_namespaced_pod,
                    self._namespace,
                    label_selector=RUNNER_PODS,
                    resource_version=version,
                    timeout_seconds=2,
                ):
                    self._note(event["type"], event["raw_object"])
                version = stream.resource_version
        except BaseException as err:  # reported by the test, not lost in the thread
            self.error = err
            self._started.set()

    def _note(self, kind: str, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        self.seen.add(name)
        if kind == "DELETED" or pod.get("status", {}).get("phase") in TERMINAL_PHASES:
            self.alive.discard(name)
        else:
            self.alive.add(name)
        self.most_alive = max(self.most_alive, len(self.alive))


def states_of(system: System, job_ids: list[str]) -> list[str]:
    return [(j or {}).get("status", "?") for job_id in job_ids for j in [system.job_or_none(job_id)]]


def queue_is_mixed(states: list[str], completed: int) -> bool:
    """At least `completed` jobs done, one still running and one still waiting."""
    return states.count("completed") >= completed and "processing" in states and "pending" in states


def test_ten_jobs_under_a_cap_of_two_through_operator_kills_never_run_more_than_two_and_each_runs_once(
    system: System,
) -> None:
    cap = system.release.values["queue"]["maxRunningJobs"]
    assert cap == 2
    with RunnerPodWatch(system.core, system.namespace) as pods:
        assert pods.alive == set(), f"runner pods left from earlier tests: {pods.alive}"
        with ThreadPoolExecutor(JOBS) as pool:
            job_ids = list(pool.map(lambda seed: system.submit_tiny(seed=seed), range(JOBS)))
        # Kill the operator at two points: once early, once with about half the jobs done; both times jobs are
        # waiting in the queue and jobs are running.
        for done_before_kill in OPERATOR_KILLS_AFTER:
            wait_for(
                lambda: states_of(system, job_ids),
                functools.partial(queue_is_mixed, completed=done_before_kill),
                300,
                f"{done_before_kill} jobs completed, one processing and one pending",
            )
            restarts = system.kill("operator")
            system.wait_restarted("operator", restarts)
        finals = system.wait_all_final(job_ids, 480)
    assert pods.error is None, pods.error
    assert [finals[job_id]["status"] for job_id in job_ids] == ["completed"] * JOBS, finals
    for job_id in job_ids:
        name = job_id.replace("_", "-")
        jobs = system.batch_jobs(name)
        assert len(jobs) == 1, f"{name} has {len(jobs)} batch Jobs"
        assert system.videojob(name)["status"]["attempts"] == 1
        assert sum(pod.startswith(f"{name}-") for pod in pods.seen) == 1, f"{name}: {sorted(pods.seen)}"
    # The cap held, and was used: two ran side by side.
    assert pods.most_alive == cap, pods.most_alive
