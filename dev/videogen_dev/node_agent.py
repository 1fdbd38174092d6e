"""The local node agent: registers a GPU-pool-like Node and runs the pods bound to it as local processes.

A development tool, not a kubelet. It keeps the Node Ready (status heartbeat and Lease), watches the pods
scheduled onto it, and for each one: resolves env (literals, Secret/ConfigMap refs, the downward API
fields in `_field_ref`), prepares volumes as folders (emptyDir, hostPath, hostPath/local PVCs, configMap,
secret, projected service-account tokens), runs init containers in order and then the containers through
`container_shim` in a private mount namespace, and reports phase, container states, exit codes and
termination messages. Deleting a pod sends SIGTERM, then SIGKILL after the grace period.

It authenticates as `system:node:<name>`, so the Node authorizer and NodeRestriction apply to it as they
do to a real kubelet. Settings come from `VIDEOGEN_NODE_*` variables (see NodeAgentSettings).
"""

import base64
import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from pydantic_settings import BaseSettings, SettingsConfigDict

from videogen_dev import images, node_logs
from videogen_dev.settings import pinned_version

log = logging.getLogger("videogen.node-agent")

TERMINATION_MESSAGE_LIMIT = 4096
# The client defaults PATCH to JSON Patch; conditions merge by type only under strategic merge.
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
FALLBACK_LOG_LINES = 80


class NodeAgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDEOGEN_NODE_")

    name: str = "gpu-node-0"
    kubeconfig: Path
    state_dir: Path
    venv_bin: Path = Path(sys.executable).parent
    apiserver_host: str = "127.0.0.1"
    apiserver_port: int = 16443
    # Like an 8-GPU node: room for the test suite's two pytest processes to schedule GPU pods side by side.
    gpus: int = 8
    cpu: str = str(os.cpu_count() or 2)
    memory: str = "16Gi"
    max_pods: int = 110
    labels: dict[str, str] = {
        "videogen.dev/pool": "gpu",
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": "local-cpu-stand-in",
    }
    # key=value:Effect, as kubelet's --register-with-taints.
    taints: list[str] = ["nvidia.com/gpu=present:NoSchedule"]
    heartbeat_seconds: float = 10.0
    # kubelet's port for `kubectl logs`; serving cert and the CA that signs the apiserver's client cert.
    logs_port: int = 20250
    serving_cert: Path | None = None
    serving_key: Path | None = None
    client_ca: Path | None = None
    resync_seconds: float = 15.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class ContainerConfigError(Exception):
    """A pod references something that does not exist (yet): reported as a waiting reason, retried."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class ContainerRun:
    name: str
    proc: subprocess.Popen[bytes]
    termination_file: Path
    log_file: Path
    policy: str
    started_at: dt.datetime
    restart_count: int = 0


@dataclass
class PodRuntime:
    pod: Any
    stop_requested: threading.Event = field(default_factory=threading.Event)
    grace_seconds: int = 30
    # The live (or last) process of each container, init containers included.
    runs: dict[str, ContainerRun] = field(default_factory=dict)
    # The last reported state of each container: the API replaces these lists whole on every patch.
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    init_statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class NodeAgent:
    def __init__(self, settings: NodeAgentSettings) -> None:
        self.settings = settings
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(settings.kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
        # Every pod has a thread that reports its status: room for them all in the connection pool.
        configuration.connection_pool_maxsize = 64
        api_client = client.ApiClient(configuration)
        # A default deadline for every request, so a stalled connection never wedges a loop for good.
        api_client.rest_client.pool_manager.connection_pool_kw["timeout"] = urllib3.Timeout(connect=5, read=30)
        # The client's models are loosely typed (every field optional); this agent treats them as Any.
        self.core: Any = client.CoreV1Api(api_client)
        self.coordination: Any = client.CoordinationV1Api(api_client)
        self.runtimes: dict[str, PodRuntime] = {}
        self.runtimes_lock = threading.Lock()
        # Pods this agent ran to the end, so late events never start them again.
        self.finished: set[str] = set()
        self.stopping = threading.Event()
        self.pods_dir = settings.state_dir / "pods"

    # ---- the Node -----------------------------------------------------------------------------------

    def _capacity(self) -> dict[str, str]:
        s = self.settings
        return {
            "cpu": s.cpu,
            "memory": s.memory,
            "pods": str(s.max_pods),
            "nvidia.com/gpu": str(s.gpus),
            "ephemeral-storage": "100Gi",
        }

    def _node_status(self) -> dict[str, Any]:
        now = _iso(_now())
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "videogen local node agent is posting ready status",
            "lastHeartbeatTime": now,
        }
        conditions = [ready] + [
            {"type": t, "status": "False", "reason": r, "message": "ok", "lastHeartbeatTime": now}
            for t, r in (
                ("MemoryPressure", "KubeletHasSufficientMemory"),
                ("DiskPressure", "KubeletHasNoDiskPressure"),
                ("PIDPressure", "KubeletHasSufficientPID"),
            )
        ]
        return {
            "capacity": self._capacity(),
            "allocatable": self._capacity(),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.settings.name},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "osImage": "videogen local node",
                "kernelVersion": os.uname().release,
                "containerRuntimeVersion": "videogen-local://0",
                "kubeletVersion": pinned_version("controlplane", "k8s.io/kubernetes"),
                "kubeProxyVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.settings.logs_port if self._serves_logs() else 0}},
        }

    def register(self) -> None:
        s = self.settings
        taints = []
        for spec in s.taints:
            key_value, effect = spec.rsplit(":", 1)
            key, _, value = key_value.partition("=")
            taints.append({"key": key, "value": value or None, "effect": effect})
        labels = {
            "kubernetes.io/hostname": s.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            **s.labels,
        }
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": s.name, "labels": labels},
            "spec": {"taints": taints},
        }
        try:
            self.core.create_node(body)
            log.info("registered node %s", s.name)
        except ApiException as err:
            if err.status != 409:
                raise
            # Labels may be updated by the node itself; taints belong to the cluster after registration.
            self.core.patch_node(s.name, {"metadata": {"labels": labels}}, _content_type=STRATEGIC_MERGE)
        self.core.patch_node_status(s.name, {"status": self._node_status()}, _content_type=STRATEGIC_MERGE)
        self._renew_lease()

    def _renew_lease(self) -> None:
        name = self.settings.name
        now = _now()
        spec = client.V1LeaseSpec(holder_identity=name, lease_duration_seconds=40, renew_time=now)
        try:
            lease = self.coordination.read_namespaced_lease(name, "kube-node-lease")
            lease.spec = spec
            self.coordination.replace_namespaced_lease(name, "kube-node-lease", lease)
        except ApiException as err:
            if err.status != 404:
                raise
            node = self.core.read_node(name)
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(
                    name=name,
                    owner_references=[
                        client.V1OwnerReference(api_version="v1", kind="Node", name=name, uid=node.metadata.uid)
                    ],
                ),
                spec=spec,
            )
            self.coordination.create_namespaced_lease("kube-node-lease", body)

    def heartbeat_forever(self) -> None:
        while not self.stopping.wait(self.settings.heartbeat_seconds):
            try:
                self.core.patch_node_status(
                    self.settings.name, {"status": self._node_status()}, _content_type=STRATEGIC_MERGE
                )
                self._renew_lease()
            except Exception:
                log.exception("heartbeat failed; retrying")

    # ---- watching pods ------------------------------------------------------------------------------

    def _field_selector(self) -> str:
        return f"spec.nodeName={self.settings.name}"

    def watch_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                pods = self.core.list_pod_for_all_namespaces(field_selector=self._field_selector())
                seen = set()
                for pod in pods.items:
                    seen.add(pod.metadata.uid)
                    self.sync(pod)
                self._forget_vanished(seen)
                watcher = watch.Watch()  # type: ignore[no-untyped-call]
                stream = watcher.stream(  # type: ignore[no-untyped-call]
                    self.core.list_pod_for_all_namespaces,
                    field_selector=self._field_selector(),
                    resource_version=pods.metadata.resource_version,
                    timeout_seconds=int(self.settings.resync_seconds),
                    _request_timeout=self.settings.resync_seconds + 10,
                )
                # A watchdog: once a watch was seen blocked in a read past both its server and client timeouts
                # (under an overloaded apiserver). Shutting the response down unblocks the read; we relist.
                watchdog = threading.Timer(self.settings.resync_seconds * 2 + 15, _shut_down_watch, args=(watcher,))
                watchdog.daemon = True
                watchdog.start()
                try:
                    for event in stream:
                        if self.stopping.is_set():
                            break
                        if event["type"] == "DELETED":
                            self._on_deleted(event["object"])
                        elif event["type"] in ("ADDED", "MODIFIED"):
                            self.sync(event["object"])
                finally:
                    watchdog.cancel()
            except Exception:
                if not self.stopping.is_set():
                    log.exception("pod watch failed; relisting")
                    time.sleep(1)

    def _forget_vanished(self, present: set[str]) -> None:
        with self.runtimes_lock:
            gone = [uid for uid in self.runtimes if uid not in present]
        for uid in gone:
            self._kill_pod_processes(uid, grace=0)

    def _on_deleted(self, pod: Any) -> None:
        self._kill_pod_processes(pod.metadata.uid, grace=0)
        with self.runtimes_lock:
            self.finished.discard(pod.metadata.uid)

    def _kill_pod_processes(self, uid: str, grace: int) -> None:
        with self.runtimes_lock:
            runtime = self.runtimes.get(uid)
        if runtime is not None and not runtime.stop_requested.is_set():
            runtime.grace_seconds = grace
            runtime.stop_requested.set()

    def sync(self, pod: Any) -> None:
        uid = pod.metadata.uid
        phase = pod.status.phase if pod.status else None
        # Decide under the lock, call the API outside it: a slow request must not stall the other threads.
        with self.runtimes_lock:
            runtime = self.runtimes.get(uid)
            if runtime is not None:
                runtime.pod = pod
                if pod.metadata.deletion_timestamp is not None and not runtime.stop_requested.is_set():
                    runtime.grace_seconds = int(pod.metadata.deletion_grace_period_seconds or 0)
                    runtime.stop_requested.set()
                return
            ran_here = uid in self.finished
            runnable = pod.metadata.deletion_timestamp is None and phase not in ("Succeeded", "Failed")
            if runnable and not ran_here and not self._has_started_before(pod):
                runtime = PodRuntime(pod=pod)
                self.runtimes[uid] = runtime
                threading.Thread(
                    target=self._run_pod, args=(runtime,), daemon=True, name=f"pod-{pod.metadata.name}"
                ).start()
                return
        if pod.metadata.deletion_timestamp is not None:
            # Nothing runs: confirm the deletion, as kubelet does once containers are gone.
            if phase not in ("Succeeded", "Failed") and not ran_here:
                self._report_terminal_without_run(pod, "Pod was deleted before it started")
            self._final_delete(pod)
        elif not ran_here and phase not in ("Succeeded", "Failed"):
            # Events about a pod this agent ran to the end may arrive late, with stale phases; anything else that
            # ran before belongs to an earlier agent process, whose children are gone.
            self._report_terminal_without_run(pod, "the local node agent restarted and lost this pod's processes")

    def _has_started_before(self, pod: Any) -> bool:
        statuses = (pod.status.container_statuses or []) if pod.status else []
        return any(s.state and (s.state.running or s.state.terminated) for s in statuses)

    # ---- one pod --------------------------------------------------------------------------------------

    def _serves_logs(self) -> bool:
        s = self.settings
        return s.serving_cert is not None and s.serving_key is not None and s.client_ca is not None

    def serve_logs(self) -> None:
        s = self.settings
        if s.serving_cert is None or s.serving_key is None or s.client_ca is None:
            return
        node_logs.serve(s.logs_port, s.serving_cert, s.serving_key, s.client_ca, self._log_file, self._is_running)

    def _log_file(self, namespace: str, pod: str, container: str) -> Path | None:
        for pod_dir in self.pods_dir.glob(f"{namespace}_{pod}_*"):
            return pod_dir / "containers" / container / "output.log"
        return None

    def _is_running(self, namespace: str, pod: str, container: str) -> bool:
        with self.runtimes_lock:
            runtimes = list(self.runtimes.values())
        for runtime in runtimes:
            meta = runtime.pod.metadata
            if meta.namespace == namespace and meta.name == pod:
                run = runtime.runs.get(container)
                return run is not None and run.proc.poll() is None
        return False

    def _pod_dir(self, pod: Any) -> Path:
        return self.pods_dir / f"{pod.metadata.namespace}_{pod.metadata.name}_{pod.metadata.uid}"

    def _run_pod(self, runtime: PodRuntime) -> None:
        pod = runtime.pod
        try:
            self._run_pod_steps(runtime)
        except Exception as err:
            log.exception("pod %s/%s failed in the agent", pod.metadata.namespace, pod.metadata.name)
            self._patch_status(pod, {"phase": "Failed", "reason": "NodeAgentError", "message": str(err)[:1000]})
        finally:
            if runtime.stop_requested.is_set():
                self._final_delete(runtime.pod)
            with self.runtimes_lock:
                self.finished.add(pod.metadata.uid)
                self.runtimes.pop(pod.metadata.uid, None)

    def _run_pod_steps(self, runtime: PodRuntime) -> None:
        pod = runtime.pod
        pod_dir = self._pod_dir(pod)
        containers = [c.name for c in pod.spec.containers]
        init_containers = [c.name for c in pod.spec.init_containers or []]
        # Prepare everything a process needs before any starts; config errors are retried, as kubelet does.
        # A 403 is retried too: the Node authorizer learns of a newly bound pod's Secrets and service
        # account a moment after the pod reaches this node.
        attempt = 0
        while True:
            if runtime.stop_requested.is_set():
                return
            try:
                volumes = self._prepare_volumes(pod, pod_dir)
                launches = {
                    c.name: self._launch_spec(pod, c, volumes, pod_dir)
                    for c in list(pod.spec.init_containers or []) + list(pod.spec.containers)
                }
                break
            except ContainerConfigError as err:
                self._patch_status(pod, self._waiting_status(pod, err.reason, err.message))
            except ApiException as err:
                if err.status != 403:
                    raise
                log.info("pod %s/%s: %s; retrying", pod.metadata.namespace, pod.metadata.name, err.reason)
            runtime.stop_requested.wait(min(5.0, 0.25 * 2**attempt))
            attempt += 1

        self._patch_status(
            pod,
            {
                "phase": "Pending",
                "hostIP": "127.0.0.1",
                "hostIPs": [{"ip": "127.0.0.1"}],
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "startTime": _iso(_now()),
                "conditions": [
                    self._condition("PodReadyToStartContainers", True),
                    self._condition("Initialized", not init_containers),
                ],
            },
        )
        restart_policy = pod.spec.restart_policy or "Always"

        for name in init_containers:
            run = self._start(runtime, name, launches[name])
            while run.proc.poll() is None and not runtime.stop_requested.is_set():
                time.sleep(0.2)
            if runtime.stop_requested.is_set():
                self._stop_all(runtime)
                return
            runtime.init_statuses[name] = self._terminated_status(pod, run)
            del runtime.runs[name]
            if run.proc.returncode != 0:
                self._publish(
                    runtime,
                    {
                        "phase": "Failed",
                        "reason": "InitContainerFailed",
                        "conditions": [self._condition("Initialized", False)],
                    },
                )
                return
            self._publish(runtime, {})

        for name in containers:
            run = self._start(runtime, name, launches[name])
            runtime.statuses[name] = self._running_status(pod, run)
        self._publish(
            runtime,
            {
                "phase": "Running",
                "conditions": [
                    self._condition("Initialized", True),
                    self._condition("ContainersReady", True),
                    self._condition("Ready", True),
                ],
            },
        )

        done: set[str] = set()
        while len(done) < len(containers):
            if runtime.stop_requested.is_set():
                self._stop_all(runtime)
                done = set(containers)
                break
            for name in containers:
                current = runtime.runs.get(name)
                if name in done or current is None or current.proc.poll() is None:
                    continue
                status = self._terminated_status(pod, current)
                code = current.proc.returncode
                if restart_policy == "Always" or (restart_policy == "OnFailure" and code != 0):
                    # Restart in place with a short backoff; the pod stays Running.
                    time.sleep(min(10, 2**current.restart_count))
                    if runtime.stop_requested.is_set():
                        continue
                    restarted = self._start(runtime, name, launches[name], restart_count=current.restart_count + 1)
                    runtime.statuses[name] = self._running_status(pod, restarted, last=status["state"]["terminated"])
                else:
                    runtime.statuses[name] = status
                    done.add(name)
                self._publish(runtime, {})
            time.sleep(0.2)

        codes = [runtime.statuses[name]["state"]["terminated"]["exitCode"] for name in containers]
        self._publish(
            runtime,
            {
                "phase": "Succeeded" if all(c == 0 for c in codes) else "Failed",
                "conditions": [
                    self._condition("Ready", False, "PodCompleted"),
                    self._condition("ContainersReady", False, "PodCompleted"),
                    self._condition("PodReadyToStartContainers", False),
                ],
            },
        )

    def _publish(self, runtime: PodRuntime, status: dict[str, Any]) -> None:
        """Patch the pod status with every container's latest state (the lists are replaced whole)."""
        pod = runtime.pod
        full = dict(status)
        full["containerStatuses"] = [
            runtime.statuses[c.name] for c in pod.spec.containers if c.name in runtime.statuses
        ]
        if runtime.init_statuses:
            full["initContainerStatuses"] = [
                runtime.init_statuses[c.name] for c in pod.spec.init_containers or [] if c.name in runtime.init_statuses
            ]
        self._patch_status(pod, full)

    def _start(self, runtime: PodRuntime, name: str, launch: dict[str, Any], restart_count: int = 0) -> ContainerRun:
        spec_file = Path(launch["specFile"])
        termination_file = Path(launch["terminationMessageHostPath"])
        termination_file.write_text("")
        log_file = Path(launch["logFile"])
        with open(log_file, "ab") as out:
            proc = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "--",
                    str(self.settings.venv_bin / "python"),
                    "-m",
                    "videogen_dev.container_shim",
                    str(spec_file),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Own process group: stopping the container signals everything it started.
                start_new_session=True,
            )
        run = ContainerRun(
            name=name,
            proc=proc,
            termination_file=termination_file,
            log_file=log_file,
            policy=launch["terminationMessagePolicy"],
            started_at=_now(),
            restart_count=restart_count,
        )
        with runtime.lock:
            runtime.runs[name] = run
        log.info(
            "started %s/%s container %s as pid %d",
            runtime.pod.metadata.namespace,
            runtime.pod.metadata.name,
            name,
            proc.pid,
        )
        return run

    def _stop_all(self, runtime: PodRuntime) -> None:
        """SIGTERM every live process group, SIGKILL after the grace period; record how each ended."""
        with runtime.lock:
            runs = list(runtime.runs.values())
        live = [run for run in runs if run.proc.poll() is None]
        for run in live:
            _signal_group(run.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + runtime.grace_seconds
        while time.monotonic() < deadline and any(run.proc.poll() is None for run in live):
            time.sleep(0.1)
        for run in live:
            if run.proc.poll() is None:
                _signal_group(run.proc.pid, signal.SIGKILL)
                run.proc.wait()
        main = {c.name for c in runtime.pod.spec.containers}
        for run in runs:
            target = runtime.statuses if run.name in main else runtime.init_statuses
            target[run.name] = self._terminated_status(runtime.pod, run)

    # ---- statuses -------------------------------------------------------------------------------------

    @staticmethod
    def _condition(kind: str, ok: bool, reason: str | None = None) -> dict[str, Any]:
        condition: dict[str, Any] = {
            "type": kind,
            "status": "True" if ok else "False",
            "lastTransitionTime": _iso(_now()),
        }
        if reason:
            condition["reason"] = reason
        return condition

    def _container_image(self, pod: Any, name: str) -> str:
        for c in list(pod.spec.init_containers or []) + list(pod.spec.containers):
            if c.name == name:
                return str(c.image)
        return ""

    def _waiting_status(self, pod: Any, reason: str, message: str) -> dict[str, Any]:
        return {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": c.name,
                    "image": c.image,
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {"waiting": {"reason": reason, "message": message[:1000]}},
                }
                for c in pod.spec.containers
            ],
        }

    def _running_status(self, pod: Any, run: ContainerRun, last: dict[str, Any] | None = None) -> dict[str, Any]:
        status: dict[str, Any] = {
            "name": run.name,
            "image": self._container_image(pod, run.name),
            "imageID": "",
            "containerID": f"videogen-local://{run.proc.pid}",
            "ready": True,
            "started": True,
            "restartCount": run.restart_count,
            "state": {"running": {"startedAt": _iso(run.started_at)}},
        }
        if last:
            status["lastState"] = {"terminated": last}
        return status

    def _terminated_status(self, pod: Any, run: ContainerRun) -> dict[str, Any]:
        code = run.proc.wait()
        if code < 0:  # killed by a signal: report it the way runtimes do
            code = 128 - code
        message = run.termination_file.read_text(errors="replace")[:TERMINATION_MESSAGE_LIMIT]
        if not message.strip() and code != 0 and run.policy == "FallbackToLogsOnError":
            lines = run.log_file.read_text(errors="replace").splitlines()[-FALLBACK_LOG_LINES:]
            message = "\n".join(lines)[-TERMINATION_MESSAGE_LIMIT:]
        terminated: dict[str, Any] = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": _iso(run.started_at),
            "finishedAt": _iso(_now()),
            "containerID": f"videogen-local://{run.proc.pid}",
        }
        if message:
            terminated["message"] = message
        return {
            "name": run.name,
            "image": self._container_image(pod, run.name),
            "imageID": "",
            "containerID": f"videogen-local://{run.proc.pid}",
            "ready": False,
            "started": False,
            "restartCount": run.restart_count,
            "state": {"terminated": terminated},
        }

    def _patch_status(self, pod: Any, status: dict[str, Any]) -> None:
        try:
            self.core.patch_namespaced_pod_status(
                pod.metadata.name, pod.metadata.namespace, {"status": status}, _content_type=STRATEGIC_MERGE
            )
        except ApiException as err:
            if err.status != 404:
                log.warning("status update of %s/%s failed: %s", pod.metadata.namespace, pod.metadata.name, err.reason)

    def _report_terminal_without_run(self, pod: Any, message: str) -> None:
        """Failed, with every container ended: no process of this pod runs on this node (any more)."""
        now = _iso(_now())
        ended = {"exitCode": 137, "reason": "ContainerStatusUnknown", "message": message, "finishedAt": now}
        self._patch_status(
            pod,
            {
                "phase": "Failed",
                "reason": "NodeAgentLostPod",
                "message": message,
                "conditions": [
                    self._condition("Ready", False, "PodFailed"),
                    self._condition("ContainersReady", False, "PodFailed"),
                ],
                "containerStatuses": [
                    {
                        "name": c.name,
                        "image": c.image,
                        "imageID": "",
                        "ready": False,
                        "started": False,
                        "restartCount": 0,
                        "state": {"terminated": ended},
                    }
                    for c in pod.spec.containers
                ],
            },
        )

    def _final_delete(self, pod: Any) -> None:
        # What kubelet does once containers are gone: remove the object now; finalizers (the Job
        # controller's tracking finalizer, say) still hold it until their owners let go.
        try:
            self.core.delete_namespaced_pod(
                pod.metadata.name,
                pod.metadata.namespace,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=pod.metadata.uid)
                ),
            )
        except ApiException as err:
            if err.status not in (404, 409):
                log.warning("final delete of %s/%s failed: %s", pod.metadata.namespace, pod.metadata.name, err.reason)
        shutil.rmtree(self._pod_dir(pod), ignore_errors=True)

    # ---- env and volumes -------------------------------------------------------------------------------

    def _secret(self, namespace: str, name: str) -> dict[str, str]:
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as err:
            if err.status == 404:
                raise ContainerConfigError("CreateContainerConfigError", f'secret "{name}" not found') from err
            raise
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.data or {}).items()}

    def _config_map(self, namespace: str, name: str) -> dict[str, str]:
        try:
            cm = self.core.read_namespaced_config_map(name, namespace)
        except ApiException as err:
            if err.status == 404:
                raise ContainerConfigError("CreateContainerConfigError", f'configmap "{name}" not found') from err
            raise
        return dict(cm.data or {})

    def _field_ref(self, pod: Any, path: str) -> str:
        simple = {
            "metadata.name": pod.metadata.name,
            "metadata.namespace": pod.metadata.namespace,
            "metadata.uid": pod.metadata.uid,
            "spec.nodeName": pod.spec.node_name,
            "spec.serviceAccountName": pod.spec.service_account_name or "",
            "status.hostIP": "127.0.0.1",
            "status.podIP": "127.0.0.1",
        }
        if path in simple:
            return str(simple[path])
        for prefix, values in (
            ("metadata.labels", pod.metadata.labels),
            ("metadata.annotations", pod.metadata.annotations),
        ):
            if path.startswith(prefix + "['") and path.endswith("']"):
                return str((values or {}).get(path[len(prefix) + 2 : -2], ""))
        raise ContainerConfigError(
            "CreateContainerConfigError", f"fieldRef {path!r} is not supported by the local node"
        )

    def _env(self, pod: Any, container: Any) -> dict[str, str]:
        ns = pod.metadata.namespace
        env: dict[str, str] = {}
        for source in container.env_from or []:
            prefix = source.prefix or ""
            if source.secret_ref is not None:
                data = self._optional(source.secret_ref.optional, lambda s=source: self._secret(ns, s.secret_ref.name))
            else:
                data = self._optional(
                    source.config_map_ref.optional, lambda s=source: self._config_map(ns, s.config_map_ref.name)
                )
            env.update({prefix + k: v for k, v in data.items()})
        for var in container.env or []:
            if var.value_from is None:
                env[var.name] = _expand(var.value or "", env)
                continue
            ref = var.value_from
            if ref.secret_key_ref is not None:
                value = self._key_ref(ref.secret_key_ref, "Secret", lambda name: self._secret(ns, name), ns)
            elif ref.config_map_key_ref is not None:
                value = self._key_ref(ref.config_map_key_ref, "ConfigMap", lambda name: self._config_map(ns, name), ns)
            elif ref.field_ref is not None:
                value = self._field_ref(pod, ref.field_ref.field_path)
            elif ref.resource_field_ref is not None:
                value = _resource_value(container, ref.resource_field_ref.resource)
            else:
                value = None
            if value is not None:
                env[var.name] = value
        return env

    def _key_ref(self, ref: Any, kind: str, read: Any, namespace: str) -> str | None:
        """One key of a Secret or ConfigMap; missing and not optional is a config error, as in kubelet."""
        value = self._optional(ref.optional, lambda: read(ref.name)).get(ref.key)
        if value is None and not ref.optional:
            raise ContainerConfigError(
                "CreateContainerConfigError", f"couldn't find key {ref.key} in {kind} {namespace}/{ref.name}"
            )
        return value

    @staticmethod
    def _optional(optional: bool | None, read: Any) -> dict[str, str]:
        try:
            return dict(read())
        except ContainerConfigError:
            if optional:
                return {}
            raise

    def _prepare_volumes(self, pod: Any, pod_dir: Path) -> dict[str, Path]:
        """Each volume as a host folder, by name."""
        volumes: dict[str, Path] = {}
        for volume in pod.spec.volumes or []:
            target = pod_dir / "volumes" / volume.name
            if volume.empty_dir is not None:
                target.mkdir(parents=True, exist_ok=True)
                volumes[volume.name] = target
            elif volume.host_path is not None:
                path = Path(volume.host_path.path)
                if volume.host_path.type in ("DirectoryOrCreate", None, "") and not path.exists():
                    path.mkdir(parents=True, exist_ok=True)
                volumes[volume.name] = path
            elif volume.persistent_volume_claim is not None:
                volumes[volume.name] = self._claim_path(
                    pod.metadata.namespace, volume.persistent_volume_claim.claim_name
                )
            elif volume.config_map is not None:
                data = self._optional(
                    volume.config_map.optional,
                    lambda v=volume: self._config_map(pod.metadata.namespace, v.config_map.name),
                )
                _write_files(target, data, volume.config_map.items)
                volumes[volume.name] = target
            elif volume.secret is not None:
                data = self._optional(
                    volume.secret.optional, lambda v=volume: self._secret(pod.metadata.namespace, v.secret.secret_name)
                )
                _write_files(target, data, volume.secret.items)
                volumes[volume.name] = target
            elif volume.projected is not None:
                _write_files(target, self._projected(pod, volume.projected), None)
                volumes[volume.name] = target
            else:
                raise ContainerConfigError(
                    "CreateContainerConfigError",
                    f"volume {volume.name!r}: only emptyDir, hostPath, persistentVolumeClaim "
                    "(hostPath or local PV), configMap, secret and projected volumes run "
                    "on the local node",
                )
        return volumes

    def _claim_path(self, namespace: str, claim_name: str) -> Path:
        try:
            claim = self.core.read_namespaced_persistent_volume_claim(claim_name, namespace)
        except ApiException as err:
            if err.status == 404:
                raise ContainerConfigError(
                    "CreateContainerConfigError", f'persistentvolumeclaim "{claim_name}" not found'
                ) from err
            raise
        if not claim.spec.volume_name or (claim.status and claim.status.phase != "Bound"):
            raise ContainerConfigError("ContainerCreating", f'persistentvolumeclaim "{claim_name}" is not bound')
        pv = self.core.read_persistent_volume(claim.spec.volume_name)
        source = pv.spec.host_path or pv.spec.local
        if source is None:
            raise ContainerConfigError(
                "CreateContainerConfigError", f"persistent volume {pv.metadata.name} is neither hostPath nor local"
            )
        path = Path(source.path)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _projected(self, pod: Any, projected: Any) -> dict[str, str]:
        files: dict[str, str] = {}
        ns = pod.metadata.namespace
        for source in projected.sources or []:
            if source.service_account_token is not None:
                token = self._service_account_token(pod, source.service_account_token)
                files[source.service_account_token.path] = token
            elif source.config_map is not None:
                data = self._optional(
                    source.config_map.optional, lambda s=source: self._config_map(ns, s.config_map.name)
                )
                files.update(_select(data, source.config_map.items))
            elif source.secret is not None:
                data = self._optional(source.secret.optional, lambda s=source: self._secret(ns, s.secret.name))
                files.update(_select(data, source.secret.items))
            elif source.downward_api is not None:
                for item in source.downward_api.items or []:
                    if item.field_ref is not None:
                        files[item.path] = self._field_ref(pod, item.field_ref.field_path)
        return files

    def _service_account_token(self, pod: Any, projection: Any) -> str:
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=[projection.audience] if projection.audience else [],
                expiration_seconds=projection.expiration_seconds or 3607,
                bound_object_ref=client.V1BoundObjectReference(
                    kind="Pod", api_version="v1", name=pod.metadata.name, uid=pod.metadata.uid
                ),
            )
        )
        response = self.core.create_namespaced_service_account_token(
            pod.spec.service_account_name or "default", pod.metadata.namespace, request
        )
        return str(response.status.token)

    def _launch_spec(self, pod: Any, container: Any, volumes: dict[str, Path], pod_dir: Path) -> dict[str, Any]:
        try:
            local = images.resolve(container.image)
        except images.UnknownImageError as err:
            raise ContainerConfigError("ErrImagePull", str(err)) from err
        base = pod_dir / "containers" / container.name
        base.mkdir(parents=True, exist_ok=True)
        termination_host = base / "termination-log"
        termination_host.write_text("")
        mounts = []
        for mount in container.volume_mounts or []:
            if mount.name not in volumes:
                raise ContainerConfigError("CreateContainerConfigError", f"volumeMount {mount.name!r} has no volume")
            source = volumes[mount.name]
            if mount.sub_path:
                source = source / mount.sub_path
                source.mkdir(parents=True, exist_ok=True)
            mounts.append({"source": str(source), "target": mount.mount_path, "readOnly": bool(mount.read_only)})
        mounts.append(
            {
                "source": str(termination_host),
                "target": container.termination_message_path or "/dev/termination-log",
                "readOnly": False,
            }
        )
        # A mount over an ancestor of the checkout (an emptyDir at /tmp, with the checkout under /tmp) would hide
        # the venv the container runs from: the checkout is mounted back over itself, last.
        checkout = self.settings.venv_bin.parent.parent
        if any(Path(m["target"]) == checkout or Path(m["target"]) in checkout.parents for m in mounts):
            mounts.append({"source": str(checkout), "target": str(checkout), "readOnly": False})

        uid, gid, groups = _identity(pod, container)
        if uid is not None:
            for path in [
                base,
                *(volumes[m.name] for m in container.volume_mounts or [] if pod_dir in volumes[m.name].parents),
            ]:
                os.chown(path, uid, gid if gid is not None else -1)
                path.chmod(0o775)
            os.chown(termination_host, uid, gid if gid is not None else -1)

        env = {
            "PATH": images.search_path(self.settings.venv_bin, local),
            "HOSTNAME": pod.metadata.name,
            "HOME": "/root" if uid in (None, 0) else str(base),
            "KUBERNETES_SERVICE_HOST": self.settings.apiserver_host,
            "KUBERNETES_SERVICE_PORT": str(self.settings.apiserver_port),
            "PYTHONUNBUFFERED": "1",
            **self._env(pod, container),
        }
        command = list(container.command or local.entrypoint)
        args = [_expand(a, env) for a in container.args or []]
        argv = [_expand(c, env) for c in command] + args
        spec = {
            "mounts": mounts,
            "uid": uid,
            "gid": gid,
            "groups": groups,
            "workingDir": container.working_dir or "/",
            "env": env,
            "argv": argv,
            "terminationMessageHostPath": str(termination_host),
        }
        spec_file = base / "launch.json"
        spec_file.write_text(json.dumps(spec))
        spec_file.chmod(0o600)
        return {
            "specFile": str(spec_file),
            "terminationMessageHostPath": str(termination_host),
            "logFile": str(base / "output.log"),
            "terminationMessagePolicy": container.termination_message_policy or "File",
        }

    def stop(self) -> None:
        self.stopping.set()
        with self.runtimes_lock:
            runtimes = list(self.runtimes.values())
        for runtime in runtimes:
            for run in runtime.runs.values():
                if run.proc.poll() is None:
                    _signal_group(run.proc.pid, signal.SIGKILL)


def _identity(pod: Any, container: Any) -> tuple[int | None, int | None, list[int]]:
    pod_sc = pod.spec.security_context
    sc = container.security_context
    uid = (sc.run_as_user if sc and sc.run_as_user is not None else None) or (pod_sc.run_as_user if pod_sc else None)
    gid = (sc.run_as_group if sc and sc.run_as_group is not None else None) or (pod_sc.run_as_group if pod_sc else None)
    groups = []
    if pod_sc and pod_sc.fs_group is not None:
        groups.append(pod_sc.fs_group)
    if pod_sc and pod_sc.supplemental_groups:
        groups.extend(pod_sc.supplemental_groups)
    if uid is not None and gid is None:
        gid = groups[0] if groups else uid
    return uid, gid, groups


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion; $$(VAR) escapes."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$(", i):
            out.append("$(")
            i += 3
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2 : end]
            out.append(env.get(name, value[i : end + 1]))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _resource_value(container: Any, resource: str) -> str:
    kind, _, name = resource.partition(".")
    values = getattr(container.resources, kind, None) or {}
    return str(values.get(name, "0"))


def _select(data: dict[str, str], items: Any) -> dict[str, str]:
    if not items:
        return data
    return {item.path: data[item.key] for item in items if item.key in data}


def _write_files(target: Path, data: dict[str, str], items: Any) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for rel, content in _select(data, items).items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def _shut_down_watch(watcher: Any) -> None:
    response = getattr(watcher, "_resp", None)
    if response is not None:
        log.warning("pod watch overran its deadline; closing it to relist")
        with contextlib.suppress(Exception):
            response.shutdown()
            response.release_conn()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = NodeAgentSettings()  # type: ignore[call-arg]  # required fields come from the environment
    agent = NodeAgent(settings)
    agent.serve_logs()
    agent.register()

    def on_term(signum: int, frame: Any) -> None:
        agent.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    threading.Thread(target=agent.heartbeat_forever, daemon=True, name="heartbeat").start()
    agent.watch_forever()


if __name__ == "__main__":
    main()
