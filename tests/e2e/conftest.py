"""End-to-end: the whole system as installed by the chart (the session's `system_release`: operator and API as the
chart's pods on the local node, the real runner on the smoke models on the CPU, a private SeaweedFS), driven through
its front doors (REST, kubectl) and disturbed from outside (killed processes, deleted pods, a stopped S3).

Every test leaves the release idle: jobs it submitted and did not finish are cancelled at teardown, so the next
test's queue starts empty.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, config

from tests.system_release import SystemRelease
from videogen_dev import container_images
from videogen_dev.cluster import Cluster
from videogen_dev.waiting import wait_for
from videogen_runner.media import VideoProbe, probe_video

FINAL_STATES = frozenset({"completed", "failed", "cancelled"})
RUNNER_PODS = "app.kubernetes.io/component=runner"
#: A tiny generation: seconds on the CPU, most of it the runner's start.
TINY = {"num_frames": 9, "width": 64, "height": 64, "num_inference_steps": 2, "fps": 8, "seed": 0}


def transport_tolerant_get(http: httpx.Client, path: str) -> httpx.Response | None:
    try:
        return http.get(path)
    except httpx.TransportError:
        return None


def raw(response: Any) -> dict[str, Any]:
    """The body of a call made with _preload_content=False: plain JSON, as kubectl shows it."""
    return json.loads(response.data)  # type: ignore[no-any-return]


def _items(response: Any) -> list[dict[str, Any]]:
    return raw(response)["items"]  # type: ignore[no-any-return]


@dataclass
class System:
    """The release as a client sees it (REST) and as an operator of the platform sees it (kubectl, pods)."""

    release: SystemRelease
    cluster: Cluster
    http: httpx.Client
    core: client.CoreV1Api
    batch: client.BatchV1Api
    submitted: list[str] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.release.namespace

    def submit(self, mode: str, **request: Any) -> str:
        """POST a generation request (json= or data=/files=); returns the job id, remembered for teardown."""
        response = self.http.post(f"/api/v1/generate/{mode}", **request)
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "pending" and body["message"] == "Video generation started", body
        job_id = str(body["job_id"])
        self.submitted.append(job_id)
        return job_id

    def submit_tiny(self, **overrides: Any) -> str:
        return self.submit("text-to-video", json={"prompt": "a lighthouse at dusk", **TINY, **overrides})

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/job/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def job_or_none(self, job_id: str) -> dict[str, Any] | None:
        """The job, or None while the API does not answer (it is being restarted)."""
        response = transport_tolerant_get(self.http, f"/api/v1/job/{job_id}")
        return response.json() if response is not None and response.status_code == 200 else None

    def wait_final(self, job_id: str, timeout: float = 180) -> dict[str, Any]:
        job = wait_for(
            lambda: self.job_or_none(job_id),
            lambda j: j is not None and j["status"] in FINAL_STATES,
            timeout,
            f"job {job_id} to finish",
            interval=0.5,
        )
        assert job is not None
        return job

    def wait_all_final(self, job_ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
        def observe() -> dict[str, str]:
            return {job_id: (j or {}).get("status", "?") for job_id in job_ids for j in [self.job_or_none(job_id)]}

        wait_for(observe, lambda seen: set(seen.values()) <= FINAL_STATES, timeout, "every job to finish", 1.0)
        return {job_id: self.job(job_id) for job_id in job_ids}

    def videojob(self, name: str) -> dict[str, Any]:
        return self.cluster.get_json("videojob", name, "-n", self.namespace)

    def wait_videojob_final(self, name: str, timeout: float) -> dict[str, Any]:
        """The status of a VideoJob (one made with kubectl has no REST job id) once it is final."""
        return wait_for(
            lambda: self.videojob(name).get("status") or {},
            lambda status: status.get("state") in FINAL_STATES,
            timeout,
            f"VideoJob {name} to finish",
            interval=0.5,
        )

    def pods(self, selector: str) -> list[dict[str, Any]]:
        return _items(self.core.list_namespaced_pod(self.namespace, label_selector=selector, _preload_content=False))

    def runner_pods(self, videojob: str | None = None) -> list[dict[str, Any]]:
        return self.pods(RUNNER_PODS + (f",videogen.dev/videojob={videojob}" if videojob else ""))

    def batch_jobs(self, videojob: str) -> list[dict[str, Any]]:
        selector = f"videogen.dev/videojob={videojob}"
        return _items(self.batch.list_namespaced_job(self.namespace, label_selector=selector, _preload_content=False))

    def output(self, job: dict[str, Any]) -> bytes:
        """GET /outputs/<file> of a completed job: the MP4's bytes."""
        assert job["status"] == "completed" and job["output_path"], job
        response = self.http.get(f"/outputs/{job['output_path'].rsplit('/', 1)[-1]}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "video/mp4"
        return response.content

    def probe_output(self, job: dict[str, Any]) -> VideoProbe:
        """Frame count, size and fps of the served MP4, decoded by ffmpeg (the runner's own probe)."""
        with tempfile.NamedTemporaryFile(suffix=".mp4") as file:
            file.write(self.output(job))
            file.flush()
            return probe_video(Path(file.name))

    def component_pods(self, component: str) -> list[dict[str, Any]]:
        return self.pods(f"app.kubernetes.io/instance=videogen,app.kubernetes.io/component={component}")

    def component_container(self, component: str) -> str:
        """The containerID of the release's one running operator or API container: `podman://<name>` (container
        mode) or `videogen-local://<pid>` (process mode)."""
        running = [
            status["containerID"]
            for pod in self.component_pods(component)
            if not pod["metadata"].get("deletionTimestamp")
            for status in pod["status"].get("containerStatuses") or []
            if "running" in status["state"] and status.get("containerID")
        ]
        assert len(running) == 1, f"expected one running {component} container, saw {running}"
        return str(running[0])

    def restart_count(self, component: str) -> int:
        pods = self.component_pods(component)
        return sum(int(s["restartCount"]) for pod in pods for s in pod["status"].get("containerStatuses") or [])

    def kill(self, component: str) -> int:
        """kill -9 the component's main process (a crash, not a shutdown); returns its container's restarts before."""
        restarts = self.restart_count(component)
        container = self.component_container(component)
        if container.startswith("podman://"):
            podman = ["podman", "kill", "--signal=KILL", container.removeprefix("podman://")]
            env = os.environ | {"CONTAINERS_CONF": str(container_images.podman_conf())}
            subprocess.run(podman, env=env, check=True, capture_output=True, timeout=60)
        else:
            os.kill(int(container.removeprefix("videogen-local://")), signal.SIGKILL)
        return restarts

    def wait_restarted(self, component: str, restarts_before: int, timeout: float = 120) -> None:
        """Until the node agent has started the component's container again (restartPolicy Always)."""
        wait_for(
            lambda: (self.restart_count(component), self.component_container_or_none(component)),
            lambda seen: seen[0] > restarts_before and seen[1] is not None,
            timeout,
            f"the {component} container to be restarted",
        )

    def component_container_or_none(self, component: str) -> str | None:
        try:
            return self.component_container(component)
        except AssertionError:
            return None

    def wait_api_ready(self, timeout: float = 120) -> None:
        wait_for(
            lambda: getattr(transport_tolerant_get(self.http, "/readyz"), "status_code", 0),
            lambda code: code == 200,
            timeout,
            "the API to answer /readyz with 200",
        )

    def cancel_unfinished(self) -> None:
        """Cancel what this test submitted and did not finish, and wait until the operator has stopped it."""
        open_jobs = [
            job_id for job_id in self.submitted if (j := self.job_or_none(job_id)) and j["status"] not in FINAL_STATES
        ]
        for job_id in open_jobs:
            self.http.delete(f"/api/v1/job/{job_id}")
        if open_jobs:
            self.wait_all_final(open_jobs, 120)


class StateRecorder:
    """Polls GET /api/v1/job/{id} of some jobs fast, in one thread, and keeps each job's sequence of states: a
    short `processing` is still seen."""

    def __init__(self, api_url: str, job_ids: tuple[str, ...] = (), interval: float = 0.2) -> None:
        self.states: dict[str, list[str]] = {job_id: [] for job_id in job_ids}
        self._api_url = api_url
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="state-recorder", daemon=True)

    def add(self, job_id: str, state: str) -> None:
        """Follow one more job, whose state the caller saw as `state` (the submit's answer)."""
        self.states[job_id] = [state]

    def __enter__(self) -> StateRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(base_url=self._api_url, timeout=10) as http:
            while True:
                # One more pass after the stop: the caller stops once it has seen every job final (through its own,
                # slower polling), and that last state must be in the record too.
                last_pass = self._stop.is_set()
                # A copy: add() may grow the dict meanwhile.
                for job_id, seen in list(self.states.items()):
                    if seen and seen[-1] in FINAL_STATES:
                        continue
                    response = transport_tolerant_get(http, f"/api/v1/job/{job_id}")
                    if response is not None and response.status_code == 200:
                        state = response.json()["status"]
                        if not seen or seen[-1] != state:
                            seen.append(state)
                if last_pass:
                    return
                self._stop.wait(self._interval)


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> client.ApiClient:
    """The admin's Kubernetes client: the test's view of pods and Jobs."""
    api_client: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig)
    )
    return api_client


def make_system(system_release: SystemRelease, cluster: Cluster, kube: client.ApiClient) -> Iterator[System]:
    with httpx.Client(base_url=system_release.api_url, timeout=30) as http:
        handle = System(system_release, cluster, http, client.CoreV1Api(kube), client.BatchV1Api(kube))
        handle.wait_api_ready()
        try:
            yield handle
        finally:
            handle.cancel_unfinished()


@pytest.fixture
def system(system_release: SystemRelease, cluster: Cluster, kube: client.ApiClient) -> Iterator[System]:
    yield from make_system(system_release, cluster, kube)


@pytest.fixture(scope="module")
def module_system(system_release: SystemRelease, cluster: Cluster, kube: client.ApiClient) -> Iterator[System]:
    yield from make_system(system_release, cluster, kube)
