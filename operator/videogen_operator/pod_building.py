"""What every Job the operator creates shares: its skeleton (owner, labels, failure policy, a restricted pod) and where
its pod may run. ``runner_job`` and ``download_job`` add their container and volumes.

The pods meet Pod Security "restricted" and carry no service account token: neither the runner nor the download
talks to Kubernetes (they answer through S3 and their termination message).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from videogen_common.resources.meta import (
    API_VERSION,
    LABEL_MANAGED_BY,
    LABEL_VIDEOJOB,
    LABEL_VIDEOJOB_UID,
    LABEL_VIDEOMODEL,
    LABEL_VIDEOMODEL_UID,
    MANAGED_BY_OPERATOR,
)
from videogen_common.resources.objects import VideoJob, VideoModel
from videogen_common.resources.videojob import Scheduling, VideoJobSpec
from videogen_operator.settings import OperatorSettings

RESTRICTED_CONTAINER_SECURITY: Final[Mapping[str, Any]] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def standard_labels(component: str, instance: str) -> dict[str, str]:
    """The ``app.kubernetes.io/*`` labels for a child object."""
    return {
        "app.kubernetes.io/name": "videogen",
        "app.kubernetes.io/part-of": "videogen",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/instance": instance,
        LABEL_MANAGED_BY: MANAGED_BY_OPERATOR,
    }


def child_labels(owner: VideoJob | VideoModel, component: str) -> dict[str, str]:
    """The labels of a Job and its pods: the standard ones and the owner's name and uid, by which the operator's
    indexes find an object's children without listing."""
    if isinstance(owner, VideoJob):
        owned = {LABEL_VIDEOJOB: owner.name, LABEL_VIDEOJOB_UID: owner.uid}
    else:
        owned = {LABEL_VIDEOMODEL: owner.name, LABEL_VIDEOMODEL_UID: owner.uid}
    return standard_labels(component, owner.name) | owned


def owner_reference(owner: VideoJob | VideoModel) -> dict[str, Any]:
    """A controller owner reference to a VideoJob or VideoModel: its children go when it goes."""
    return {
        "apiVersion": API_VERSION,
        "kind": owner.kind,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def restricted_pod_security(settings: OperatorSettings) -> dict[str, Any]:
    """Pod-level securityContext meeting Pod Security "restricted"."""
    context: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if settings.runner_run_as_user is not None:
        uid = settings.runner_run_as_user
        context |= {"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid}
    return context


def batch_job(
    owner: VideoJob | VideoModel,
    settings: OperatorSettings,
    *,
    name: str,
    labels: Mapping[str, str],
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
    placement: Mapping[str, Any],
    backoff_limit: int,
    active_deadline_seconds: int,
    fail_job_exit_codes: Sequence[int],
    service_account: str | None = None,
    job_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A batch/v1 Job (a plain dict, as the API takes it) running ``container`` in a restricted pod.

    Exit codes in ``fail_job_exit_codes`` fail the Job at once (a retry would fail the same way); a pod evicted or
    preempted is not the container's fault and costs no retry.
    """
    pod_spec: dict[str, Any] = {
        # podFailurePolicy needs Never: every attempt is a new pod the Job controller counts.
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # The pod's sandbox (pause) is then PID 1, not our process: the kernel drops a SIGTERM to a PID 1 that has
        # no handler yet, so a pod deleted in its first second (Python starting, before the runner's SIGTERM
        # handler) would go on, generating and uploading, until the grace period's SIGKILL. Not PID 1, the process
        # dies of that SIGTERM's default action. One container, so nothing else shares the namespace.
        "shareProcessNamespace": True,
        "securityContext": restricted_pod_security(settings),
        "containers": [container],
        "volumes": volumes,
        **placement,
    }
    if service_account is not None:
        pod_spec["serviceAccountName"] = service_account
    if settings.image_pull_secrets:
        # A private registry's credentials: the runner and download images come from the same registry as the chart's.
        pod_spec["imagePullSecrets"] = [{"name": name} for name in settings.image_pull_secrets]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": dict(job_labels if job_labels is not None else labels),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "backoffLimit": backoff_limit,
            "activeDeadlineSeconds": active_deadline_seconds,
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": container["name"],
                            "operator": "In",
                            "values": list(fail_job_exit_codes),
                        },
                    },
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                ]
            },
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


# --- placement -----------------------------------------------------------------------------------------------


def _toleration(value: Mapping[str, Any]) -> dict[str, Any]:
    """A toleration in a comparable form (Kubernetes reads a missing operator as Equal)."""
    return {"operator": "Equal"} | {k: v for k, v in value.items() if v is not None}


def _allowed(values: Iterable[str]) -> str:
    listed = ", ".join(sorted(values))
    return listed if listed else "none"


def priority_problem(spec: VideoJobSpec, settings: OperatorSettings) -> str | None:
    """Why spec.priority is above the installation's ceiling without the PriorityClass that would allow it.

    The rule: a priority up to ``max_priority`` is anyone's; above it, the VideoJob must also name a PriorityClass in
    spec.scheduling.priorityClassName, which must be one of ``allowed_priority_classes`` (checked with the other
    overrides). Whoever may use an allowed class outranks others in the cluster already, so they may in the queue too.
    """
    ceiling = settings.max_priority
    if ceiling is None or spec.priority <= ceiling:
        return None
    if spec.scheduling is not None and spec.scheduling.priority_class_name is not None:
        return None
    return (
        f"spec.priority {spec.priority} is above the ceiling {ceiling} (setting max_priority, chart value "
        f"queue.maxPriority): lower it to {ceiling} or less, or also set spec.scheduling.priorityClassName to an "
        f"allowed PriorityClass (allowed: {_allowed(settings.allowed_priority_classes)}; setting "
        "allowed_priority_classes)"
    )


def scheduling_problem(spec: VideoJobSpec, settings: OperatorSettings) -> str | None:
    """Why spec.scheduling (or spec.priority) asks for something the operator's allow-lists do not hold (None when
    all is allowed).

    The allowed sets are settings, not CRD rules, because they differ per installation and change without a CRD
    upgrade; so the operator, not the apiserver, refuses, and names the field and the values it would accept.
    """
    problems = [p] if (p := priority_problem(spec, settings)) is not None else []
    wanted = spec.scheduling
    if wanted is None:
        return "; ".join(problems) or None
    for field, value, allowed, setting in (
        (
            "priorityClassName",
            wanted.priority_class_name,
            settings.allowed_priority_classes,
            "allowed_priority_classes",
        ),
        ("runtimeClassName", wanted.runtime_class_name, settings.allowed_runtime_classes, "allowed_runtime_classes"),
    ):
        if value is not None and value not in allowed:
            problems.append(
                f"spec.scheduling.{field} {value!r} is not allowed (allowed: {_allowed(allowed)}; setting {setting})"
            )
    for key, value in sorted((wanted.node_selector or {}).items()):
        if value not in settings.allowed_node_selectors.get(key, []):
            pairs = (f"{k}={v}" for k, values in settings.allowed_node_selectors.items() for v in values)
            problems.append(
                f"spec.scheduling.nodeSelector {key}={value} is not allowed "
                f"(allowed: {_allowed(pairs)}; setting allowed_node_selectors)"
            )
    allowed_tolerations = [_toleration(t) for t in settings.allowed_tolerations]
    for toleration in wanted.tolerations or []:
        asked = toleration.to_wire()
        if _toleration(asked) not in allowed_tolerations:
            listed = [json.dumps(t, sort_keys=True) for t in allowed_tolerations]
            problems.append(
                f"spec.scheduling.tolerations {json.dumps(asked, sort_keys=True)} is not allowed "
                f"(allowed: {_allowed(listed)}; setting allowed_tolerations)"
            )
    return "; ".join(problems) or None


def runner_placement(settings: OperatorSettings, wanted: Scheduling | None = None) -> dict[str, Any]:
    """nodeSelector, tolerations, affinity, runtimeClassName and priorityClassName of a generation pod, where set:
    the settings, with the VideoJob's spec.scheduling (which ``scheduling_problem`` has found allowed) on top."""
    wanted = wanted or Scheduling()
    tolerations = [dict(t) for t in settings.tolerations]
    tolerations += [t for t in (w.to_wire() for w in wanted.tolerations or []) if t not in tolerations]
    fields: dict[str, Any] = {
        "nodeSelector": dict(settings.node_selector) | dict(wanted.node_selector or {}),
        "tolerations": tolerations,
        "affinity": settings.affinity,
        "runtimeClassName": wanted.runtime_class_name or settings.runtime_class_name,
        "priorityClassName": wanted.priority_class_name or settings.priority_class_name,
    }
    return {k: v for k, v in fields.items() if v}


def download_placement(settings: OperatorSettings) -> dict[str, Any]:
    """Where download pods run: any node that can mount the cache (a CPU pool is enough)."""
    fields: dict[str, Any] = {
        "nodeSelector": dict(settings.download_node_selector),
        "tolerations": [dict(t) for t in settings.download_tolerations],
    }
    return {k: v for k, v in fields.items() if v}
