"""VideoJob status from what the operator observes: a pure function of the Job, its pods and the progress report.

``summarize`` says where the run is (state, reason, message, progress, output...) as a VideoJobStatus without
conditions; ``next_status`` completes it with the conditions (``ConditionType``), keeping each condition's
lastTransitionTime while its status holds, so that the operator writes the status only when something really
changed (``status_patch``). Every reason written is a ``Reason``: the kubelet's waiting reasons, the Job's failure
reasons and the runner's exit codes are each mapped to one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from pydantic import ValidationError

from videogen_common.resources.meta import MESSAGE_MAX_LENGTH, Condition
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob_status import (
    ConditionType,
    OutputStatus,
    Progress,
    Reason,
    State,
    VideoJobStatus,
)
from videogen_common.runner_contract import ExitCode, OutputLocation, ProgressReport, RunResult
from videogen_operator.cluster_view import job_condition
from videogen_operator.naming import RUNNER_CONTAINER

#: The kubelet's reasons for a waiting runner container that the status shows as they are; any other shows as
#: ContainerWaiting, with the kubelet's reason in the message.
KUBELET_WAITING_REASONS: Final[Mapping[str, Reason]] = {
    r.value: r
    for r in (
        Reason.CONTAINER_CREATING,
        Reason.POD_INITIALIZING,
        Reason.ERR_IMAGE_PULL,
        Reason.IMAGE_PULL_BACK_OFF,
        Reason.ERR_IMAGE_NEVER_PULL,
        Reason.INVALID_IMAGE_NAME,
        Reason.CREATE_CONTAINER_CONFIG_ERROR,
        Reason.CREATE_CONTAINER_ERROR,
        Reason.RUN_CONTAINER_ERROR,
    )
}
#: The Job controller's reasons for a failed Job that the status shows as they are; any other shows as JobFailed.
JOB_FAILURE_REASONS: Final[Mapping[str, Reason]] = {
    "DeadlineExceeded": Reason.DEADLINE_EXCEEDED,
    "BackoffLimitExceeded": Reason.BACKOFF_LIMIT_EXCEEDED,
}

#: Status fields a summary owns; any of them missing from a new summary is removed from the status.
SUMMARY_FIELDS: Final = (
    "state",
    "reason",
    "message",
    "progress",
    "used",
    "output",
    "job_name",
    "pod_name",
    "attempts",
    "start_time",
    "completion_time",
    "timings",
    "peak_gpu_memory_bytes",
)
#: Once known, the Job's name, its attempts and start stay visible through later states (e.g. cancelled).
STICKY_FIELDS: Final = ("job_name", "attempts", "start_time")
_ALIASES: Final = {name: info.alias or name for name, info in VideoJobStatus.model_fields.items()}


def _summary(state: State, reason: Reason, message: str, **fields: Any) -> VideoJobStatus:
    return VideoJobStatus(state=state, reason=reason, message=message[:MESSAGE_MAX_LENGTH], **fields)


def pending(reason: Reason, message: str, **fields: Any) -> VideoJobStatus:
    """A summary for a VideoJob that has no running pod (yet)."""
    return _summary(State.PENDING, reason, message, **fields)


def failed(reason: Reason, message: str, **fields: Any) -> VideoJobStatus:
    return _summary(State.FAILED, reason, message, **fields)


def cancelling(state: State) -> VideoJobStatus:
    """spec.cancel is set and the Job or its pods still exist: the state stays what it was until they are gone."""
    return _summary(state, Reason.CANCELLING, "deleting the Job and its pods")


def cancelled() -> VideoJobStatus:
    message = "cancelled: the Job and its pods were deleted and no output was published"
    return _summary(State.CANCELLED, Reason.CANCELLED, message)


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
    """The runner's RunResult from the pod's termination message. A message that is not one (a crash's log tail)
    becomes the result's message, with the reason of the exit code (Internal for a code outside the contract)."""
    terminated = _terminated(pod)
    if terminated is None:
        return None
    code = int(terminated.get("exitCode", 0))
    text = str(terminated.get("message") or "").strip()
    try:
        return RunResult.model_validate_json(text)
    except ValidationError:
        pass
    try:
        reason = ExitCode(code).reason
        message = text or f"runner exited with code {code}"
    except ValueError:
        # Not one of the runner's codes (e.g. 137 when the kernel killed it for memory): the kubelet says more.
        reason = Reason.INTERNAL
        killed = f"runner exited with code {code} ({terminated.get('reason') or 'Error'})"
        message = f"{killed}: {text}" if text else killed
    return RunResult(exit_code=code, reason=reason, message=message)


def _by_creation(pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))


def _progress(report: ProgressReport | None, uid: str) -> Progress | None:
    if report is None or (report.videojob_uid and report.videojob_uid != uid):
        return None
    return Progress(step=report.step, total_steps=report.total_steps, percent=max(0, min(100, int(report.percent))))


def _output(location: OutputLocation, result: RunResult | None) -> OutputStatus:
    file = location.video_key.rsplit("/", 1)[-1]
    return OutputStatus(
        uri=(result.video_uri if result else None) or location.uri(location.video_key),
        file=file,
        path=f"./outputs/{file}",
        poster_uri=(result.poster_uri if result else None) or location.uri(location.poster_key),
        metadata_uri=(result.metadata_uri if result else None) or location.uri(location.metadata_key),
    )


def _pod_waiting(pod: Mapping[str, Any]) -> tuple[Reason, str]:
    """Why a pod is not running yet, as (reason, message)."""
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return Reason.WAITING_FOR_GPU, str(cond.get("message") or "waiting for a node with a free GPU")
    waiting = (_runner_status(pod).get("state") or {}).get("waiting") or {}
    kubelet = str(waiting.get("reason") or "")
    if kubelet:
        message = str(waiting.get("message") or "")
        if (known := KUBELET_WAITING_REASONS.get(kubelet)) is not None:
            return known, message
        return Reason.CONTAINER_WAITING, f"{kubelet}: {message}" if message else kubelet
    return Reason.STARTING, "the runner pod is starting"


def _job_failure(condition: Mapping[str, Any]) -> tuple[Reason, str]:
    """The reason and message of a Job's Failed condition, when no runner result says more."""
    job_reason = str(condition.get("reason") or "")
    message = str(condition.get("message") or "the Job failed")
    if (known := JOB_FAILURE_REASONS.get(job_reason)) is not None:
        return known, message
    return Reason.JOB_FAILED, f"{job_reason}: {message}" if job_reason else message


def summarize(
    videojob: VideoJob,
    job: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    progress: ProgressReport | None,
    output: OutputLocation,
) -> VideoJobStatus:
    """Where the run of an existing Job stands, as status fields (no conditions)."""
    uid = videojob.uid
    job_status = job.get("status", {})
    ordered = _by_creation(pods)
    latest = ordered[-1] if ordered else None
    counted = int(job_status.get("succeeded", 0)) + int(job_status.get("failed", 0)) + int(job_status.get("active", 0))
    common: dict[str, Any] = {"job_name": job["metadata"]["name"], "attempts": max(len(ordered), counted)}
    if latest is not None:
        common["pod_name"] = latest["metadata"]["name"]
    if job_status.get("startTime"):
        common["start_time"] = job_status["startTime"]

    if (done := job_condition(job, "Complete")) is not None:
        succeeded = [p for p in ordered if p.get("status", {}).get("phase") == "Succeeded"]
        result = run_result(succeeded[-1]) if succeeded else None
        shown = _progress(progress, uid) or Progress()
        shown.percent = 100
        if progress is not None and progress.total_steps:
            shown.step = shown.total_steps = progress.total_steps
        fields: dict[str, Any] = {
            **common,
            "progress": shown,
            "output": _output(output, result),
            "completion_time": job_status.get("completionTime") or done.get("lastTransitionTime"),
        }
        if result is not None:
            fields |= _result_fields(result)
        return _summary(State.COMPLETED, Reason.SUCCEEDED, "the video and its metadata are in S3", **fields)

    if (fail := job_condition(job, "Failed")) is not None:
        failed_pods = [p for p in ordered if p.get("status", {}).get("phase") == "Failed" and _terminated(p)]
        result = run_result(failed_pods[-1]) if failed_pods else None
        if fail.get("reason") == "DeadlineExceeded" or result is None:
            reason, message = _job_failure(fail)
        else:
            reason, message = result.reason, result.message
        fields = {**common, "completion_time": fail.get("lastTransitionTime")}
        if (shown_progress := _progress(progress, uid)) is not None:
            fields["progress"] = shown_progress
        return failed(reason, message, **fields)

    if job.get("spec", {}).get("suspend"):
        return pending(Reason.SUSPENDED, "the Job is suspended (waiting for Kueue to admit it)", **common)

    live = [p for p in ordered if not p["metadata"].get("deletionTimestamp")]
    # A running pod, else one that succeeded: the runner is done and the Job controller marks the Job Complete a
    # moment later, so that is still processing (never back to pending, which would read as a retry).
    phases: tuple[tuple[Literal["Running", "Succeeded"], Reason, str], ...] = (
        ("Running", Reason.RUNNING, "the runner is generating"),
        ("Succeeded", Reason.FINISHING, "the runner finished"),
    )
    for phase, reason, message in phases:
        in_phase = [p for p in live if p.get("status", {}).get("phase") == phase]
        if not in_phase:
            continue
        fields = {**common, "pod_name": in_phase[-1]["metadata"]["name"]}
        if (shown_progress := _progress(progress, uid)) is not None:
            fields["progress"] = shown_progress
            if phase == "Running" and progress is not None and progress.message:
                message = progress.message
        return _summary(State.PROCESSING, reason, message, **fields)

    waiting = [p for p in live if p.get("status", {}).get("phase") == "Pending"]
    if waiting:
        reason, message = _pod_waiting(waiting[-1])
        return pending(reason, message, **common)
    retried = [p for p in ordered if p.get("status", {}).get("phase") == "Failed"]
    if retried:
        result = run_result(retried[-1])
        detail = f"{result.reason}: {result.message}" if result else "the last attempt failed"
        return pending(Reason.RETRYING, f"attempt {len(retried)} failed ({detail}); the Job retries", **common)
    return pending(Reason.JOB_CREATED, "the Job is created; its pod is starting", **common)


def _result_fields(result: RunResult) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if result.used is not None:
        fields["used"] = result.used
    if result.timings:
        fields["timings"] = dict(result.timings)
    if result.peak_gpu_memory_bytes is not None:
        fields["peak_gpu_memory_bytes"] = result.peak_gpu_memory_bytes
    return fields


def conditions_for(summary: VideoJobStatus) -> dict[ConditionType, tuple[Literal["True", "False"], Reason, str]]:
    """Each condition type's (status, reason, message) for a summary."""
    state, reason, message = summary.current_state, summary.reason, summary.message or ""
    admitted = bool(summary.job_name) and state != State.CANCELLED

    def flag(on: bool, true_reason: Reason, false_reason: Reason) -> tuple[Literal["True", "False"], Reason, str]:
        return ("True", true_reason, message) if on else ("False", false_reason, message)

    return {
        ConditionType.ADMITTED: flag(admitted, Reason.JOB_CREATED, reason or Reason.PENDING),
        ConditionType.RUNNING: flag(state == State.PROCESSING, Reason.RUNNING, reason or Reason.NOT_RUNNING),
        ConditionType.COMPLETE: flag(state == State.COMPLETED, Reason.SUCCEEDED, reason or Reason.NOT_COMPLETE),
        ConditionType.FAILED: flag(state == State.FAILED, reason or Reason.JOB_FAILED, Reason.NOT_FAILED),
        ConditionType.CANCELLED: flag(state == State.CANCELLED, Reason.CANCELLED, Reason.NOT_CANCELLED),
    }


def next_status(current: VideoJobStatus, summary: VideoJobStatus, generation: int, now: str) -> VideoJobStatus:
    """The full status for ``summary``; conditions keep their lastTransitionTime while their status holds."""
    old = {c.type: c for c in current.conditions}
    conditions = []
    for type_, (truth, reason, message) in conditions_for(summary).items():
        previous = old.get(type_)
        text = message[:MESSAGE_MAX_LENGTH]
        unchanged = (truth, reason, text, generation)
        if (
            previous is not None
            and (previous.status, previous.reason, previous.message, previous.observed_generation) == unchanged
        ):
            # Most reconciles change nothing: the condition as it is, rather than built and checked again.
            conditions.append(previous)
            continue
        conditions.append(
            Condition(
                type=type_,
                status=truth,
                reason=reason,
                message=text,
                last_transition_time=previous.last_transition_time if previous and previous.status == truth else now,
                observed_generation=generation,
            )
        )
    fields = {name: value for name in SUMMARY_FIELDS if (value := getattr(summary, name)) is not None}
    fields["message"] = (summary.message or "")[:MESSAGE_MAX_LENGTH]
    for sticky in STICKY_FIELDS:
        if sticky not in fields and (value := getattr(current, sticky)) is not None:
            fields[sticky] = value
    return VideoJobStatus(
        **fields,
        observed_generation=generation,
        conditions=conditions,
        queued_time=current.queued_time or summary.queued_time or now,
        # The webhook worker's own field (webhook_sender): never changed here.
        webhook=current.webhook,
    )


def status_patch(current: VideoJobStatus, new: VideoJobStatus) -> dict[str, Any] | None:
    """A JSON merge patch turning ``current`` into ``new``, or None when nothing changed."""
    changed = [name for name in _ALIASES if getattr(current, name) != getattr(new, name)]
    if not changed:
        return None
    wire = new.to_wire()
    # A field unset in ``new`` becomes null, which a merge patch reads as "remove".
    return {_ALIASES[name]: wire.get(_ALIASES[name]) for name in changed}
