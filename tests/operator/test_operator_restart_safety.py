"""Restart safety: SIGKILL the operator at random points of the create and status path, again and again."""

from __future__ import annotations

import random
import time
from typing import Any

from tests.operator.conftest import Namespace
from tests.operator.test_operator_runs_videojobs import smoke_model
from videogen_dev.waiting import wait_for

KILLS = 20


def test_killing_the_operator_at_random_points_never_makes_a_second_job(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    operator = start_operator(max_running_jobs=None)
    wait_for(lambda: ns.get("videomodel", "smoke").get("status", {}).get("state"), lambda s: s == "Ready", 30, "model")
    operator.kill()
    rng = random.Random(4)
    names = []
    for i in range(KILLS):
        if i % 2 == 0:
            # New VideoJobs as we go, so kills land while Jobs are created as well as while statuses are written.
            names.append(f"restart-{i}")
            ns.videojob(names[-1], prompt="a cat steps=2 step_seconds=0.05")
        offset = operator.log_size()
        operator.start()
        # Start-up (imports, login, filling the indexes) takes seconds here; the kill must land after it, somewhere
        # in the reconciles: creating Jobs, reading progress, writing statuses.
        operator.wait_for_log("worker started", offset)
        time.sleep(rng.uniform(0.0, 0.6))
        operator.kill()
        per_videojob: dict[str, int] = {}
        for job in ns.jobs("videogen.dev/videojob"):
            owner = job["metadata"]["labels"]["videogen.dev/videojob"]
            per_videojob[owner] = per_videojob.get(owner, 0) + 1
        assert all(n == 1 for n in per_videojob.values()), f"after kill {i + 1}: {per_videojob}"

    operator.start()
    final = wait_for(
        lambda: {n: ns.status(n).get("state") for n in names},
        lambda states: all(s == "completed" for s in states.values()),
        45,
        "every VideoJob to complete",
    )
    assert set(final.values()) == {"completed"}
    jobs = ns.jobs("videogen.dev/videojob")
    assert sorted(j["metadata"]["name"] for j in jobs) == sorted(names)
    assert all(j["status"].get("succeeded") == 1 for j in jobs)
    assert operator.starts == KILLS + 2
