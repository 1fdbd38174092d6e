"""Restart safety: SIGKILL the operator at random points of the create and status path, again and again."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from typing import Any

from kubernetes import client, config

from tests.operator.conftest import Namespace
from tests.operator.test_operator_runs_videojobs import smoke_model
from videogen_dev.waiting import wait_for

KILLS = 20


def job_owners(batch: client.BatchV1Api, namespace: str) -> list[str]:
    """The VideoJob each generation Job in the namespace belongs to, one entry per Job."""
    response: Any = batch.list_namespaced_job(  # raw: only the labels are read
        namespace, label_selector="videogen.dev/videojob", _preload_content=False
    )
    return [job["metadata"]["labels"]["videogen.dev/videojob"] for job in json.loads(response.data)["items"]]


def states(custom: client.CustomObjectsApi, namespace: str) -> dict[str, str | None]:
    """Each VideoJob's status.state, from one list call."""
    listed: Any = custom.list_namespaced_custom_object("videogen.dev", "v1alpha1", namespace, "videojobs")
    return {vj["metadata"]["name"]: vj.get("status", {}).get("state") for vj in listed["items"]}


def test_killing_the_operator_at_random_points_never_makes_a_second_job(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    operator = start_operator(max_running_jobs=None)
    wait_for(lambda: ns.get("videomodel", "smoke").get("status", {}).get("state"), lambda s: s == "Ready", 30, "model")
    operator.kill()
    # The API client, not kubectl, for the check after every kill: 20 kubectl starts cost seconds of this machine.
    api = config.new_client_from_config(str(ns.cluster.kubeconfig))  # type: ignore[no-untyped-call]
    batch, custom = client.BatchV1Api(api), client.CustomObjectsApi(api)
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
        per_videojob = Counter(job_owners(batch, ns.name))
        assert all(n == 1 for n in per_videojob.values()), f"after kill {i + 1}: {per_videojob}"

    operator.start()
    final = wait_for(
        lambda: states(custom, ns.name),
        lambda got: all(s == "completed" for s in got.values()),
        45,
        "every VideoJob to complete",
    )
    assert sorted(final) == sorted(names) and set(final.values()) == {"completed"}
    jobs = ns.jobs("videogen.dev/videojob")
    assert sorted(j["metadata"]["name"] for j in jobs) == sorted(names)
    assert all(j["status"].get("succeeded") == 1 for j in jobs)
    assert operator.starts == KILLS + 2
