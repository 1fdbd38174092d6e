"""VideoJob -> the batch/v1 Job that runs the runner: a pure function of the VideoJob, its model and the settings.

The Job is named after the VideoJob, so a create repeated after a crash meets AlreadyExists instead of making a
second Job. Everything the runner needs travels in the pod template (the RunnerInput as an env variable), so the
Job needs no other object.
"""

from __future__ import annotations

from typing import Any, Final

from videogen_common import logs, tracing
from videogen_common.model_choice import ResolvedModel
from videogen_common.resources.meta import ANNOTATION_REQUEST_ID, LABEL_KUEUE_QUEUE
from videogen_common.resources.objects import VideoJob
from videogen_common.runner_contract import INPUT_ENV, ExitCode, ModelRef, RunnerInput, RuntimeOptions
from videogen_operator import naming, pod_building
from videogen_operator.settings import OperatorSettings

#: Exit codes for which a retry would fail the same way (the contract's FailJob codes).
FAIL_JOB_EXIT_CODES: Final = tuple(int(c) for c in ExitCode if c != ExitCode.SUCCEEDED and not c.retriable)
TMP_MOUNT: Final = "/tmp"
#: Where the compile cache folder (setting compile_cache_subpath) is mounted in generation pods.
COMPILE_CACHE_MOUNT: Final = "/compile-cache"


def runner_input(videojob: VideoJob, model: ResolvedModel, settings: OperatorSettings) -> RunnerInput:
    return RunnerInput(
        videojob=naming.videojob_ref(videojob),
        spec=videojob.spec,
        # The runner reports the repo id it ran (used.model), not the VideoModel name the spec may give; it plans
        # with the VideoModel's overrides, the same ones the operator checked the limits with.
        model=ModelRef(path=model.path, repo_id=model.repo_id, revision=model.revision, overrides=model.overrides),
        output=naming.output_location(videojob, settings),
        progress=naming.progress_location(videojob, settings),
        runtime=runtime_options(settings),
    )


def runtime_options(settings: OperatorSettings) -> RuntimeOptions:
    """The installation's RuntimeOptions, pointed at the compile cache mount when there is one."""
    if settings.compile_cache_subpath is None:
        return settings.runner_runtime
    return settings.runner_runtime.model_copy(update={"compile_cache_dir": COMPILE_CACHE_MOUNT})


def queue_name(videojob: VideoJob, settings: OperatorSettings) -> str | None:
    """The Kueue LocalQueue this VideoJob goes to, if any (then Kueue, not our cap, admits it)."""
    return videojob.spec.queue_name or settings.default_queue_name or None


def s3_env(settings: OperatorSettings, endpoint_url: str | None, region: str, path_style: bool) -> list[dict[str, Any]]:
    """The runner's VIDEOGEN_S3_* variables; the keys come from the Secret, never inline, or (no Secret) from the
    pod's identity, which the S3 client finds by itself."""
    secret_name = settings.s3_secret_name

    def secret(name: str, key: str) -> list[dict[str, Any]]:
        return [{"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}] if secret_name else []

    env = [
        *secret("VIDEOGEN_S3_ACCESS_KEY_ID", settings.s3_secret_access_key_id_key),
        *secret("VIDEOGEN_S3_SECRET_ACCESS_KEY", settings.s3_secret_secret_access_key_key),
        {"name": "VIDEOGEN_S3_REGION", "value": region},
        {"name": "VIDEOGEN_S3_FORCE_PATH_STYLE", "value": "true" if path_style else "false"},
    ]
    endpoint = settings.runner_s3_endpoint_url or endpoint_url
    if endpoint:
        env.insert(0, {"name": "VIDEOGEN_S3_ENDPOINT_URL", "value": endpoint})
    return env


def desired_job(
    videojob: VideoJob,
    model: ResolvedModel,
    settings: OperatorSettings,
    *,
    s3_endpoint_url: str | None = None,
    s3_region: str = "us-east-1",
    s3_path_style: bool = True,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """The complete batch/v1 Job for this VideoJob (a plain dict, ready for the API's create); ``traceparent`` is
    the trace context the runner's spans continue (the operator's span that creates the Job)."""
    spec = videojob.spec
    if (problem := pod_building.scheduling_problem(spec, settings)) is not None:
        raise ValueError(problem)
    labels = pod_building.child_labels(videojob, "runner")
    queue = queue_name(videojob, settings)
    limits: dict[str, str] = {}
    if spec.gpus > 0:
        limits["nvidia.com/gpu"] = str(spec.gpus)
    if settings.runner_memory_limit:
        limits["memory"] = settings.runner_memory_limit
    # The request that made the VideoJob, for the runner's log lines (checked again: anyone may annotate a VideoJob).
    request_id = logs.valid_request_id(videojob.metadata.annotations.get(ANNOTATION_REQUEST_ID))
    env = [
        {"name": INPUT_ENV, "value": runner_input(videojob, model, settings).to_json()},
        *s3_env(settings, s3_endpoint_url, s3_region, s3_path_style),
        *({"name": k, "value": v} for k, v in sorted(settings.runner_env.items())),
        *([{"name": logs.REQUEST_ID_ENV, "value": request_id}] if request_id else []),
        *([{"name": tracing.TRACEPARENT_ENV, "value": traceparent}] if traceparent else []),
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "model-cache", "mountPath": settings.model_cache_mount_path, "readOnly": True},
        {"name": "tmp", "mountPath": TMP_MOUNT},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]
    if settings.compile_cache_subpath is not None:
        mounts.append(
            {"name": "model-cache", "mountPath": COMPILE_CACHE_MOUNT, "subPath": settings.compile_cache_subpath}
        )
    container: dict[str, Any] = {
        "name": naming.RUNNER_CONTAINER,
        "image": settings.runner_image,
        "imagePullPolicy": settings.runner_image_pull_policy,
        "command": list(settings.runner_command),
        "env": env,
        "resources": {
            "requests": {"cpu": settings.runner_cpu_request, "memory": settings.runner_memory_request},
            "limits": limits,
        },
        "securityContext": dict(pod_building.RESTRICTED_CONTAINER_SECURITY),
        "volumeMounts": mounts,
        # The RunResult JSON; a crash before it is written still leaves the log tail as the message.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    volumes: list[dict[str, Any]] = [
        {
            "name": "model-cache",
            # Read-only for the whole volume unless a compile cache folder in it must be writable; the weights' own
            # mount is read-only either way.
            "persistentVolumeClaim": {
                "claimName": settings.model_cache_pvc,
                "readOnly": settings.compile_cache_subpath is None,
            },
        },
        {"name": "tmp", "emptyDir": {"sizeLimit": settings.tmp_size_limit}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": settings.shm_size_limit}},
    ]
    job = pod_building.batch_job(
        videojob,
        settings,
        name=naming.job_name(videojob),
        labels=labels,
        job_labels=labels | {LABEL_KUEUE_QUEUE: queue} if queue else labels,
        container=container,
        volumes=volumes,
        placement=pod_building.runner_placement(settings, spec.scheduling),
        service_account=settings.runner_service_account,
        backoff_limit=spec.max_retries,
        active_deadline_seconds=spec.active_deadline_seconds,
        fail_job_exit_codes=FAIL_JOB_EXIT_CODES,
    )
    # A retry starts only once the failed pod is gone, so two attempts never write the same output keys at once.
    job["spec"]["podReplacementPolicy"] = "Failed"
    if queue:
        # Kueue admits a queued Job by unsuspending it. Created running, it would start before Kueue's webhook saw
        # it, or at once where Kueue is missing: outside both Kueue's quota and our own cap, which skips queued Jobs.
        job["spec"]["suspend"] = True
    return job
