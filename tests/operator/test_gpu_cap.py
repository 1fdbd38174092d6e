"""The GPU cap and the priority ceiling through a running operator against the local control plane.

spec.gpus of running generation Jobs are summed under max_gpus (the weighting itself, with 8-GPU jobs, is pinned as
a pure function in test_queueing); a job asking for no GPU passes a job waiting for one.
"""

from __future__ import annotations

from typing import Any

from tests.operator.conftest import Namespace
from tests.operator.test_operator_runs_videojobs import smoke_model
from videogen_dev.waiting import wait_for


def test_under_max_gpus_1_a_gpu_job_waits_for_another_while_a_no_gpu_job_runs(
    ns: Namespace, start_operator: Any
) -> None:
    smoke_model(ns)
    # Two Job places, one GPU: the Job count alone would start both GPU jobs.
    start_operator(max_running_jobs=2, max_gpus=1)
    # Runs until cancelled below (a minute at most), so the order below holds on a slow machine too.
    ns.videojob("first", gpus=1, prompt="a cat steps=120 step_seconds=0.5")
    ns.wait_state("first", {"processing"})
    ns.videojob("second", gpus=1, prompt="a cat steps=1")
    queued = wait_for(lambda: ns.status("second"), lambda s: s.get("reason") == "Queued", 20, "second Queued")
    assert "1 of 1 GPUs are requested" in queued["message"], queued
    # Created after second, asks for no GPU: it takes the free Job place while second waits for the GPU.
    ns.videojob("cpu", gpus=0, prompt="a cat steps=1")
    cpu = ns.wait_state("cpu", {"completed", "failed"})
    assert cpu["state"] == "completed", cpu
    assert ns.status("first")["state"] == "processing", "the GPU job still runs"
    assert ns.status("second")["reason"] == "Queued", "the second GPU job waited for the GPU"

    # The GPU comes free: the second GPU job runs.
    ns.cluster.kubectl("patch", "videojob", "first", "-n", ns.name, "--type=merge", "-p", '{"spec":{"cancel":true}}')
    wait_for(lambda: ns.jobs("videogen.dev/videojob=second"), bool, 30, "second's Job once first is cancelled")
    assert ns.status("first")["state"] == "cancelled"


def test_a_priority_above_the_ceiling_fails_naming_spec_priority(ns: Namespace, start_operator: Any) -> None:
    # Refused before its model is even looked at: no VideoModel needed.
    start_operator(max_priority=5)
    ns.videojob("jumper", prompt="a cat steps=1", priority=1000)
    status = ns.wait_state("jumper", {"failed", "completed"})
    assert (status["state"], status["reason"]) == ("failed", "SchedulingNotAllowed"), status
    assert status["message"].startswith("spec.priority 1000 is above the ceiling 5"), status
    assert not ns.jobs("videogen.dev/videojob=jumper"), "no Job for a refused VideoJob"
