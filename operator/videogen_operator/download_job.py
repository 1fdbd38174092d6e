"""VideoModel -> the download Job that fills the model cache, and the VideoModel status from that Job.

The cache uses huggingface_hub's layout under ``<mount>/hub`` (``models--<org>--<name>/snapshots/<commit>``), so a
cache filled by hand or by ``make up`` with the same layout is found by the download pod without a network
(set ``HF_HUB_OFFLINE=1`` in ``download_env``). The pod gets a DownloadInput and answers with a DownloadResult
(``videogen_common.download_contract``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import ValidationError

from videogen_common.download_contract import INPUT_ENV, DownloadInput, DownloadOutcome, DownloadResult
from videogen_common.resources.meta import MESSAGE_MAX_LENGTH, Condition
from videogen_common.resources.objects import VideoModel
from videogen_common.resources.videomodel import ModelState, VideoModelStatus
from videogen_common.runner_contract import ExitCode
from videogen_operator import naming, pod_building
from videogen_operator.settings import OperatorSettings


def download_input(videomodel: VideoModel, settings: OperatorSettings) -> DownloadInput:
    spec = videomodel.spec
    return DownloadInput(
        repo_id=spec.repo_id,
        revision=spec.revision,
        cache_dir=f"{settings.model_cache_mount_path.rstrip('/')}/hub",
        family=spec.family,
        max_bytes=settings.download_max_bytes,
    )


def desired_download_job(videomodel: VideoModel, settings: OperatorSettings, name: str | None = None) -> dict[str, Any]:
    """The download Job (named for the VideoModel's current download attempt unless ``name`` says otherwise)."""
    env: list[dict[str, Any]] = [
        {"name": INPUT_ENV, "value": download_input(videomodel, settings).to_json()},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
        {"name": "HOME", "value": "/tmp"},
        *({"name": k, "value": v} for k, v in sorted(settings.download_env.items())),
    ]
    if settings.hf_token_secret:
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": settings.hf_token_secret, "key": "HF_TOKEN", "optional": True}},
            }
        )
    container: dict[str, Any] = {
        "name": naming.DOWNLOAD_CONTAINER,
        "image": settings.download_image,
        "command": list(settings.download_command),
        "env": env,
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        "securityContext": dict(pod_building.RESTRICTED_CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": "model-cache", "mountPath": settings.model_cache_mount_path},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        # The DownloadResult JSON; a crash before it is written still leaves the log tail as the message.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    return pod_building.batch_job(
        videomodel,
        settings,
        name=name or naming.download_job_name(videomodel),
        labels=pod_building.child_labels(videomodel, "model-download"),
        container=container,
        volumes=[
            {"name": "model-cache", "persistentVolumeClaim": {"claimName": settings.model_cache_pvc}},
            {"name": "tmp", "emptyDir": {}},
        ],
        placement=pod_building.download_placement(settings),
        backoff_limit=settings.download_backoff_limit,
        active_deadline_seconds=settings.download_deadline_seconds,
        fail_job_exit_codes=(int(ExitCode.INVALID_INPUT),),
    )


def download_result(pod: Mapping[str, Any]) -> DownloadResult | None:
    """The download container's DownloadResult, once it has terminated; a message that is not one (a crash's log
    tail) becomes the result's message, its outcome read from the exit code."""
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") != naming.DOWNLOAD_CONTAINER:
            continue
        terminated = (status.get("state") or {}).get("terminated")
        if not terminated:
            return None
        text = str(terminated.get("message") or "")
        try:
            return DownloadResult.model_validate_json(text)
        except ValidationError:
            code = terminated.get("exitCode")
            outcome = (
                DownloadOutcome.INVALID_MODEL if code == ExitCode.INVALID_INPUT else DownloadOutcome.DOWNLOAD_FAILED
            )
            return DownloadResult(reason=outcome, message=text.strip() or f"download exited with code {code}")
    return None


def summarize_download(job: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]]) -> VideoModelStatus:
    """VideoModel status fields (no conditions) for the download Job's current state."""
    if job is None:
        return VideoModelStatus(state=ModelState.PENDING, message="creating the download Job")
    ordered = sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))
    conditions = {c.get("type"): c for c in job.get("status", {}).get("conditions") or [] if c.get("status") == "True"}
    if "Complete" in conditions:
        done = [r for p in ordered if p.get("status", {}).get("phase") == "Succeeded" if (r := download_result(p))]
        snapshot = done[-1].snapshot if done else None
        if snapshot is None:
            return VideoModelStatus(
                state=ModelState.FAILED, message="the download Job succeeded but left no result (pod gone?)"
            )
        return VideoModelStatus.model_validate(
            snapshot.model_dump()
            | {"state": ModelState.READY, "message": f"{snapshot.file_count} files in the model cache"}
        )
    if "Failed" in conditions:
        results = [r for p in ordered if (r := download_result(p))]
        detail = results[-1].message if results else None
        message = detail or conditions["Failed"].get("message") or "download failed"
        return VideoModelStatus(state=ModelState.FAILED, message=str(message)[:MESSAGE_MAX_LENGTH])
    return VideoModelStatus(state=ModelState.DOWNLOADING, message=f"downloading with Job {job['metadata']['name']}")


def model_status(current: VideoModelStatus, fields: VideoModelStatus, generation: int, now: str) -> VideoModelStatus:
    """The full VideoModel status: the current one with ``fields`` over it and a Ready condition
    (lastTransitionTime kept while it holds)."""
    ready = fields.state == ModelState.READY
    previous = next((c for c in current.conditions if c.type == "Ready"), None)
    truth: Literal["True", "False"] = "True" if ready else "False"
    condition = Condition(
        type="Ready",
        status=truth,
        reason=str(fields.state or ModelState.PENDING),
        message=(fields.message or "")[:MESSAGE_MAX_LENGTH],
        last_transition_time=previous.last_transition_time if previous and previous.status == truth else now,
        observed_generation=generation,
    )
    given = {name: value for name in fields.model_fields_set if (value := getattr(fields, name)) is not None}
    return current.model_copy(update=given | {"observed_generation": generation, "conditions": [condition]})


def status_patch(current: VideoModelStatus, new: VideoModelStatus) -> dict[str, Any] | None:
    """The status fields ``new`` changes (a merge patch), or None when it changes nothing."""
    wire = new.to_wire()
    before = current.to_wire()
    patch = {key: value for key, value in wire.items() if before.get(key) != value}
    return patch or None
