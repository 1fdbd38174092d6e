"""Progress while a job runs, as a client and a platform operator see it: the runner's per-step reports reach the
REST job and the PROGRESS column of ``kubectl get vj`` before the job completes (a completed job shows 100 whatever
happened, so only values in between prove the path runner -> S3 -> operator -> VideoJob -> API works)."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import FINAL_STATES, System
from videogen_dev.waiting import wait_for

# The reference's 50 steps, with enough pixels that denoising outlasts several of the operator's progress polls
# (2 s apart); still seconds on the CPU.
FIFTY_STEPS = {"num_inference_steps": 50, "width": 384, "height": 384, "num_frames": 17, "model": "smoke-wan-t2v"}


def test_a_50_step_job_shows_intermediate_progress_through_rest_and_kubectl_get_vj(system: System) -> None:
    job_id = system.submit_tiny(**FIFTY_STEPS)
    name = job_id.replace("_", "-")
    rest: set[int] = set()
    column: set[str] = set()

    def observe() -> dict[str, Any]:
        job = system.job(job_id)
        if job["status"] == "processing" and job["progress"]:
            rest.add(job["progress"]["step"])
            # NAME MODE MODEL STATUS PROGRESS AGE
            row = system.cluster.kubectl("get", "vj", name, "-n", system.namespace, "--no-headers").stdout.split()
            column.add(row[4])
        return job

    final = wait_for(observe, lambda j: j["status"] in FINAL_STATES, 240, f"{job_id} to finish", interval=0.2)
    assert final["status"] == "completed", final
    assert final["progress"]["total_steps"] == 50
    between = sorted(s for s in rest if 0 < s < 50)
    assert len(between) >= 2, f"steps seen through REST while processing: {sorted(rest)}"
    percents = sorted(int(c.rstrip("%")) for c in column if c.rstrip("%").isdigit() and 0 < int(c.rstrip("%")) < 100)
    assert len(percents) >= 2, f"kubectl get vj PROGRESS while processing: {sorted(column)}"
