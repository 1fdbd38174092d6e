"""The operator against the local control plane (real Job controller, scheduler, GC) and the local GPU node.

The operator runs as its own service account bound to the chart's RBAC rules; the runner is the stand-in
(``stand_in_runner.py``), steered by words in the prompt.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from tests.operator.conftest import Namespace, fill_model_cache
from videogen_dev.waiting import wait_for

SELECT = "app.kubernetes.io/managed-by=videogen-operator"


def smoke_model(ns: Namespace, name: str = "smoke", repo_id: str = "videogen-smoke/tiny") -> None:
    fill_model_cache(ns.model_cache, repo_id)
    ns.apply(
        {
            "apiVersion": "videogen.dev/v1alpha1",
            "kind": "VideoModel",
            "metadata": {"name": name},
            "spec": {"repoId": repo_id},
        }
    )


def runner_jobs(ns: Namespace, name: str) -> list[dict[str, Any]]:
    return ns.jobs(f"videogen.dev/videojob={name}")


def test_videojob_runs_as_one_gpu_job_and_completes_with_output(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    start_operator()
    ns.videojob("cat", gpus=1, prompt="a cat steps=3", maxRetries=1, activeDeadlineSeconds=120)

    status = ns.wait_state("cat", {"completed", "failed"})
    assert status["state"] == "completed", status
    assert status["progress"]["percent"] == 100
    assert status["output"]["path"] == f"./outputs/{status['output']['file']}"
    assert status["output"]["file"].startswith("text2video_")
    assert status["used"]["model"] == "videogen-smoke/tiny"
    assert status["jobName"] == "cat" and status["attempts"] == 1
    assert {c["type"]: c["status"] for c in status["conditions"]}["Complete"] == "True"
    key = status["output"]["uri"].removeprefix(f"s3://{ns.s3.bucket}/")
    assert key in ns.s3_keys("outputs/")
    assert key.startswith(f"{ns.s3_prefix}/outputs/text2video_")

    jobs = runner_jobs(ns, "cat")
    assert len(jobs) == 1
    job = jobs[0]
    assert job["metadata"]["ownerReferences"][0]["kind"] == "VideoJob"
    assert job["metadata"]["ownerReferences"][0]["controller"] is True
    assert job["spec"]["backoffLimit"] == 1 and job["spec"]["activeDeadlineSeconds"] == 120
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "FailJob" and rules[0]["onExitCodes"]["values"] == [10, 11]
    assert rules[1]["action"] == "Ignore" and rules[1]["onPodConditions"][0]["type"] == "DisruptionTarget"
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec["tolerations"]
    container = pod_spec["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    env = {e["name"]: e for e in container["env"]}
    assert "value" not in env["VIDEOGEN_S3_SECRET_ACCESS_KEY"]
    assert env["VIDEOGEN_S3_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "videogen-s3"
    runner_input = json.loads(env["VIDEOGEN_RUNNER_INPUT"]["value"])
    assert runner_input["model"]["path"].endswith("/snapshots/0123456789abcdef0123456789abcdef01234567")
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert volumes["model-cache"]["persistentVolumeClaim"]["readOnly"] is True
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    pods = ns.pods(f"videogen.dev/videojob={ns.get('videojob', 'cat')['metadata']['name']}")
    assert [p["spec"]["nodeName"] for p in pods] == ["gpu-node-0"]
    reasons = {e["reason"] for e in ns.get("events", "--field-selector", "involvedObject.name=cat")["items"]}
    assert {"Created", "Completed"} <= reasons


def test_failing_run_ends_failed_with_the_runners_message(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    start_operator()
    ns.videojob("oom", prompt="a cat exit=11", maxRetries=2)

    status = ns.wait_state("oom", {"completed", "failed"})
    assert status["state"] == "failed"
    assert status["reason"] == "OutOfMemory"
    assert "stand-in runner failed on purpose: OutOfMemory" in status["message"]
    failed = {c["type"]: c for c in status["conditions"]}["Failed"]
    assert (failed["status"], failed["reason"]) == ("True", "OutOfMemory")
    assert status["attempts"] == 1, "podFailurePolicy FailJob: out of memory is not retried"
    warnings = [e for e in ns.get("events", "--field-selector", "involvedObject.name=oom")["items"]]
    assert any(e["reason"] == "Failed" and e["type"] == "Warning" for e in warnings)


def test_invalid_input_exit_is_not_retried(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    start_operator()
    ns.videojob("bad", prompt="a cat exit=10", maxRetries=3)

    status = ns.wait_state("bad", {"completed", "failed"})
    assert (status["state"], status["reason"]) == ("failed", "InvalidInput")
    assert status["attempts"] == 1
    assert len(ns.pods("videogen.dev/videojob=bad")) == 1


def test_transient_exit_is_retried_up_to_the_limit(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    start_operator()
    # One retry: the Job controller waits 10 s before it (its pod backoff), so more would only slow the test.
    ns.videojob("flaky", prompt="a cat exit=12 steps=1", maxRetries=1)

    seen: list[dict[str, Any]] = []

    def observe() -> dict[str, Any]:
        seen.append(status := ns.status("flaky"))
        return status

    status = wait_for(observe, lambda s: s.get("state") in ("completed", "failed"), 45, "flaky to finish", 0.2)
    assert (status["state"], status["reason"]) == ("failed", "Transient")
    # Between the two attempts (the Job controller's 10 s backoff) the VideoJob says it will try again, and why.
    retrying = [s for s in seen if s.get("reason") == "Retrying"]
    assert retrying, f"reasons seen: {sorted({str(s.get('reason')) for s in seen})}"
    assert retrying[0]["state"] == "pending"
    assert retrying[0]["message"].startswith("attempt 1 failed (Transient: stand-in runner failed on purpose")
    assert status["attempts"] == 2, "one run plus maxRetries=1 retry"
    assert len(ns.pods("videogen.dev/videojob=flaky")) == 2


def test_progress_changes_while_the_pod_runs_and_shows_in_kubectl_get(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    start_operator()
    ns.videojob("slow", prompt="a cat steps=8 step_seconds=0.6")

    seen: set[int] = set()
    columns: set[str] = set()

    def observe() -> dict[str, Any]:
        status = ns.status("slow")
        if status.get("state") == "processing" and "progress" in status:
            seen.add(status["progress"]["percent"])
            table = ns.cluster.kubectl("get", "vj", "slow", "-n", ns.name, "--no-headers").stdout.split()
            columns.add(table[4])  # NAME MODE MODEL STATUS PROGRESS AGE
        return status

    wait_for(observe, lambda s: s.get("state") in ("completed", "failed"), 40, "slow to finish")
    partial = {p for p in seen if 0 < p < 100}
    assert len(partial) >= 2, f"progress seen while processing: {sorted(seen)}"
    assert columns & {str(p) for p in partial}, f"kubectl get vj PROGRESS column showed {sorted(columns)}"
    assert ns.status("slow")["progress"]["percent"] == 100


def test_with_cap_one_three_videojobs_run_one_at_a_time_in_creation_order(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    start_operator(max_running_jobs=1)
    names = ["first", "second", "third"]
    for name in names:
        ns.videojob(name, prompt="a cat steps=4 step_seconds=0.4")
        time.sleep(1.1)  # creationTimestamp has one-second resolution

    reasons: dict[str, set[str]] = {n: set() for n in names}
    overlap: list[list[str]] = []

    def observe() -> dict[str, dict[str, Any]]:
        statuses = {n: ns.status(n) for n in names}
        for n, s in statuses.items():
            reasons[n].add(s.get("reason", ""))
        running = [n for n, s in statuses.items() if s.get("state") == "processing"]
        if len(running) > 1:
            overlap.append(running)
        return statuses

    final = wait_for(
        observe, lambda all_: all(s.get("state") == "completed" for s in all_.values()), 50, "all three to complete"
    )
    assert not overlap, f"ran at once: {overlap}"
    assert "Queued" in reasons["second"] and "Queued" in reasons["third"]
    jobs = {j["metadata"]["name"]: j for j in ns.jobs()}
    created = sorted(names, key=lambda n: jobs[n]["metadata"]["creationTimestamp"])
    assert created == names
    for earlier, later in itertools.pairwise(names):
        assert final[later]["startTime"] >= final[earlier]["completionTime"]


def test_cancel_while_running_removes_the_pod_and_publishes_no_output(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    start_operator()
    ns.videojob("stop-me", prompt="a cat upload_early steps=200 step_seconds=0.2")
    running = ns.wait_state("stop-me", {"processing"})
    output_key = running["output"]["uri"] if "output" in running else None
    assert output_key is None, "no output is shown before completion"
    # Video, poster, metadata and the job record.
    wait_for(lambda: ns.s3_keys("outputs/"), lambda keys: len(keys) == 4, 20, "early uploads")

    ns.cluster.kubectl("patch", "vj", "stop-me", "-n", ns.name, "--type=merge", "-p", '{"spec":{"cancel":true}}')

    status = ns.wait_state("stop-me", {"cancelled", "completed", "failed"})
    assert (status["state"], status["reason"]) == ("cancelled", "Cancelled")
    assert ns.pods("videogen.dev/videojob=stop-me") == []
    assert runner_jobs(ns, "stop-me") == []
    assert ns.s3_keys("outputs/") == []
    assert "output" not in status


def test_deleting_a_videojob_garbage_collects_its_job_and_pods(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    start_operator()
    ns.videojob("doomed", prompt="a cat steps=200 step_seconds=0.2")
    ns.wait_state("doomed", {"processing"})
    assert len(runner_jobs(ns, "doomed")) == 1

    ns.cluster.kubectl("delete", "vj", "doomed", "-n", ns.name, "--wait=true", "--timeout=20s")

    wait_for(
        lambda: (runner_jobs(ns, "doomed"), ns.pods("videogen.dev/videojob=doomed")),
        lambda seen: seen == ([], []),
        40,
        "the Job and its pods to be garbage-collected",
    )


def test_videomodel_becomes_ready_and_the_videojob_waiting_for_it_starts(ns: Namespace, start_operator: Any) -> None:
    start_operator()
    ns.videojob("patient", model="later", prompt="a cat steps=2")
    waiting = wait_for(
        lambda: ns.status("patient"), lambda s: s.get("reason") == "WaitingForModel", 20, "WaitingForModel"
    )
    assert waiting["state"] == "pending"
    assert runner_jobs(ns, "patient") == []

    _, commit = fill_model_cache(ns.model_cache, "videogen-smoke/later", "LTXPipeline")
    ns.apply(
        {
            "apiVersion": "videogen.dev/v1alpha1",
            "kind": "VideoModel",
            "metadata": {"name": "later"},
            "spec": {"repoId": "videogen-smoke/later"},
        }
    )
    model = wait_for(
        lambda: ns.get("videomodel", "later").get("status", {}),
        lambda s: s.get("state") in ("Ready", "Failed"),
        30,
        "the VideoModel to be Ready",
    )
    assert model["state"] == "Ready", model
    assert model["resolvedRevision"] == commit
    assert model["path"] == f"/models/hub/models--videogen-smoke--later/snapshots/{commit}"
    assert model["fileCount"] == 3 and model["sizeBytes"] > 1000
    assert (model["pipelineClass"], model["family"]) == ("LTXPipeline", "ltx")
    assert "text-to-video" in model["modes"]

    status = ns.wait_state("patient", {"completed", "failed"})
    assert status["state"] == "completed"
    assert status["used"]["model"] == "videogen-smoke/later"


def test_per_job_scheduling_is_refused_outside_the_allow_list_and_reaches_the_pod_inside_it(
    ns: Namespace, start_operator: Any
) -> None:
    smoke_model(ns)
    toleration = {"key": "videogen.dev/test-pool", "operator": "Exists", "effect": "NoSchedule"}
    start_operator(
        allowed_priority_classes=["videogen-test-low"],
        allowed_node_selectors={"nvidia.com/gpu.product": ["local-cpu-stand-in", "H100"]},
        allowed_tolerations=[toleration],
    )
    ns.videojob("refused", prompt="a cat steps=1", scheduling={"priorityClassName": "system-node-critical"})
    ns.videojob(
        "placed",
        prompt="a cat steps=1",
        scheduling={"nodeSelector": {"nvidia.com/gpu.product": "local-cpu-stand-in"}, "tolerations": [toleration]},
    )

    refused = ns.wait_state("refused", {"failed", "completed"}, 30)
    assert (refused["state"], refused["reason"]) == ("failed", "SchedulingNotAllowed"), refused
    assert refused["message"] == (
        "spec.scheduling.priorityClassName 'system-node-critical' is not allowed "
        "(allowed: videogen-test-low; setting allowed_priority_classes)"
    )
    assert runner_jobs(ns, "refused") == []

    placed = ns.wait_state("placed", {"completed", "failed"})
    assert placed["state"] == "completed", placed
    pod_spec = runner_jobs(ns, "placed")[0]["spec"]["template"]["spec"]
    # The job's choice is merged over the settings' selector and tolerations, which still apply.
    assert pod_spec["nodeSelector"] == {"videogen.dev/pool": "gpu", "nvidia.com/gpu.product": "local-cpu-stand-in"}
    assert pod_spec["tolerations"][-1] == toleration
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec["tolerations"]


def test_a_model_outside_the_allow_list_fails_the_videojob_and_makes_no_job(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    start_operator(model_allowlist="videogen-smoke/other,videogen-smoke/another")
    ns.videojob("by-repo-id", model="videogen-smoke/tiny", prompt="a cat steps=1")
    # A VideoModel name is no way around the list: the repo it downloads is what counts.
    ns.videojob("by-name", model="smoke", prompt="a cat steps=1")

    for name in ("by-repo-id", "by-name"):
        status = ns.wait_state(name, {"failed", "completed"})
        assert (status["state"], status["reason"]) == ("failed", "ModelNotAllowed"), status
        assert status["message"] == (
            "model videogen-smoke/tiny is not allowed here; use one of: videogen-smoke/other, videogen-smoke/another"
        )
        assert {c["type"]: c["reason"] for c in status["conditions"]}["Failed"] == "ModelNotAllowed"
        assert runner_jobs(ns, name) == []
