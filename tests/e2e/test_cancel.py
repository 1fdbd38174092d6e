"""Cancelling through REST while the runner runs: the runner pod goes, the job says cancelled, nothing is published."""

from __future__ import annotations

from tests.e2e.conftest import System
from videogen_dev.waiting import wait_for


def test_cancel_while_processing_removes_the_runner_pod_and_publishes_no_output(system: System) -> None:
    outputs_before = system.release.output_keys()
    # Enough denoising steps that the run is still going when the cancel lands.
    job_id = system.submit_tiny(num_inference_steps=60)
    name = job_id.replace("_", "-")
    wait_for(lambda: system.job(job_id)["status"], lambda s: s == "processing", 180, f"{job_id} to be processing")
    assert [p["status"]["phase"] for p in system.runner_pods(name)] == ["Running"]

    cancelled = system.http.delete(f"/api/v1/job/{job_id}")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["cancel_requested"] is True

    final = system.wait_final(job_id, 120)
    assert final["status"] == "cancelled", final
    assert final["output_path"] is None and final["output_url"] is None
    assert system.runner_pods(name) == []
    assert system.batch_jobs(name) == []
    assert system.release.output_keys() == outputs_before
