"""Pod and container status documents as kubelet writes them, and the patches that report them.

Statuses are strategic-merge patches of the pod's status subresource: conditions merge by type, while the
container status lists are replaced whole, so every patch carries every container's latest state.
"""

import logging
from typing import Any

from kubernetes.client.exceptions import ApiException

from videogen_dev.node.apiserver import STRATEGIC_MERGE, now, rfc3339
from videogen_dev.node.state import ContainerRun, PodRun

log = logging.getLogger("videogen.node-agent")

TERMINATION_MESSAGE_LIMIT = 4096
FALLBACK_LOG_LINES = 80


def condition(kind: str, ok: bool, reason: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastTransitionTime": rfc3339(now()),
    }
    if reason:
        doc["reason"] = reason
    return doc


def pod_started(initialized: bool) -> dict[str, Any]:
    """Volumes and launch specs are ready: the pod has its (loopback) IPs and starts its containers."""
    return {
        "phase": "Pending",
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": "127.0.0.1",
        "podIPs": [{"ip": "127.0.0.1"}],
        "startTime": rfc3339(now()),
        "conditions": [condition("PodReadyToStartContainers", True), condition("Initialized", initialized)],
    }


def init_failed() -> dict[str, Any]:
    return {"phase": "Failed", "reason": "InitContainerFailed", "conditions": [condition("Initialized", False)]}


def pod_running() -> dict[str, Any]:
    return {
        "phase": "Running",
        "conditions": [
            condition("Initialized", True),
            condition("ContainersReady", True),
            condition("Ready", True),
        ],
    }


def pod_completed(succeeded: bool) -> dict[str, Any]:
    return {
        "phase": "Succeeded" if succeeded else "Failed",
        "conditions": [
            condition("Ready", False, "PodCompleted"),
            condition("ContainersReady", False, "PodCompleted"),
            condition("PodReadyToStartContainers", False),
        ],
    }


def _container_image(pod: Any, name: str) -> str:
    for c in list(pod.spec.init_containers or []) + list(pod.spec.containers):
        if c.name == name:
            return str(c.image)
    return ""


def waiting_status(pod: Any, reason: str, message: str) -> dict[str, Any]:
    """Pending, every container waiting with this reason (a config error the agent retries)."""
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


def running_status(pod: Any, run: ContainerRun, last: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": run.name,
        "image": _container_image(pod, run.name),
        "imageID": "",
        "containerID": run.container.container_id,
        "ready": True,
        "started": True,
        "restartCount": run.restart_count,
        "state": {"running": {"startedAt": rfc3339(run.started_at)}},
    }
    if last:
        status["lastState"] = {"terminated": last}
    return status


def terminated_status(pod: Any, run: ContainerRun) -> dict[str, Any]:
    """Waits for the container to end, then reports its exit code and termination message."""
    code = run.container.wait()
    message = run.launch.termination_file.read_text(errors="replace")[:TERMINATION_MESSAGE_LIMIT]
    if not message.strip() and code != 0 and run.launch.termination_policy == "FallbackToLogsOnError":
        lines = run.launch.log_file.read_text(errors="replace").splitlines()[-FALLBACK_LOG_LINES:]
        message = "\n".join(lines)[-TERMINATION_MESSAGE_LIMIT:]
    terminated: dict[str, Any] = {
        "exitCode": code,
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": rfc3339(run.started_at),
        "finishedAt": rfc3339(now()),
        "containerID": run.container.container_id,
    }
    if message:
        terminated["message"] = message
    return {
        "name": run.name,
        "image": _container_image(pod, run.name),
        "imageID": "",
        "containerID": run.container.container_id,
        "ready": False,
        "started": False,
        "restartCount": run.restart_count,
        "state": {"terminated": terminated},
    }


def lost_pod_status(pod: Any, message: str) -> dict[str, Any]:
    """Failed, with every container ended: no process of this pod runs on this node (any more)."""
    ended = {"exitCode": 137, "reason": "ContainerStatusUnknown", "message": message, "finishedAt": rfc3339(now())}
    return {
        "phase": "Failed",
        "reason": "NodeAgentLostPod",
        "message": message,
        "conditions": [
            condition("Ready", False, "PodFailed"),
            condition("ContainersReady", False, "PodFailed"),
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
    }


def patch_status(core: Any, pod: Any, status: dict[str, Any]) -> None:
    try:
        core.patch_namespaced_pod_status(
            pod.metadata.name, pod.metadata.namespace, {"status": status}, _content_type=STRATEGIC_MERGE
        )
    except ApiException as err:
        if err.status != 404:
            log.warning("status update of %s/%s failed: %s", pod.metadata.namespace, pod.metadata.name, err.reason)


def publish(core: Any, pod_run: PodRun, status: dict[str, Any]) -> None:
    """Patch the pod status with every container's latest state (the lists are replaced whole)."""
    pod = pod_run.pod
    full = dict(status)
    full["containerStatuses"] = [pod_run.statuses[c.name] for c in pod.spec.containers if c.name in pod_run.statuses]
    if pod_run.init_statuses:
        full["initContainerStatuses"] = [
            pod_run.init_statuses[c.name] for c in pod.spec.init_containers or [] if c.name in pod_run.init_statuses
        ]
    patch_status(core, pod, full)
