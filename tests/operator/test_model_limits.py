"""A kubectl-applied VideoJob over its model's checkpoint limits fails InvalidInput before any Job or pod: the
runner's own check (videogen_common.model_choice.limits_problem_of), made by the running operator."""

from __future__ import annotations

from typing import Any

from tests.operator.conftest import Namespace
from tests.operator.test_operator_runs_videojobs import runner_jobs, smoke_model


def test_a_videojob_over_the_checkpoints_limits_fails_before_any_pod(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)  # a WanPipeline snapshot: Wan2.1's limits (1280x720 pixels, 129 generated frames)
    start_operator()
    ns.videojob("too-wide", prompt="a cat steps=1", width=1920, height=1080)

    status = ns.wait_state("too-wide", {"failed", "completed"})
    assert (status["state"], status["reason"]) == ("failed", "InvalidInput"), status
    assert "width x height 1920x1088" in status["message"] and "at most 921600" in status["message"], status
    assert runner_jobs(ns, "too-wide") == []
