"""The system disturbed from outside while it works: a runner pod deleted, the API restarted in a submit storm (the
operator's kills are in test_gpu_cap.py, the S3 outage in test_storage_outage.py). Each disturbance happens a fixed
number of times at a defined point, and every wait is bounded."""

from __future__ import annotations

import random
import threading
import time
import uuid

import httpx

from tests.e2e.conftest import TINY, System
from videogen_api.admission import idempotency_key_hash
from videogen_api.videojobs import IDEMPOTENCY_LABEL
from videogen_dev.waiting import wait_for

STORM_KEYS = 12


def test_runner_pod_deleted_mid_run_the_job_retries_and_completes(system: System) -> None:
    job_id = system.submit_tiny()
    name = job_id.replace("_", "-")
    first = wait_for(
        lambda: [p for p in system.runner_pods(name) if p["status"].get("phase") == "Running"],
        lambda pods: len(pods) == 1,
        180,
        f"the runner pod of {name} to run",
    )[0]["metadata"]["name"]
    system.core.delete_namespaced_pod(first, system.namespace)

    final = system.wait_final(job_id, 300)
    assert final["status"] == "completed", final
    probe = system.probe_output(final)
    assert probe.frames == final["used"]["num_frames"]
    job = system.batch_jobs(name)[0]["status"]
    # The deleted pod counts as the failed attempt; a second pod did the work.
    assert (job.get("failed"), job.get("succeeded")) == (1, 1), job
    status = system.videojob(name)["status"]
    assert status["attempts"] == 2 and status["podName"] != first


def test_api_restarted_during_a_submit_storm_loses_and_duplicates_no_job(system: System) -> None:
    run = uuid.uuid4().hex[:8]
    keys = [f"storm-{run}-{i}" for i in range(STORM_KEYS)]
    answers: dict[str, list[str]] = {key: [] for key in keys}
    errors: list[str] = []
    deadline = time.monotonic() + 180

    def client(key: str) -> None:
        """Submits its request twice (the second as a client that never saw the first answer would), retrying what
        a restart interrupts: connection errors and 5xx answers."""
        body = {"prompt": f"storm {key}", **TINY}
        time.sleep(random.uniform(0, 2))  # spread the storm over the restart
        with httpx.Client(base_url=system.release.api_url, timeout=15) as http:
            while len(answers[key]) < 2 and time.monotonic() < deadline:
                try:
                    response = http.post("/api/v1/generate/text-to-video", json=body, headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    time.sleep(0.2)
                    continue
                if response.status_code >= 500:
                    time.sleep(0.2)
                    continue
                if response.status_code != 202:
                    errors.append(f"{key}: {response.status_code} {response.text}")
                    return
                answers[key].append(response.json()["job_id"])
                time.sleep(0.3)

    def answered() -> int:
        return sum(len(a) for a in answers.values())

    threads = [threading.Thread(target=client, args=(key,), daemon=True) for key in keys]
    for thread in threads:
        thread.start()
    try:
        wait_for(answered, lambda n: n >= 4, 60, "the storm's first answers")
        restarts = system.kill("api")
        assert answered() < 2 * STORM_KEYS, "the storm was over before the API went down"
        system.wait_restarted("api", restarts)
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    finally:
        system.submitted.extend({job_id for ids in answers.values() for job_id in ids})

    assert errors == []
    assert all(len(ids) == 2 for ids in answers.values()), answers
    assert all(len(set(ids)) == 1 for ids in answers.values()), answers
    by_key = {key: ids[0] for key, ids in answers.items()}
    assert len(set(by_key.values())) == STORM_KEYS

    # The cluster agrees: exactly one VideoJob per key, and it is the one the clients were told about.
    hashes = {idempotency_key_hash(key): key for key in keys}
    videojobs = system.cluster.get_json("videojobs", "-n", system.namespace)["items"]
    stormed = [vj for vj in videojobs if vj["metadata"].get("labels", {}).get(IDEMPOTENCY_LABEL) in hashes]
    assert len(stormed) == STORM_KEYS
    assert {vj["metadata"]["name"] for vj in stormed} == {job_id.replace("_", "-") for job_id in by_key.values()}
