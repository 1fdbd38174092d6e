"""The pods bound to this node: which to start, which to stop, which deletions to confirm, which to forget.

Every watch event about a pod on this node goes through `NodePods.sync`. A new runnable pod gets a `PodRun`
and a thread (`lifecycle.run_pod`); a pod being deleted gets a stop request carrying its grace period; a
deleted pod that never ran here is reported and removed. Decisions are made under one lock, API calls outside
it: a slow request must not stall the other threads.
"""

import threading
from typing import Any

from videogen_dev.node import lifecycle, status
from videogen_dev.node.runtime import ContainerRuntime
from videogen_dev.node.settings import NodeAgentSettings
from videogen_dev.node.state import PodRun

_TERMINAL = ("Succeeded", "Failed")


class NodePods:
    def __init__(self, core: Any, settings: NodeAgentSettings, runtime: ContainerRuntime) -> None:
        self._core = core
        self._settings = settings
        self._runtime = runtime
        self._lock = threading.Lock()
        self._running: dict[str, PodRun] = {}
        # Pods this agent ran to the end, so late events never start them again.
        self._finished: set[str] = set()

    def sync(self, pod: Any) -> None:
        uid = pod.metadata.uid
        phase = pod.status.phase if pod.status else None
        with self._lock:
            pod_run = self._running.get(uid)
            if pod_run is not None:
                pod_run.pod = pod
                if pod.metadata.deletion_timestamp is not None and not pod_run.stop_requested.is_set():
                    pod_run.grace_seconds = int(pod.metadata.deletion_grace_period_seconds or 0)
                    pod_run.stop_requested.set()
                return
            ran_here = uid in self._finished
            runnable = pod.metadata.deletion_timestamp is None and phase not in _TERMINAL
            if runnable and not ran_here and not _has_started_before(pod):
                pod_run = PodRun(pod=pod)
                self._running[uid] = pod_run
                threading.Thread(
                    target=self._run, args=(pod_run,), daemon=True, name=f"pod-{pod.metadata.name}"
                ).start()
                return
        if pod.metadata.deletion_timestamp is not None:
            # Nothing runs: confirm the deletion, as kubelet does once containers are gone.
            if phase not in _TERMINAL and not ran_here:
                status.patch_status(self._core, pod, status.lost_pod_status(pod, "Pod was deleted before it started"))
            lifecycle.final_delete(self._core, self._settings.pods_dir, pod)
        elif not ran_here and phase not in _TERMINAL:
            # Events about a pod this agent ran to the end may arrive late, with stale phases; anything else that
            # ran before belongs to an earlier agent process, whose children are gone.
            message = "the local node agent restarted and lost this pod's processes"
            status.patch_status(self._core, pod, status.lost_pod_status(pod, message))

    def deleted(self, pod: Any) -> None:
        """The pod object is gone: stop what still runs at once and forget that it ran here."""
        self._stop_now(pod.metadata.uid)
        with self._lock:
            self._finished.discard(pod.metadata.uid)

    def forget_vanished(self, present: set[str]) -> None:
        """After a relist: stop at once the pods whose objects went away while the watch was down."""
        with self._lock:
            gone = [uid for uid in self._running if uid not in present]
        for uid in gone:
            self._stop_now(uid)

    def is_running(self, namespace: str, pod: str, container: str) -> bool:
        """Whether that container's process still runs (for `kubectl logs -f`)."""
        with self._lock:
            pod_runs = list(self._running.values())
        for pod_run in pod_runs:
            meta = pod_run.pod.metadata
            if meta.namespace == namespace and meta.name == pod:
                run = pod_run.runs.get(container)
                return run is not None and run.container.exit_code() is None
        return False

    def kill_all(self) -> None:
        """SIGKILL every container: the agent is exiting and its pods' processes must not outlive it."""
        with self._lock:
            pod_runs = list(self._running.values())
        for pod_run in pod_runs:
            for run in pod_run.runs.values():
                if run.container.exit_code() is None:
                    run.container.kill()

    def _run(self, pod_run: PodRun) -> None:
        try:
            lifecycle.run_pod(self._core, self._settings, self._runtime, pod_run)
        finally:
            with self._lock:
                self._finished.add(pod_run.pod.metadata.uid)
                self._running.pop(pod_run.pod.metadata.uid, None)

    def _stop_now(self, uid: str) -> None:
        with self._lock:
            pod_run = self._running.get(uid)
        if pod_run is not None and not pod_run.stop_requested.is_set():
            pod_run.grace_seconds = 0
            pod_run.stop_requested.set()


def _has_started_before(pod: Any) -> bool:
    statuses = (pod.status.container_statuses or []) if pod.status else []
    return any(s.state and (s.state.running or s.state.terminated) for s in statuses)
