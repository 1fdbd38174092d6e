"""One pod's run on this node, from its volumes to its end: prepare, init containers, containers, stop, delete.

`run_pod` runs in a thread of its own per pod (see `pods`). It prepares every container's launch spec before
any starts, retrying while a reference does not resolve; runs init containers one at a time; starts the
containers, restarting them as `restartPolicy` says; and reports each step. A stop request (the pod is being
deleted) ends every container with SIGTERM, then SIGKILL after the grace period, and deletes the pod.
"""

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from videogen_dev.node import status
from videogen_dev.node.apiserver import now
from videogen_dev.node.launch import Launch, launch_spec, pod_dir
from videogen_dev.node.references import ContainerConfigError
from videogen_dev.node.runtime import ContainerRuntime
from videogen_dev.node.settings import NodeAgentSettings
from videogen_dev.node.state import ContainerRun, PodRun
from videogen_dev.node.volumes import prepare_volumes

log = logging.getLogger("videogen.node-agent")

# How often the loops look at their containers' processes.
POLL_SECONDS = 0.2


def run_pod(core: Any, settings: NodeAgentSettings, runtime: ContainerRuntime, pod_run: PodRun) -> None:
    """Run the pod to its end; a failure of the agent itself fails the pod. A stopped pod is deleted after."""
    pod = pod_run.pod
    try:
        _run_pod_steps(core, settings, runtime, pod_run)
    except Exception as err:
        log.exception("pod %s/%s failed in the agent", pod.metadata.namespace, pod.metadata.name)
        status.patch_status(core, pod, {"phase": "Failed", "reason": "NodeAgentError", "message": str(err)[:1000]})
    finally:
        if pod_run.stop_requested.is_set():
            final_delete(core, settings.pods_dir, pod_run.pod)


def _run_pod_steps(core: Any, settings: NodeAgentSettings, runtime: ContainerRuntime, pod_run: PodRun) -> None:
    pod = pod_run.pod
    launches = _prepare(core, settings, pod_run)
    if launches is None:
        return
    init_containers = [c.name for c in pod.spec.init_containers or []]
    status.patch_status(core, pod, status.pod_started(initialized=not init_containers))
    if _run_init_containers(core, runtime, pod_run, init_containers, launches):
        _run_containers(core, runtime, pod_run, launches)


def _prepare(core: Any, settings: NodeAgentSettings, pod_run: PodRun) -> dict[str, Launch] | None:
    """Every container's launch spec, init containers included; None if the pod is stopped meanwhile.

    Prepare everything a process needs before any starts; config errors are retried, as kubelet does. A 403
    is retried too: the Node authorizer learns of a newly bound pod's Secrets and service account a moment
    after the pod reaches this node.
    """
    pod = pod_run.pod
    folder = pod_dir(settings.pods_dir, pod)
    attempt = 0
    while True:
        if pod_run.stop_requested.is_set():
            return None
        try:
            volumes = prepare_volumes(core, pod, folder)
            return {
                c.name: launch_spec(core, settings, pod, c, volumes, folder)
                for c in list(pod.spec.init_containers or []) + list(pod.spec.containers)
            }
        except ContainerConfigError as err:
            status.patch_status(core, pod, status.waiting_status(pod, err.reason, err.message))
        except ApiException as err:
            if err.status != 403:
                raise
            log.info("pod %s/%s: %s; retrying", pod.metadata.namespace, pod.metadata.name, err.reason)
        pod_run.stop_requested.wait(min(5.0, 0.25 * 2**attempt))
        attempt += 1


def _run_init_containers(
    core: Any, runtime: ContainerRuntime, pod_run: PodRun, names: list[str], launches: dict[str, Launch]
) -> bool:
    """Each init container in order, to its end; whether all succeeded (and the pod was not stopped)."""
    pod = pod_run.pod
    for name in names:
        run = _start(runtime, pod_run, name, launches[name])
        while run.container.exit_code() is None and not pod_run.stop_requested.is_set():
            time.sleep(POLL_SECONDS)
        if pod_run.stop_requested.is_set():
            stop_all(pod_run)
            return False
        pod_run.init_statuses[name] = status.terminated_status(pod, run)
        del pod_run.runs[name]
        if run.container.exit_code() != 0:
            status.publish(core, pod_run, status.init_failed())
            return False
        status.publish(core, pod_run, {})
    return True


def _run_containers(core: Any, runtime: ContainerRuntime, pod_run: PodRun, launches: dict[str, Launch]) -> None:
    """Start the containers, restart them as restartPolicy says, and report the pod's end."""
    pod = pod_run.pod
    containers = [c.name for c in pod.spec.containers]
    restart_policy = pod.spec.restart_policy or "Always"
    for name in containers:
        run = _start(runtime, pod_run, name, launches[name])
        pod_run.statuses[name] = status.running_status(pod, run)
    status.publish(core, pod_run, status.pod_running())

    done: set[str] = set()
    while len(done) < len(containers):
        if pod_run.stop_requested.is_set():
            stop_all(pod_run)
            done = set(containers)
            break
        for name in containers:
            current = pod_run.runs.get(name)
            if name in done or current is None or current.container.exit_code() is None:
                continue
            ended = status.terminated_status(pod, current)
            code = current.container.exit_code()
            if restart_policy == "Always" or (restart_policy == "OnFailure" and code != 0):
                # Restart in place with a short backoff; the pod stays Running.
                time.sleep(min(10, 2**current.restart_count))
                if pod_run.stop_requested.is_set():
                    continue
                restarted = _start(runtime, pod_run, name, launches[name], restart_count=current.restart_count + 1)
                pod_run.statuses[name] = status.running_status(pod, restarted, last=ended["state"]["terminated"])
            else:
                pod_run.statuses[name] = ended
                done.add(name)
            status.publish(core, pod_run, {})
        time.sleep(POLL_SECONDS)

    codes = [pod_run.statuses[name]["state"]["terminated"]["exitCode"] for name in containers]
    status.publish(core, pod_run, status.pod_completed(succeeded=all(c == 0 for c in codes)))


def _start(
    runtime: ContainerRuntime, pod_run: PodRun, name: str, launch: Launch, restart_count: int = 0
) -> ContainerRun:
    # Each run's termination message is its own.
    launch.termination_file.write_text("")
    run = ContainerRun(
        name=name, container=runtime.start(launch), launch=launch, started_at=now(), restart_count=restart_count
    )
    with pod_run.lock:
        pod_run.runs[name] = run
    meta = pod_run.pod.metadata
    log.info("started %s/%s container %s as %s", meta.namespace, meta.name, name, run.container.container_id)
    return run


def stop_all(pod_run: PodRun) -> None:
    """SIGTERM every live container, SIGKILL after the grace period; record how each ended."""
    with pod_run.lock:
        runs = list(pod_run.runs.values())
    live = [run for run in runs if run.container.exit_code() is None]
    for run in live:
        run.container.terminate()
    deadline = time.monotonic() + pod_run.grace_seconds
    while time.monotonic() < deadline and any(run.container.exit_code() is None for run in live):
        time.sleep(0.1)
    for run in live:
        if run.container.exit_code() is None:
            run.container.kill()
            run.container.wait()
    main = {c.name for c in pod_run.pod.spec.containers}
    for run in runs:
        target = pod_run.statuses if run.name in main else pod_run.init_statuses
        target[run.name] = status.terminated_status(pod_run.pod, run)


def final_delete(core: Any, pods_dir: Path, pod: Any) -> None:
    """What kubelet does once containers are gone: remove the object now, and the pod's folder.

    Finalizers (the Job controller's tracking finalizer, say) still hold the object until their owners let go.
    """
    try:
        core.delete_namespaced_pod(
            pod.metadata.name,
            pod.metadata.namespace,
            body=client.V1DeleteOptions(
                grace_period_seconds=0, preconditions=client.V1Preconditions(uid=pod.metadata.uid)
            ),
        )
    except ApiException as err:
        if err.status not in (404, 409):
            log.warning("final delete of %s/%s failed: %s", pod.metadata.namespace, pod.metadata.name, err.reason)
    shutil.rmtree(pod_dir(pods_dir, pod), ignore_errors=True)
