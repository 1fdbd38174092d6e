"""S3 goes away while runners run. The store is the session release's private SeaweedFS (tests/system_release.py), so
stopping it disturbs no other test on this machine; it is started again before the test ends, whatever happens.

While S3 is down the API stays ready (degraded: its probe still passes) and keeps answering job reads. Two jobs run
through the outage: one that may retry (the REST default, maxRetries 2) completes on a retry once S3 is back, and one
that may not (a VideoJob with maxRetries 0) fails with a message that names S3. Neither is ever completed without its
video in S3.
"""

from __future__ import annotations

import json
import os
import signal
from typing import Any

from tests.e2e.conftest import FINAL_STATES, TINY, System
from videogen_common.runner_contract import job_record_key
from videogen_dev import processes
from videogen_dev import s3 as local_s3
from videogen_dev.waiting import wait_for

NO_RETRIES = "s3-outage-no-retries"


def no_retries_videojob(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "videogen.dev/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": NO_RETRIES, "namespace": namespace},
        "spec": {
            "mode": "text-to-video",
            "model": "smoke-ltx",
            "prompt": "a lighthouse at dusk",
            "numFrames": TINY["num_frames"],
            "width": TINY["width"],
            "height": TINY["height"],
            "numInferenceSteps": TINY["num_inference_steps"],
            "fps": TINY["fps"],
            "maxRetries": 0,
        },
    }


def kill_s3(system: System) -> None:
    """SIGKILL the store's processes: an outage, not a shutdown."""
    settings = system.release.s3.settings
    pid = processes.running_pid(settings, local_s3.NAME)
    assert pid is not None, "the release's S3 is not running"
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: processes.running_pid(settings, local_s3.NAME), lambda p: p is None, 30, "SeaweedFS to be gone")


def test_s3_stopped_while_runners_run_a_retried_job_completes_and_a_final_one_fails_clearly(system: System) -> None:
    outputs_before = set(system.release.output_keys())
    retried_id = system.submit_tiny()
    retried = retried_id.replace("_", "-")
    system.cluster.kubectl("apply", "-f", "-", input=json.dumps(no_retries_videojob(system.namespace)))
    try:
        wait_for(
            lambda: (system.job(retried_id)["status"], (system.videojob(NO_RETRIES).get("status") or {}).get("state")),
            lambda states: states == ("processing", "processing"),
            180,
            "both jobs to be processing",
        )
        kill_s3(system)
        try:
            # The API stays in the Service: its readiness answers 200 (what the probe needs) and says S3 is down,
            # and job reads go on, from its VideoJob cache.
            ready = system.http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "degraded" and ready.json()["checks"]["s3"].startswith("unreachable")
            # Served (200) with the job's state: processing, or pending again if its attempt already failed.
            assert system.job(retried_id)["status"] in ("processing", "pending")
            # Wait out what the outage does: the first attempts fail (the runner checks S3 before it generates).
            wait_for(
                lambda: (
                    (system.videojob(NO_RETRIES).get("status") or {}).get("state"),
                    [p["status"].get("phase") for p in system.runner_pods(retried)],
                ),
                lambda seen: seen[0] in FINAL_STATES and "Failed" in seen[1],
                180,
                "the outage to fail both first attempts",
            )
        finally:
            local_s3.start(system.release.s3.settings)

        failed = system.videojob(NO_RETRIES)["status"]
        assert (failed["state"], failed["reason"]) == ("failed", "Transient"), failed
        assert "S3 unreachable" in failed["message"], failed
        assert "output" not in failed

        done = system.wait_final(retried_id, 300)
        assert done["status"] == "completed", done
        status = system.videojob(retried)["status"]
        assert status["attempts"] >= 2
        video_key = status["output"]["uri"].removeprefix(f"s3://{system.release.s3.bucket}/")
        head = system.release.s3.client().head_object(Bucket=system.release.s3.bucket, Key=video_key)
        assert head["ContentLength"] > 0
        assert system.probe_output(done).frames == done["used"]["num_frames"]
        # Nothing else was published: the failed job left no object, the retried one exactly its own outputs (video,
        # poster, metadata) and its job record.
        new_keys = set(system.release.output_keys()) - outputs_before
        assert video_key in new_keys
        record = job_record_key(system.release.outputs_prefix, system.namespace, retried)
        assert all(key.rsplit(".", 1)[0] == video_key.rsplit(".", 1)[0] or key == record for key in new_keys), new_keys
    finally:
        system.cluster.kubectl("delete", "videojob", NO_RETRIES, "-n", system.namespace, "--wait=false", check=False)
