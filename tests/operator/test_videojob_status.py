"""summarize / next_status / status_patch: the VideoJob status from the Job, its pods and the progress report."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.operator.factories import UID, condition, job, pod, videojob
from videogen_common.runner_contract import OutputLocation, ProgressReport, RunResult, UsedParameters
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
    assert summary["state"] == "processing"
    assert summary["progress"] == {"step": 10, "totalSteps": 50, "percent": 20}
    assert (summary["podName"], summary["jobName"], summary["attempts"]) == ("cat-a", "cat", 1)


def test_a_report_for_an_older_videojob_of_the_same_name_is_ignored() -> None:
    summary = summarize(videojob(), job(active=1), [pod("cat-a", "Running")], report(10, uid="old"), OUTPUT)
    assert "progress" not in summary


def test_unschedulable_pod_is_pending_waiting_for_gpu() -> None:
    unscheduled = pod(
        "cat-a",
        "Pending",
        conditions=[{"type": "PodScheduled", "status": "False", "message": "0/1 nodes: Insufficient nvidia.com/gpu"}],
    )
    summary = summarize(videojob(), job(active=1), [unscheduled], None, OUTPUT)
    assert (summary["state"], summary["reason"]) == ("pending", "WaitingForGPU")
    assert "Insufficient nvidia.com/gpu" in summary["message"]


def test_complete_job_is_completed_with_output_used_and_full_progress() -> None:
    result = RunResult(
        exit_code=0,
        reason="Succeeded",
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
    assert summary["state"] == "completed"
    assert summary["progress"] == {"step": 50, "totalSteps": 50, "percent": 100}
    assert summary["output"] == {
        "uri": "s3://videogen/outputs/text2video_20240115_103045_abc123.mp4",
        "file": "text2video_20240115_103045_abc123.mp4",
        "path": "./outputs/text2video_20240115_103045_abc123.mp4",
        "posterUri": "s3://videogen/outputs/text2video_20240115_103045_abc123.jpg",
        "metadataUri": "s3://videogen/outputs/text2video_20240115_103045_abc123.json",
    }
    assert summary["used"]["seed"] == 42 and summary["used"]["numFrames"] == 61
    assert summary["timings"] == {"total": 12.5} and summary["peakGpuMemoryBytes"] == 123
    assert summary["completionTime"] == "2024-01-15T10:32:00Z"


def test_failed_job_reports_the_runners_reason_and_message() -> None:
    oom = RunResult(exit_code=11, reason="OutOfMemory", message="CUDA out of memory; try fewer frames")
    failed_job = job(conditions=[condition("Failed", "PodFailurePolicy")], failed=1)
    pods = [pod("cat-a", "Failed", exit_code=11, message=oom.to_termination_message())]
    summary = summarize(videojob(), failed_job, pods, None, OUTPUT)
    assert (summary["state"], summary["reason"]) == ("failed", "OutOfMemory")
    assert summary["message"] == "CUDA out of memory; try fewer frames"
    assert "output" not in summary


def test_a_plain_text_termination_message_still_names_the_exit_code_reason() -> None:
    result = run_result(pod("cat-a", "Failed", exit_code=10, message="Traceback: bad prompt"))
    assert result is not None
    assert (result.reason, result.message) == ("InvalidInput", "Traceback: bad prompt")


def test_deadline_exceeded_is_reported_as_such() -> None:
    failed_job = job(conditions=[condition("Failed", "DeadlineExceeded", "Job was active longer than specified")])
    summary = summarize(videojob(), failed_job, [], None, OUTPUT)
    assert (summary["state"], summary["reason"]) == ("failed", "DeadlineExceeded")


def test_a_succeeded_pod_before_the_job_is_complete_is_still_processing() -> None:
    # The Job controller marks the Job Complete a moment after its pod succeeds; the state must not go back to pending.
    summary = summarize(videojob(), job(active=0), [pod("cat-a", "Succeeded", exit_code=0)], report(50), OUTPUT)
    assert (summary["state"], summary["reason"], summary["podName"]) == ("processing", "Finishing", "cat-a")
    assert summary["progress"] == {"step": 50, "totalSteps": 50, "percent": 100}


def test_between_retries_the_videojob_is_pending_retrying() -> None:
    transient = RunResult(exit_code=12, reason="Transient", message="S3 timed out")
    pods = [pod("cat-a", "Failed", exit_code=12, message=transient.to_termination_message())]
    summary = summarize(videojob(), job(failed=1), pods, None, OUTPUT)
    assert (summary["state"], summary["reason"]) == ("pending", "Retrying")
    assert "S3 timed out" in summary["message"]


def test_conditions_keep_their_transition_time_while_their_status_holds() -> None:
    running = {"state": "processing", "reason": "Running", "message": "", "jobName": "cat"}
    first = next_status({}, running, 1, "2024-01-15T10:31:00Z")
    later = next_status(first, running | {"progress": {"percent": 50}}, 1, "2024-01-15T10:32:00Z")
    times = {c["type"]: c["lastTransitionTime"] for c in later["conditions"]}
    assert times["Running"] == "2024-01-15T10:31:00Z"
    done = next_status(
        later, {"state": "completed", "reason": "Succeeded", "jobName": "cat"}, 1, "2024-01-15T10:33:00Z"
    )
    flipped = {c["type"]: (c["status"], c["lastTransitionTime"]) for c in done["conditions"]}
    assert flipped["Running"] == ("False", "2024-01-15T10:33:00Z")
    assert flipped["Complete"] == ("True", "2024-01-15T10:33:00Z")
    assert flipped["Admitted"] == ("True", "2024-01-15T10:31:00Z")


def test_status_is_written_only_when_something_changed() -> None:
    summary = {"state": "pending", "reason": "Queued", "message": "1 ahead"}
    current = next_status({}, summary, 1, "2024-01-15T10:31:00Z")
    assert status_patch(current, next_status(current, summary, 1, "2024-01-15T10:35:00Z")) is None
    patch = status_patch(current, next_status(current, summary | {"message": "0 ahead"}, 1, "2024-01-15T10:35:00Z"))
    assert patch is not None and patch["message"] == "0 ahead"


def test_fields_that_no_longer_apply_are_removed() -> None:
    processing = next_status({}, {"state": "processing", "reason": "Running", "podName": "cat-a"}, 1, "t")
    cancelled = next_status(processing, {"state": "cancelled", "reason": "Cancelled"}, 1, "t")
    patch = status_patch(processing, cancelled)
    assert patch is not None and patch["podName"] is None
