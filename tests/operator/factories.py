"""What the operator's pure functions take: VideoJobs and VideoModels as their types (the spec's defaults are
VideoJobSpec's, as the apiserver fills them from the CRD made from it), Jobs and pods as the apiserver returns them."""

from __future__ import annotations

from typing import Any

from videogen_common.model_choice import ResolvedModel
from videogen_common.resources.meta import ObjectMeta
from videogen_common.resources.objects import VideoJob, VideoModel
from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.resources.videojob_status import VideoJobStatus
from videogen_common.resources.videomodel import VideoModelSpec, VideoModelStatus

UID = "0b6f5a52-6a4c-4b7e-9d3e-2f1d6f8e9a10"
MODEL = ResolvedModel(
    repo_id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    path="/models/hub/wan/snapshots/abc",
    revision="abc",
    videomodel="wan-t2v",
)


def videojob(name: str = "cat", uid: str = UID, status: VideoJobStatus | None = None, **spec: Any) -> VideoJob:
    """A VideoJob as the apiserver stores it; ``spec`` fields by their wire (camelCase) or Python names."""
    return VideoJob(
        metadata=ObjectMeta(
            name=name, namespace="team-a", uid=uid, generation=1, creation_timestamp="2024-01-15T10:30:45Z"
        ),
        spec=VideoJobSpec.model_validate({"mode": "text-to-video", "model": "wan-t2v", "prompt": "a cat"} | spec),
        status=status or VideoJobStatus(),
    )


def job(name: str = "cat", conditions: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "team-a", "uid": "job-uid", "labels": {}},
        "spec": {},
        "status": {"conditions": conditions or [], **status},
    }


def condition(type_: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2024-01-15T10:31:45Z",
    }


def pod(
    name: str,
    phase: str,
    created: str = "2024-01-15T10:30:46Z",
    exit_code: int | None = None,
    message: str = "",
    conditions: list[dict[str, Any]] | None = None,
    waiting: dict[str, str] | None = None,
) -> dict[str, Any]:
    runner: dict[str, Any] = {"name": "runner", "state": {}}
    if exit_code is not None:
        runner["state"] = {"terminated": {"exitCode": exit_code, "message": message, "reason": "Error"}}
    elif phase == "Running":
        runner["state"] = {"running": {"startedAt": created}}
    elif waiting is not None:
        runner["state"] = {"waiting": waiting}
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "status": {"phase": phase, "containerStatuses": [runner], "conditions": conditions or []},
    }


def videomodel(name: str, repo_id: str, status: VideoModelStatus | None = None) -> VideoModel:
    return VideoModel(
        metadata=ObjectMeta(name=name, namespace="team-a", uid=f"uid-{name}", generation=1),
        spec=VideoModelSpec(repo_id=repo_id),
        status=status or VideoModelStatus(),
    )
