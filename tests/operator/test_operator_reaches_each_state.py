"""States the running operator reaches only through the cluster: the queue's priority under a cap, a pod no node
can take (WaitingForGPU) until the Job's deadline (DeadlineExceeded), and an eviction that costs no retry.

The operator runs as in test_operator_runs_videojobs.py (its own service account, the chart's RBAC, the stand-in
runner steered by the prompt); what is checked is what the operator wrote into the VideoJob.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.operator.conftest import Namespace
from tests.operator.test_operator_runs_videojobs import runner_jobs, smoke_model
from videogen_dev.waiting import wait_for


def test_under_a_cap_of_one_a_higher_priority_videojob_created_later_runs_before_a_lower_one(
    ns: Namespace, start_operator: Any
) -> None:
    smoke_model(ns)
    # A ceiling of 10 lets "high" use priority 10 without a PriorityClass.
    start_operator(max_running_jobs=1, max_priority=10)
    # Long enough that both later jobs are queued, and their places rewritten (every 2.5 s), before it ends.
    ns.videojob("blocker", prompt="a cat steps=15 step_seconds=0.4")
    ns.wait_state("blocker", {"processing"})
    ns.videojob("low", prompt="a cat steps=1", priority=0)
    time.sleep(1.1)  # creationTimestamp has one-second resolution: "low" is older by the clock the queue reads
    ns.videojob("high", prompt="a cat steps=1", priority=10)
    # The Queued message counts who is ahead: priority first, though "high" came later.
    wait_for(
        lambda: {n: ns.status(n).get("message", "") for n in ("low", "high")},
        lambda m: m["high"].endswith("; 0 ahead") and m["low"].endswith("; 1 ahead"),
        20,
        "high first and low second in the queue behind the blocker",
    )

    final = {n: ns.wait_state(n, {"completed", "failed"}, timeout=60) for n in ("blocker", "high", "low")}
    assert all(s["state"] == "completed" for s in final.values()), final
    assert final["high"]["startTime"] <= final["low"]["startTime"]
    jobs = {j["metadata"]["name"]: j["metadata"]["creationTimestamp"] for j in ns.jobs()}
    assert jobs["high"] <= jobs["low"], f"Job creation order: {jobs}"
    assert final["low"]["startTime"] >= final["high"]["completionTime"], "the cap of one held while they ran"


def test_a_pod_no_node_can_take_waits_for_gpu_until_the_deadline_fails_it(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    start_operator(allowed_node_selectors={"nvidia.com/gpu.product": ["H100"]})
    # The only node is the local-cpu stand-in: no node of this pool has a free GPU, so the pod stays unschedulable.
    ns.videojob(
        "no-gpu",
        prompt="a cat steps=1",
        activeDeadlineSeconds=60,  # the CRD's minimum
        scheduling={"nodeSelector": {"nvidia.com/gpu.product": "H100"}},
    )
    waiting = wait_for(lambda: ns.status("no-gpu"), lambda s: s.get("reason") == "WaitingForGPU", 30, "WaitingForGPU")
    assert waiting["state"] == "pending"
    # The scheduler's own words reach the VideoJob.
    assert "0/" in waiting["message"] and "nodes are available" in waiting["message"], waiting
    (pod,) = ns.pods("videogen.dev/videojob=no-gpu")
    assert pod["status"]["phase"] == "Pending"

    final = ns.wait_state("no-gpu", {"failed", "completed"}, timeout=100)
    assert (final["state"], final["reason"]) == ("failed", "DeadlineExceeded"), final
    assert {c["type"]: c["reason"] for c in final["conditions"]}["Failed"] == "DeadlineExceeded"


def test_an_evicted_runner_pod_does_not_count_against_max_retries(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    start_operator()
    # maxRetries 0: a failure that counted would fail the VideoJob; only the podFailurePolicy's Ignore of
    # DisruptionTarget lets it run again.
    ns.videojob("evicted", prompt="a cat steps=20 step_seconds=0.3", maxRetries=0)
    running = wait_for(
        lambda: ns.status("evicted"),
        lambda s: s.get("state") == "processing" and (s.get("progress") or {}).get("step", 0) >= 1,
        40,
        "the first pod to run",
    )
    first_pod = running["podName"]
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": first_pod, "namespace": ns.name},
    }
    ns.cluster.kubectl(
        "create", "--raw", f"/api/v1/namespaces/{ns.name}/pods/{first_pod}/eviction", "-f", "-",
        input=json.dumps(eviction),
    )  # fmt: skip

    final = ns.wait_state("evicted", {"completed", "failed"}, timeout=90)
    assert final["state"] == "completed", final
    assert final["podName"] != first_pod, "a second pod ran the job"
    (job,) = runner_jobs(ns, "evicted")
    assert job["status"].get("failed", 0) == 0, f"the eviction was counted: {job['status']}"
