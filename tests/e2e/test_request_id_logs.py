"""One request id from REST to the runner: the client's X-Request-ID comes back on the response, is written on the
VideoJob, and names the job's JSON log lines in the API's, the operator's and the runner's pod logs, read with
`kubectl logs` as a person on the platform would."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.e2e.conftest import TINY, System
from videogen_common.resources.meta import ANNOTATION_REQUEST_ID


def json_lines(text: str) -> list[dict[str, Any]]:
    """The log lines of a pod's log (JSON objects with a logger); other output (the runner's result) is left out."""
    found = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "logger" in doc:
            found.append(doc)
    return found


def test_one_request_id_names_the_jobs_lines_in_the_api_operator_and_runner_logs(system: System) -> None:
    request_id = f"e2e-{uuid.uuid4().hex[:12]}"
    response = system.http.post(
        "/api/v1/generate/text-to-video",
        json={"prompt": "a lighthouse at dusk", **TINY},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 202, response.text
    assert response.headers["X-Request-ID"] == request_id
    job_id = response.json()["job_id"]
    system.submitted.append(job_id)
    name = job_id.replace("_", "-")
    assert system.videojob(name)["metadata"]["annotations"][ANNOTATION_REQUEST_ID] == request_id
    assert system.wait_final(job_id)["status"] == "completed"

    def lines_of(target: str) -> list[dict[str, Any]]:
        logs = system.cluster.kubectl("logs", target, "-n", system.namespace, "--tail=-1").stdout
        return [line for line in json_lines(logs) if line.get("request_id") == request_id]

    api = lines_of("deploy/videogen-api")
    assert any(line["message"] == f"created VideoJob {name}" and line["job_id"] == job_id for line in api), api
    assert any(line["message"].startswith("POST /api/v1/generate/text-to-video 202") for line in api), api

    operator = lines_of("deploy/videogen-operator")
    assert any(line["message"] == f"created Job {name}" for line in operator), operator
    assert any(line["message"].startswith("completed (Succeeded)") for line in operator), operator
    assert all(line["videojob"] == name and line["job_id"] == job_id for line in operator)

    (pod,) = system.runner_pods(name)
    runner_logs = system.cluster.kubectl("logs", pod["metadata"]["name"], "-n", system.namespace).stdout
    runner = json_lines(runner_logs)
    assert runner, runner_logs[-2000:]
    # Nothing else in the pod's log but JSON: the log lines and the runner's result (its termination message).
    not_json = [line for line in runner_logs.splitlines() if line.strip() and not line.startswith("{")]
    assert not not_json, not_json[:5]
    # Every log line of the run names the job and the request, not only some.
    assert all(line.get("request_id") == request_id and line.get("job_id") == job_id for line in runner), runner
