"""summarize / next_status / status_patch: the VideoJob status from the Job, its pods and the progress report."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.operator.factories import UID, condition, job, pod, videojob
from videogen_common.resources.videojob_status import (
    ConditionType,
    Progress,
    Reason,
    State,
    UsedParameters,
    VideoJobStatus,
)
from videogen_common.runner_contract import OutputLocation, ProgressReport, RunResult
from videogen_operator.videojob_status import next_status, run_result, status_patch, summarize

OUTPUT = OutputLocation.for_video("videogen", "outputs", "text2video_20240115_103045_abc123.mp4")
USED = UsedParameters(
    model="m/x",
    pipeline="WanPipeline",
    num_frames=61,
    width=512,
    height=512,
    fps=24,
    seed=42,
    num_inference_steps=50,
    guidance_scale=7.5,
    strength=0.8,
)


def report(step: int, total: int = 50, uid: str = UID) -> ProgressReport:
    return ProgressReport(
        videojob_uid=uid,
        phase="denoising",
        step=step,
        total_steps=total,
        percent=100 * step / total,
        updated_at=datetime.now(UTC),
        message=f"step {step}/{total}",
    )


def test_running_pod_is_processing_with_progress_from_the_report() -> None:
    summary = summarize(videojob(), job(active=1), [pod("cat-a", "Running")], report(10), OUTPUT)
    assert summary.state == State.PROCESSING
    assert summary.progress == Progress(step=10, total_steps=50, percent=20)
    assert (summary.pod_name, summary.job_name, summary.attempts) == ("cat-a", "cat", 1)


def test_a_report_for_an_older_videojob_of_the_same_name_is_ignored() -> None:
    summary = summarize(videojob(), job(active=1), [pod("cat-a", "Running")], report(10, uid="old"), OUTPUT)
    assert summary.progress is None


def test_unschedulable_pod_is_pending_waiting_for_gpu() -> None:
    unscheduled = pod(
        "cat-a",
        "Pending",
        conditions=[{"type": "PodScheduled", "status": "False", "message": "0/1 nodes: Insufficient nvidia.com/gpu"}],
    )
    summary = summarize(videojob(), job(active=1), [unscheduled], None, OUTPUT)
    assert (summary.state, summary.reason) == (State.PENDING, Reason.WAITING_FOR_GPU)
    assert summary.message is not None and "Insufficient nvidia.com/gpu" in summary.message


@pytest.mark.parametrize(
    ("kubelet", "reason", "message"),
    [
        ("ImagePullBackOff", Reason.IMAGE_PULL_BACK_OFF, "Back-off pulling image"),
        ("CreateContainerConfigError", Reason.CREATE_CONTAINER_CONFIG_ERROR, "Back-off pulling image"),
        # A kubelet reason without a Reason of its own is named in the message.
        ("PreStartHookError", Reason.CONTAINER_WAITING, "PreStartHookError: Back-off pulling image"),
    ],
)
def test_a_waiting_runner_container_shows_the_kubelets_reason(kubelet: str, reason: Reason, message: str) -> None:
    waiting = pod("cat-a", "Pending", waiting={"reason": kubelet, "message": "Back-off pulling image"})
    summary = summarize(videojob(), job(active=1), [waiting], None, OUTPUT)
    assert (summary.state, summary.reason, summary.message) == (State.PENDING, reason, message)


def test_complete_job_is_completed_with_output_used_and_full_progress() -> None:
    result = RunResult(
        exit_code=0,
        reason=Reason.SUCCEEDED,
        used=USED,
        video_uri=OUTPUT.uri(OUTPUT.video_key),
        metadata_uri=OUTPUT.uri(OUTPUT.metadata_key),
        poster_uri=OUTPUT.uri(OUTPUT.poster_key),
        timings={"total": 12.5},
        peak_gpu_memory_bytes=123,
    )
    done = job(conditions=[condition("Complete")], succeeded=1, completionTime="2024-01-15T10:32:00Z")
    pods = [pod("cat-a", "Succeeded", exit_code=0, message=result.to_termination_message())]
    summary = summarize(videojob(), done, pods, report(50), OUTPUT)
    assert summary.state == State.COMPLETED
    assert summary.progress == Progress(step=50, total_steps=50, percent=100)
    assert summary.output is not None and summary.output.to_wire() == {
        "uri": "s3://videogen/outputs/text2video_20240115_103045_abc123.mp4",
        "file": "text2video_20240115_103045_abc123.mp4",
        "path": "./outputs/text2video_20240115_103045_abc123.mp4",
        "posterUri": "s3://videogen/outputs/text2video_20240115_103045_abc123.jpg",
        "metadataUri": "s3://videogen/outputs/text2video_20240115_103045_abc123.json",
    }
    assert summary.used == USED
    assert summary.timings == {"total": 12.5} and summary.peak_gpu_memory_bytes == 123
    assert summary.completion_time == "2024-01-15T10:32:00Z"


def test_failed_job_reports_the_runners_reason_and_message() -> None:
    oom = RunResult(exit_code=11, reason=Reason.OUT_OF_MEMORY, message="CUDA out of memory; try fewer frames")
    failed_job = job(conditions=[condition("Failed", "PodFailurePolicy")], failed=1)
    pods = [pod("cat-a", "Failed", exit_code=11, message=oom.to_termination_message())]
    summary = summarize(videojob(), failed_job, pods, None, OUTPUT)
    assert (summary.state, summary.reason) == (State.FAILED, Reason.OUT_OF_MEMORY)
    assert summary.message == "CUDA out of memory; try fewer frames"
    assert summary.output is None


def test_a_plain_text_termination_message_still_names_the_exit_code_reason() -> None:
    result = run_result(pod("cat-a", "Failed", exit_code=10, message="Traceback: bad prompt"))
    assert result is not None
    assert (result.reason, result.message) == (Reason.INVALID_INPUT, "Traceback: bad prompt")


def test_an_exit_code_outside_the_contract_is_internal_and_named_in_the_message() -> None:
    result = run_result(pod("cat-a", "Failed", exit_code=137, message="Killed"))
    assert result is not None
    assert (result.reason, result.message) == (Reason.INTERNAL, "runner exited with code 137 (Error): Killed")


def test_deadline_exceeded_is_reported_as_such() -> None:
    failed_job = job(conditions=[condition("Failed", "DeadlineExceeded", "Job was active longer than specified")])
    summary = summarize(videojob(), failed_job, [], None, OUTPUT)
    assert (summary.state, summary.reason) == (State.FAILED, Reason.DEADLINE_EXCEEDED)
    assert summary.message == "Job was active longer than specified"


def test_a_job_failure_reason_without_a_reason_of_its_own_is_named_in_the_message() -> None:
    failed_job = job(conditions=[condition("Failed", "MaxFailedIndexesExceeded", "too many failed indexes")])
    summary = summarize(videojob(), failed_job, [], None, OUTPUT)
    assert (summary.reason, summary.message) == (
        Reason.JOB_FAILED,
        "MaxFailedIndexesExceeded: too many failed indexes",
    )


def test_a_succeeded_pod_before_the_job_is_complete_is_still_processing() -> None:
    # The Job controller marks the Job Complete a moment after its pod succeeds; the state must not go back to pending.
    summary = summarize(videojob(), job(active=0), [pod("cat-a", "Succeeded", exit_code=0)], report(50), OUTPUT)
    assert (summary.state, summary.reason, summary.pod_name) == (State.PROCESSING, Reason.FINISHING, "cat-a")
    assert summary.progress == Progress(step=50, total_steps=50, percent=100)


def test_between_retries_the_videojob_is_pending_retrying() -> None:
    transient = RunResult(exit_code=12, reason=Reason.TRANSIENT, message="S3 timed out")
    pods = [pod("cat-a", "Failed", exit_code=12, message=transient.to_termination_message())]
    summary = summarize(videojob(), job(failed=1), pods, None, OUTPUT)
    assert (summary.state, summary.reason) == (State.PENDING, Reason.RETRYING)
    assert summary.message == "attempt 1 failed (Transient: S3 timed out); the Job retries"


def status(state: State, reason: Reason, **fields: object) -> VideoJobStatus:
    return VideoJobStatus.model_validate({"state": state, "reason": reason, **fields})


EMPTY = VideoJobStatus()
T0, T1, T2 = "2024-01-15T10:31:00Z", "2024-01-15T10:32:00Z", "2024-01-15T10:33:00Z"


def test_conditions_keep_their_transition_time_while_their_status_holds() -> None:
    running = status(State.PROCESSING, Reason.RUNNING, message="", job_name="cat")
    first = next_status(EMPTY, running, 1, T0)
    later = next_status(first, running.model_copy(update={"progress": Progress(percent=50)}), 1, T1)
    times = {c.type: c.last_transition_time for c in later.conditions}
    assert times[ConditionType.RUNNING] == T0
    done = next_status(later, status(State.COMPLETED, Reason.SUCCEEDED, job_name="cat"), 1, T2)
    flipped = {c.type: (c.status, c.last_transition_time) for c in done.conditions}
    assert flipped[ConditionType.RUNNING] == ("False", T2)
    assert flipped[ConditionType.COMPLETE] == ("True", T2)
    assert flipped[ConditionType.ADMITTED] == ("True", T0)


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_can_be_written_as_the_status_and_condition_reason(reason: Reason) -> None:
    # Condition reasons have a pattern of their own (metav1.Condition's); building the conditions checks it.
    for state in State:
        written = next_status(EMPTY, status(state, reason, job_name="cat"), 1, T0)
        assert written.reason == reason
        assert {c.reason for c in written.conditions} <= set(Reason)


def test_status_is_written_only_when_something_changed() -> None:
    summary = status(State.PENDING, Reason.QUEUED, message="1 ahead")
    current = next_status(EMPTY, summary, 1, T0)
    assert status_patch(current, next_status(current, summary, 1, T2)) is None
    patch = status_patch(current, next_status(current, summary.model_copy(update={"message": "0 ahead"}), 1, T2))
    # The conditions carry the message too; their transition times stay.
    assert patch is not None and set(patch) == {"message", "conditions"} and patch["message"] == "0 ahead"
    assert {(c["message"], c["lastTransitionTime"]) for c in patch["conditions"]} == {("0 ahead", T0)}


def test_the_echo_of_a_written_status_reads_back_equal() -> None:
    # The operator skips the watch event that echoes its own write by comparing the parsed echo with what it wrote.
    result = RunResult(exit_code=0, reason=Reason.SUCCEEDED, used=USED, timings={"total": 2.0, "load": 0.5})
    done = job(conditions=[condition("Complete")], succeeded=1, startTime=T0, completionTime=T1)
    pods = [pod("cat-a", "Succeeded", exit_code=0, message=result.to_termination_message())]
    written = next_status(EMPTY, summarize(videojob(), done, pods, report(50), OUTPUT), 1, T2)
    assert VideoJobStatus.model_validate_json(written.to_json()) == written


def test_fields_that_no_longer_apply_are_removed() -> None:
    processing = next_status(EMPTY, status(State.PROCESSING, Reason.RUNNING, pod_name="cat-a"), 1, T0)
    cancelled = next_status(processing, status(State.CANCELLED, Reason.CANCELLED), 1, T1)
    patch = status_patch(processing, cancelled)
    assert patch is not None and patch["podName"] is None
