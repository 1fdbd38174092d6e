"""VideoJob -> the batch/v1 Job that runs the runner: a pure function of the VideoJob, its model and the settings.

The Job is named after the VideoJob, so a create repeated after a crash meets AlreadyExists instead of making a
second Job. Everything the runner needs travels in the pod template (the RunnerInput as an env variable), so the
Job needs no other object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from videogen_common.names import is_output_filename, output_kind
from videogen_common.runner_contract import (
    INPUT_ENV,
    ExitCode,
    ModelRef,
    OutputLocation,
    OutputSpec,
    ProgressLocation,
    RunnerInput,
    RuntimeOptions,
    VideoJobRef,
    VideoJobSpec,
)
from videogen_operator.model_resolution import ResolvedModel
from videogen_operator.resources import (
    LABEL_KUEUE_QUEUE,
    LABEL_VIDEOJOB,
    LABEL_VIDEOJOB_UID,
    RUNNER_CONTAINER,
    owner_reference,
    standard_labels,
)
from videogen_operator.settings import OperatorSettings

#: Exit codes for which a retry would fail the same way (the contract's FailJob codes).
FAIL_JOB_EXIT_CODES: tuple[int, ...] = tuple(int(c) for c in ExitCode if c != ExitCode.SUCCEEDED and not c.retriable)
TMP_MOUNT = "/tmp"
#: Where the compile cache folder (setting compile_cache_subpath) is mounted in generation pods.
COMPILE_CACHE_MOUNT = "/compile-cache"


def job_name(videojob: Mapping[str, Any]) -> str:
    """The Job's name is the VideoJob's (the CRD caps it at 63 characters, the Job name limit for pod labels)."""
    return str(videojob["metadata"]["name"])


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def output_file(videojob: Mapping[str, Any]) -> str:
    """``<kind>_<YYYYMMDD>_<HHMMSS>_<6 hex>.mp4`` from the creation time and the uid.

    Derived rather than random so that every retry, and every operator restart, writes the same key.
    """
    meta = videojob["metadata"]
    created = parse_time(meta["creationTimestamp"])
    digest = hashlib.sha256(str(meta["uid"]).encode()).hexdigest()[:6]
    name = f"{output_kind(videojob['spec']['mode'])}_{created:%Y%m%d_%H%M%S}_{digest}.mp4"
    assert is_output_filename(name), name
    return name


def output_location(videojob: Mapping[str, Any], settings: OperatorSettings) -> OutputLocation:
    spec_output = OutputSpec.model_validate(videojob["spec"].get("output") or {})
    bucket = spec_output.bucket or settings.output_bucket
    prefix = settings.output_prefix if spec_output.prefix is None else spec_output.prefix
    return OutputLocation.for_video(bucket, prefix, output_file(videojob))


def videojob_ref(videojob: Mapping[str, Any]) -> VideoJobRef:
    meta = videojob["metadata"]
    return VideoJobRef(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])


def progress_location(videojob: Mapping[str, Any], settings: OperatorSettings) -> ProgressLocation:
    return ProgressLocation.for_videojob(settings.output_bucket, settings.progress_prefix, videojob_ref(videojob))


def runner_input(videojob: Mapping[str, Any], model: ResolvedModel, settings: OperatorSettings) -> RunnerInput:
    # The runner reports the repo id it ran, not the VideoModel name the user wrote.
    spec = VideoJobSpec.model_validate({**videojob["spec"], "model": model.repo_id})
    return RunnerInput(
        videojob=videojob_ref(videojob),
        spec=spec,
        model=ModelRef(path=model.path, revision=model.revision),
        output=output_location(videojob, settings),
        progress=progress_location(videojob, settings),
        runtime=runtime_options(settings),
    )


def runtime_options(settings: OperatorSettings) -> RuntimeOptions:
    """The installation's RuntimeOptions, pointed at the compile cache mount when there is one."""
    if settings.compile_cache_subpath is None:
        return settings.runner_runtime
    return settings.runner_runtime.model_copy(update={"compile_cache_dir": COMPILE_CACHE_MOUNT})


def queue_name(videojob: Mapping[str, Any], settings: OperatorSettings) -> str | None:
    """The Kueue LocalQueue this VideoJob goes to, if any (then Kueue, not our cap, admits it)."""
    value = videojob["spec"].get("queueName") or settings.default_queue_name
    return str(value) if value else None


def restricted_pod_security(settings: OperatorSettings) -> dict[str, Any]:
    """Pod-level securityContext meeting Pod Security "restricted"."""
    context: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if settings.runner_run_as_user is not None:
        uid = settings.runner_run_as_user
        context |= {"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid}
    return context


RESTRICTED_CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def s3_env(settings: OperatorSettings, endpoint_url: str | None, region: str, path_style: bool) -> list[dict[str, Any]]:
    """The runner's VIDEOGEN_S3_* variables; the keys come from the Secret, never inline."""

    def secret(name: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": settings.s3_secret_name, "key": key}}}

    env = [
        secret("VIDEOGEN_S3_ACCESS_KEY_ID", settings.s3_secret_access_key_id_key),
        secret("VIDEOGEN_S3_SECRET_ACCESS_KEY", settings.s3_secret_secret_access_key_key),
        {"name": "VIDEOGEN_S3_REGION", "value": region},
        {"name": "VIDEOGEN_S3_FORCE_PATH_STYLE", "value": "true" if path_style else "false"},
    ]
    endpoint = settings.runner_s3_endpoint_url or endpoint_url
    if endpoint:
        env.insert(0, {"name": "VIDEOGEN_S3_ENDPOINT_URL", "value": endpoint})
    return env


def _toleration(value: Mapping[str, Any]) -> dict[str, Any]:
    """A toleration in a comparable form (Kubernetes reads a missing operator as Equal)."""
    return {"operator": "Equal"} | {k: v for k, v in value.items() if v is not None}


def _allowed(values: Iterable[str]) -> str:
    listed = ", ".join(sorted(values))
    return listed if listed else "none"


def scheduling_problem(spec: Mapping[str, Any], settings: OperatorSettings) -> str | None:
    """Why spec.scheduling asks for something the operator's allow-lists do not hold (None when all is allowed).

    The allowed sets are settings, not CRD rules, because they differ per installation and change without a CRD
    upgrade; so the operator, not the apiserver, refuses, and names the field and the values it would accept.
    """
    wanted = spec.get("scheduling") or {}
    problems = []
    for field, allowed, setting in (
        ("priorityClassName", settings.allowed_priority_classes, "allowed_priority_classes"),
        ("runtimeClassName", settings.allowed_runtime_classes, "allowed_runtime_classes"),
    ):
        value = wanted.get(field)
        if value is not None and value not in allowed:
            problems.append(
                f"spec.scheduling.{field} {value!r} is not allowed (allowed: {_allowed(allowed)}; setting {setting})"
            )
    for key, value in sorted((wanted.get("nodeSelector") or {}).items()):
        if value not in settings.allowed_node_selectors.get(key, []):
            pairs = (f"{k}={v}" for k, values in settings.allowed_node_selectors.items() for v in values)
            problems.append(
                f"spec.scheduling.nodeSelector {key}={value} is not allowed "
                f"(allowed: {_allowed(pairs)}; setting allowed_node_selectors)"
            )
    allowed_tolerations = [_toleration(t) for t in settings.allowed_tolerations]
    for toleration in wanted.get("tolerations") or []:
        if _toleration(toleration) not in allowed_tolerations:
            listed = [json.dumps(t, sort_keys=True) for t in allowed_tolerations]
            problems.append(
                f"spec.scheduling.tolerations {json.dumps(toleration, sort_keys=True)} is not allowed "
                f"(allowed: {_allowed(listed)}; setting allowed_tolerations)"
            )
    return "; ".join(problems) or None


def scheduling(settings: OperatorSettings, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """nodeSelector, tolerations, affinity, runtimeClassName and priorityClassName, where set: the settings, with
    the VideoJob's spec.scheduling overrides (which ``scheduling_problem`` has found allowed) on top."""
    wanted = (spec or {}).get("scheduling") or {}
    tolerations = [dict(t) for t in settings.tolerations]
    tolerations += [dict(t) for t in wanted.get("tolerations") or [] if dict(t) not in tolerations]
    fields: dict[str, Any] = {
        "nodeSelector": dict(settings.node_selector) | dict(wanted.get("nodeSelector") or {}),
        "tolerations": tolerations,
        "affinity": settings.affinity,
        "runtimeClassName": wanted.get("runtimeClassName") or settings.runtime_class_name,
        "priorityClassName": wanted.get("priorityClassName") or settings.priority_class_name,
    }
    return {k: v for k, v in fields.items() if v}


def desired_job(
    videojob: Mapping[str, Any],
    model: ResolvedModel,
    settings: OperatorSettings,
    *,
    s3_endpoint_url: str | None = None,
    s3_region: str = "us-east-1",
    s3_path_style: bool = True,
) -> dict[str, Any]:
    """The complete batch/v1 Job for this VideoJob (a plain dict, ready for create_namespaced_job)."""
    meta = videojob["metadata"]
    spec = videojob["spec"]
    if (problem := scheduling_problem(spec, settings)) is not None:
        raise ValueError(problem)
    name = job_name(videojob)
    labels = standard_labels("runner", name) | {LABEL_VIDEOJOB: name, LABEL_VIDEOJOB_UID: str(meta["uid"])}
    job_labels = dict(labels)
    queue = queue_name(videojob, settings)
    if queue:
        job_labels[LABEL_KUEUE_QUEUE] = queue
    gpus = int(spec.get("gpus", 1))
    limits: dict[str, str] = {}
    if gpus > 0:
        limits["nvidia.com/gpu"] = str(gpus)
    if settings.runner_memory_limit:
        limits["memory"] = settings.runner_memory_limit
    env = [
        {"name": INPUT_ENV, "value": runner_input(videojob, model, settings).to_json()},
        *s3_env(settings, s3_endpoint_url, s3_region, s3_path_style),
        *({"name": k, "value": v} for k, v in sorted(settings.runner_env.items())),
    ]
    container: dict[str, Any] = {
        "name": RUNNER_CONTAINER,
        "image": settings.runner_image,
        "imagePullPolicy": settings.runner_image_pull_policy,
        "command": list(settings.runner_command),
        "env": env,
        "resources": {
            "requests": {"cpu": settings.runner_cpu_request, "memory": settings.runner_memory_request},
            "limits": limits,
        },
        "securityContext": dict(RESTRICTED_CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": "model-cache", "mountPath": settings.model_cache_mount_path, "readOnly": True},
            {"name": "tmp", "mountPath": TMP_MOUNT},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
        # The RunResult JSON; a crash before it is written still leaves the log tail as the message.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if settings.compile_cache_subpath is not None:
        container["volumeMounts"].append(
            {"name": "model-cache", "mountPath": COMPILE_CACHE_MOUNT, "subPath": settings.compile_cache_subpath}
        )
    pod_spec: dict[str, Any] = {
        # podFailurePolicy needs Never: every attempt is a new pod the Job controller counts.
        "restartPolicy": "Never",
        "serviceAccountName": settings.runner_service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": restricted_pod_security(settings),
        "containers": [container],
        "volumes": [
            {
                "name": "model-cache",
                # Read-only for the whole volume unless a compile cache folder in it must be writable; the weights'
                # own mount is read-only either way.
                "persistentVolumeClaim": {
                    "claimName": settings.model_cache_pvc,
                    "readOnly": settings.compile_cache_subpath is None,
                },
            },
            {"name": "tmp", "emptyDir": {"sizeLimit": settings.tmp_size_limit}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": settings.shm_size_limit}},
        ],
        **scheduling(settings, spec),
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": job_labels,
            "ownerReferences": [owner_reference("VideoJob", dict(videojob))],
        },
        "spec": {
            "backoffLimit": int(spec.get("maxRetries", 2)),
            "activeDeadlineSeconds": int(spec.get("activeDeadlineSeconds", 3600)),
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            "podReplacementPolicy": "Failed",
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": RUNNER_CONTAINER,
                            "operator": "In",
                            "values": list(FAIL_JOB_EXIT_CODES),
                        },
                    },
                    # An evicted or preempted pod is not the runner's fault: do not spend a retry on it.
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                ]
            },
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
