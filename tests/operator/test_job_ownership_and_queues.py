"""Job names are deterministic, so a Job of the wanted name may belong to someone else; and queued Jobs wait for Kueue.

Through a running operator against the local control plane (real Job controller and garbage collector).
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.operator.conftest import Namespace, fill_model_cache
from tests.operator.test_operator_runs_videojobs import runner_jobs, smoke_model
from videogen_dev.waiting import wait_for


def videomodel(ns: Namespace, name: str, repo_id: str) -> None:
    fill_model_cache(ns.model_cache, repo_id, "LTXPipeline")
    ns.apply(
        {
            "apiVersion": "videogen.dev/v1alpha1",
            "kind": "VideoModel",
            "metadata": {"name": name},
            "spec": {"repoId": repo_id},
        }
    )


def model_status(ns: Namespace, name: str) -> dict[str, Any]:
    status: dict[str, Any] = ns.get("videomodel", name).get("status", {})
    return status


def test_a_videojob_named_like_a_download_job_does_not_take_over_the_videomodel(
    ns: Namespace, start_operator: Any
) -> None:
    smoke_model(ns)
    start_operator(resync_seconds=1)
    # Its Job is "later-download": the name the VideoModel "later" will want for its download Job.
    ns.videojob("later-download", prompt="a cat steps=40")
    wait_for(lambda: runner_jobs(ns, "later-download"), bool, 20, "the VideoJob's Job")

    videomodel(ns, "later", "videogen-smoke/later")
    held = wait_for(
        lambda: model_status(ns, "later"), lambda s: "already exists" in s.get("message", ""), 20, "the name clash"
    )
    assert held["state"] == "Pending", held
    assert held["message"].startswith(
        "a Job named later-download already exists and belongs to VideoJob later-download"
    )
    # The squatter's run, completing or failing, never becomes the model's state.
    ns.wait_state("later-download", {"completed", "failed"}, 60)
    time.sleep(2)
    assert model_status(ns, "later")["state"] == "Pending"

    # Once the name is free the model downloads under it, as its own.
    ns.cluster.kubectl("delete", "videojob", "later-download", "-n", ns.name, "--wait=true")
    ready = wait_for(
        lambda: model_status(ns, "later"), lambda s: s.get("state") in ("Ready", "Failed"), 60, "the download"
    )
    assert ready["state"] == "Ready", ready
    (job,) = ns.jobs("videogen.dev/videomodel=later")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "VideoModel"


def test_a_videojob_whose_job_name_is_taken_fails_and_leaves_the_other_job_alone(
    ns: Namespace, start_operator: Any
) -> None:
    start_operator()
    videomodel(ns, "first", "videogen-smoke/first")
    wait_for(lambda: model_status(ns, "first").get("state"), lambda s: s == "Ready", 30, "the VideoModel")

    ns.videojob("first-download", model="first", prompt="a cat steps=1")
    status = ns.wait_state("first-download", {"failed", "completed"}, 30)
    assert (status["state"], status["reason"]) == ("failed", "JobNameTaken"), status
    assert "belongs to VideoModel first" in status["message"]
    assert model_status(ns, "first")["state"] == "Ready"
    (job,) = ns.jobs("app.kubernetes.io/managed-by=videogen-operator")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "VideoModel"


def test_a_queued_job_is_created_suspended_and_runs_only_once_admitted(ns: Namespace, start_operator: Any) -> None:
    smoke_model(ns)
    # No Kueue in this cluster: a Job created running would start at once, outside any quota and outside the cap.
    start_operator(default_queue_name="gpu-queue", max_running_jobs=1)
    ns.videojob("queued", prompt="a cat steps=1")
    suspended = wait_for(lambda: ns.status("queued"), lambda s: s.get("reason") == "Suspended", 20, "Suspended")
    assert suspended["state"] == "pending"
    (job,) = runner_jobs(ns, "queued")
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu-queue"
    time.sleep(2)
    assert ns.pods("videogen.dev/videojob=queued") == []

    # What Kueue does when it admits the Workload.
    patch = json.dumps({"spec": {"suspend": False}})
    ns.cluster.kubectl("patch", "job", "queued", "-n", ns.name, "--type=merge", "-p", patch)
    assert ns.wait_state("queued", {"completed", "failed"})["state"] == "completed"
