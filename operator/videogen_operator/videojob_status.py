"""VideoJob status from what the operator observes: a pure function of the Job, its pods and the progress report.

``summarize`` says where the run is (state, reason, message, progress, output...); ``next_status`` turns that into
the full status document with conditions, keeping each condition's lastTransitionTime while its status holds, so
that the operator can write the status only when something really changed.

Condition types (each True/False with a CamelCase reason):

- ``Admitted``: the Job exists (False while Queued, WaitingForModel...).
- ``Running``: a runner pod is running.
- ``Complete``: the MP4 and its metadata are in S3.
- ``Failed``: the run failed for good (reason from the runner's exit code, e.g. InvalidInput, OutOfMemory).
- ``Cancelled``: spec.cancel was set; the Job is gone and no output is published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import ValidationError

from videogen_common.runner_contract import ExitCode, OutputLocation, ProgressReport, RunResult
from videogen_operator.resources import RUNNER_CONTAINER

PENDING: Final = "pending"
PROCESSING: Final = "processing"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
FINAL_STATES: Final = frozenset({COMPLETED, FAILED, CANCELLED})

CONDITION_TYPES: Final = ("Admitted", "Running", "Complete", "Failed", "Cancelled")

#: The reasons the operator itself gives (status.reason and condition reasons), by the state they go with. Pod
#: waiting reasons (ErrImagePull...) and Job failure reasons (DeadlineExceeded...) are passed through as well.
REASONS: Final[dict[str, tuple[str, ...]]] = {
    PENDING: (
        "WaitingForModel",  # the VideoModel is not Ready yet (missing_model_policy=wait)
        "Queued",  # over the cap on running generation Jobs; admitted FIFO, priority first
        "JobCreated",  # the Job exists, its pod does not yet
        "WaitingForGPU",  # the pod is unschedulable (no node with a free GPU)
        "Starting",  # scheduled, container starting
        "Suspended",  # the Job is suspended (Kueue has not admitted it)
        "Retrying",  # an attempt failed with a retriable exit code; the Job makes another pod
        "Cancelling",  # spec.cancel: the Job is being deleted
    ),
    PROCESSING: (
        "Running",
        "Finishing",  # the pod succeeded; the Job controller has not marked the Job Complete yet
        "Cancelling",
    ),
    COMPLETED: ("Succeeded",),
    FAILED: (
        "InvalidInput",  # runner exit 10: never retried
        "OutOfMemory",  # runner exit 11: never retried
        "Transient",  # runner exit 12, retries used up
        "Internal",  # runner exit 13, retries used up
        "DeadlineExceeded",  # spec.activeDeadlineSeconds passed
        "NoModel",  # no spec.model and no default for the mode
        "ModelFailed",  # the VideoModel's download failed
        "ModeNotSupported",  # the model's pipeline cannot run spec.mode
        "JobDeleted",  # someone deleted the Job before it finished
        "SchedulingNotAllowed",  # spec.scheduling asks for a value outside the operator's allow-lists
    ),
    CANCELLED: ("Cancelled",),
}

#: Status fields a summary owns; any of them missing from a new summary is removed from the status.
SUMMARY_FIELDS: Final = (
    "state",
    "reason",
    "message",
    "progress",
    "used",
    "output",
    "jobName",
    "podName",
    "attempts",
    "startTime",
    "completionTime",
    "timings",
    "peakGpuMemoryBytes",
)


def pending(reason: str, message: str, **fields: Any) -> dict[str, Any]:
    """A summary for a VideoJob that has no running pod (yet)."""
    return {"state": PENDING, "reason": reason, "message": message, **fields}


def cancelled() -> dict[str, Any]:
    message = "cancelled: the Job and its pods were deleted and no output was published"
    return {"state": CANCELLED, "reason": "Cancelled", "message": message}


def failed(reason: str, message: str, **fields: Any) -> dict[str, Any]:
    return {"state": FAILED, "reason": reason, "message": message, **fields}


def _condition_true(job: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in job.get("status", {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return dict(cond)
    return None


def _runner_status(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == RUNNER_CONTAINER:
            return dict(status)
    return {}


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    status = _runner_status(pod)
    terminated = (status.get("state") or {}).get("terminated") or (status.get("lastState") or {}).get("terminated")
    return dict(terminated) if terminated else None


def run_result(pod: Mapping[str, Any]) -> RunResult | None:
    """The runner's RunResult from the pod's termination message; a non-JSON message becomes its ``message``."""
    terminated = _terminated(pod)
    if terminated is None:
        return None
    code = int(terminated.get("exitCode", 0))
    text = str(terminated.get("message") or "").strip()
    try:
        return RunResult.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        try:
            reason = ExitCode(code).reason
        except ValueError:
            reason = str(terminated.get("reason") or "Error")
        return RunResult(exit_code=code, reason=reason, message=text or f"runner exited with code {code}")


def _by_creation(pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))


def _progress(report: ProgressReport | None, uid: str) -> dict[str, int] | None:
    if report is None or (report.videojob_uid and report.videojob_uid != uid):
        return None
    return {
        "step": report.step,
        "totalSteps": report.total_steps,
        "percent": max(0, min(100, int(report.percent))),
    }


def _output(location: OutputLocation, result: RunResult | None) -> dict[str, str]:
    file = location.video_key.rsplit("/", 1)[-1]
    return {
        "uri": (result.video_uri if result else None) or location.uri(location.video_key),
        "file": file,
        "path": f"./outputs/{file}",
        "posterUri": (result.poster_uri if result else None) or location.uri(location.poster_key),
        "metadataUri": (result.metadata_uri if result else None) or location.uri(location.metadata_key),
    }


def _pod_waiting(pod: Mapping[str, Any]) -> tuple[str, str]:
    """Why a pod is not running yet, as (reason, message)."""
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return "WaitingForGPU", str(cond.get("message") or "waiting for a node with a free GPU")
    waiting = (_runner_status(pod).get("state") or {}).get("waiting") or {}
    if waiting.get("reason"):
        return str(waiting["reason"]), str(waiting.get("message") or "")
    return "Starting", "the runner pod is starting"


def summarize(
    videojob: Mapping[str, Any],
    job: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    progress: ProgressReport | None,
    output: OutputLocation,
) -> dict[str, Any]:
    """Where the run of an existing Job stands, as status fields (no conditions)."""
    uid = str(videojob["metadata"]["uid"])
    job_status = job.get("status", {})
    ordered = _by_creation(pods)
    latest = ordered[-1] if ordered else None
    counted = int(job_status.get("succeeded", 0)) + int(job_status.get("failed", 0)) + int(job_status.get("active", 0))
    common: dict[str, Any] = {
        "jobName": job["metadata"]["name"],
        "attempts": max(len(ordered), counted),
    }
    if latest is not None:
        common["podName"] = latest["metadata"]["name"]
    if job_status.get("startTime"):
        common["startTime"] = job_status["startTime"]

    if (done := _condition_true(job, "Complete")) is not None:
        succeeded = [p for p in ordered if p.get("status", {}).get("phase") == "Succeeded"]
        result = run_result(succeeded[-1]) if succeeded else None
        fields: dict[str, Any] = {
            **common,
            "state": COMPLETED,
            "reason": "Succeeded",
            "message": "the video and its metadata are in S3",
            "progress": {**(_progress(progress, uid) or {}), "percent": 100},
            "output": _output(output, result),
            "completionTime": job_status.get("completionTime") or done.get("lastTransitionTime"),
        }
        if progress is not None and progress.total_steps:
            fields["progress"] |= {"step": progress.total_steps, "totalSteps": progress.total_steps}
        if result is not None:
            fields |= _result_fields(result)
        return fields

    if (fail := _condition_true(job, "Failed")) is not None:
        failed_pods = [p for p in ordered if p.get("status", {}).get("phase") == "Failed" and _terminated(p)]
        result = run_result(failed_pods[-1]) if failed_pods else None
        if fail.get("reason") == "DeadlineExceeded" or result is None:
            reason = str(fail.get("reason") or "Failed")
            message = str(fail.get("message") or "the Job failed")
        else:
            reason, message = result.reason, result.message
        out = failed(reason, message, **common, completionTime=fail.get("lastTransitionTime"))
        if progress_fields := _progress(progress, uid):
            out["progress"] = progress_fields
        return out

    if job.get("spec", {}).get("suspend"):
        return pending("Suspended", "the Job is suspended (waiting for Kueue to admit it)", **common)

    live = [p for p in ordered if not p["metadata"].get("deletionTimestamp")]
    # A running pod, else one that succeeded: the runner is done and the Job controller marks the Job Complete a
    # moment later, so that is still processing (never back to pending, which would read as a retry).
    for phase, reason, message in (
        ("Running", "Running", "the runner is generating"),
        ("Succeeded", "Finishing", "the runner finished"),
    ):
        in_phase = [p for p in live if p.get("status", {}).get("phase") == phase]
        if not in_phase:
            continue
        fields = {**common, "state": PROCESSING, "reason": reason, "message": message}
        fields["podName"] = in_phase[-1]["metadata"]["name"]
        if progress_fields := _progress(progress, uid):
            fields["progress"] = progress_fields
            if phase == "Running" and progress is not None and progress.message:
                fields["message"] = progress.message
        return fields

    waiting = [p for p in live if p.get("status", {}).get("phase") == "Pending"]
    if waiting:
        reason, message = _pod_waiting(waiting[-1])
        return pending(reason, message, **common)
    retried = [p for p in ordered if p.get("status", {}).get("phase") == "Failed"]
    if retried:
        result = run_result(retried[-1])
        detail = f"{result.reason}: {result.message}" if result else "the last attempt failed"
        return pending("Retrying", f"attempt {len(retried)} failed ({detail}); the Job retries", **common)
    return pending("JobCreated", "the Job is created; its pod is starting", **common)


def _result_fields(result: RunResult) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if result.used is not None:
        fields["used"] = result.used.model_dump(by_alias=True, exclude_none=True, mode="json")
    if result.timings:
        fields["timings"] = dict(result.timings)
    if result.peak_gpu_memory_bytes is not None:
        fields["peakGpuMemoryBytes"] = result.peak_gpu_memory_bytes
    return fields


def conditions_for(summary: Mapping[str, Any]) -> dict[str, tuple[str, str, str]]:
    """Each condition type's (status, reason, message) for a summary."""
    state, reason, message = summary["state"], summary.get("reason", ""), summary.get("message", "")
    admitted = bool(summary.get("jobName")) and state != CANCELLED

    def flag(on: bool, true_reason: str, false_reason: str) -> tuple[str, str, str]:
        return ("True", true_reason, message) if on else ("False", false_reason, message)

    return {
        "Admitted": flag(admitted, "JobCreated", reason or "Pending"),
        "Running": flag(state == PROCESSING, "Running", reason or "NotRunning"),
        "Complete": flag(state == COMPLETED, "Succeeded", reason or "NotComplete"),
        "Failed": flag(state == FAILED, reason or "Failed", "NotFailed"),
        "Cancelled": flag(state == CANCELLED, "Cancelled", "NotCancelled"),
    }


def next_status(current: Mapping[str, Any], summary: Mapping[str, Any], generation: int, now: str) -> dict[str, Any]:
    """The full status for ``summary``; conditions keep their lastTransitionTime while their status holds."""
    old = {c["type"]: c for c in current.get("conditions") or []}
    conditions = []
    for type_, (truth, reason, message) in conditions_for(summary).items():
        previous = old.get(type_)
        since = previous["lastTransitionTime"] if previous and previous.get("status") == truth else now
        conditions.append(
            {
                "type": type_,
                "status": truth,
                "reason": reason,
                "message": message[:32768],
                "lastTransitionTime": since,
                "observedGeneration": generation,
            }
        )
    status: dict[str, Any] = {k: summary[k] for k in SUMMARY_FIELDS if summary.get(k) is not None}
    status["message"] = str(status.get("message", ""))[:32768]
    status["observedGeneration"] = generation
    status["conditions"] = conditions
    queued = current.get("queuedTime") or summary.get("queuedTime") or now
    status["queuedTime"] = queued
    # Once known, the Job and output names stay visible through later states (e.g. cancelled after running).
    for sticky in ("jobName", "attempts", "startTime"):
        if sticky not in status and current.get(sticky) is not None:
            status[sticky] = current[sticky]
    return status


def status_patch(current: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any] | None:
    """A JSON merge patch turning ``current`` into ``new``, or None when nothing changed."""
    keys = set(new) | (set(current) & set(SUMMARY_FIELDS))
    patch: dict[str, Any] = {}
    for key in keys:
        if current.get(key) != new.get(key):
            # A key missing from ``new`` becomes null, which a merge patch reads as "remove".
            patch[key] = new.get(key)
    return patch or None
