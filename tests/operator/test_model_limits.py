"""A kubectl-applied VideoJob over its model's checkpoint limits fails InvalidInput before any Job or pod: the
runner's own check (videogen_common.model_choice.limits_problem_of), made by the running operator."""

from __future__ import annotations

from typing import Any

from tests.operator.conftest import Namespace, fill_model_cache
from tests.operator.test_operator_runs_videojobs import runner_jobs, smoke_model


def test_a_videojob_over_the_checkpoints_limits_fails_before_any_pod(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)  # a WanPipeline snapshot: Wan2.1's limits (1280x720 pixels, 129 generated frames)
    start_operator()
    ns.videojob("too-wide", prompt="a cat steps=1", width=1920, height=1080)

    status = ns.wait_state("too-wide", {"failed", "completed"})
    assert (status["state"], status["reason"]) == ("failed", "InvalidInput"), status
    assert "width x height 1920x1088" in status["message"] and "at most 921600" in status["message"], status
    assert runner_jobs(ns, "too-wide") == []


def test_a_videomodels_overridden_limit_is_the_one_the_operator_holds_a_videojob_to(
    ns: Namespace, start_operator: Any
) -> None:
    # The smoke Wan snapshot again, declared by a VideoModel that allows frames of at most 256x256.
    fill_model_cache(ns.model_cache, "videogen-smoke/tiny")
    ns.apply(
        {
            "apiVersion": "videogen.dev/v1alpha1",
            "kind": "VideoModel",
            "metadata": {"name": "smoke-small"},
            "spec": {"repoId": "videogen-smoke/tiny", "overrides": {"maxPixels": 256 * 256}},
        }
    )
    start_operator()
    ns.videojob("too-big-here", model="smoke-small", prompt="a cat steps=1", width=512, height=512)

    status = ns.wait_state("too-big-here", {"failed", "completed"})
    assert (status["state"], status["reason"]) == ("failed", "InvalidInput"), status
    assert "at most 65536 (the VideoModel's spec.overrides.maxPixels)" in status["message"], status
    assert runner_jobs(ns, "too-big-here") == []
