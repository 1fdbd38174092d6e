"""A job past its TTL, end to end: the operator runs it (stand-in runner) and deletes its VideoJob after the TTL;
the API still serves it and its output from the job record, to its own API key only (issue 17)."""

from __future__ import annotations

from typing import Any

from tests.api import conftest as api_conftest
from tests.api.conftest import ServeApi, wait_until
from tests.operator.conftest import Namespace
from tests.operator.test_operator_runs_videojobs import smoke_model
from videogen_dev.waiting import wait_for

# The API's fixtures, for an API served in this test's namespace beside the operator.
admin = api_conftest.admin
api_kubeconfig = api_conftest.api_kubeconfig
serve_api = api_conftest.serve_api

A, B = {"X-API-Key": "key-a"}, {"X-API-Key": "key-b"}


def test_a_job_past_its_ttl_is_deleted_and_still_served_with_its_output_through_rest(
    ns: Namespace, start_operator: Any, serve_api: ServeApi
) -> None:
    smoke_model(ns)
    start_operator(videojob_ttl_seconds=2, retention_sweep_seconds=1)
    api = serve_api(api_keys=["key-a", "key-b"])
    wait_for(
        lambda: ns.get("videomodel", "smoke"),
        lambda vm: vm.get("status", {}).get("state") == "Ready",
        60,
        "the smoke VideoModel to be Ready",
    )
    submitted = api.http.post(
        "/api/v1/generate/text-to-video", json={"prompt": "a cat steps=1", "model": "smoke"}, headers=A
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    name = job_id.replace("_", "-")

    assert wait_until(lambda: api.http.get(f"/api/v1/job/{job_id}", headers=A).json()["status"] == "completed", 60)
    live = api.http.get(f"/api/v1/job/{job_id}", headers=A).json()
    # The operator's sweep deletes the VideoJob after its TTL; its output and the job record stay.
    wait_for(
        lambda: {vj["metadata"]["name"] for vj in ns.get("videojobs")["items"]},
        lambda names: name not in names,
        60,
        "the VideoJob deleted after its TTL",
    )
    assert wait_until(lambda: api.cache.get(name) is None)

    after = api.http.get(f"/api/v1/job/{job_id}", headers=A)
    assert after.status_code == 200, after.text
    for field in ("job_id", "status", "output_path", "output_url", "created_at", "mode", "model", "used"):
        assert after.json()[field] == live[field], field
    assert api.http.get(f"/api/v1/job/{job_id}", headers=B).status_code == 404
    filename = live["output_path"].removeprefix("./outputs/")
    video = api.http.get(f"/outputs/{filename}", headers=A)
    assert video.status_code == 200 and video.content == b"not really an mp4"
    assert api.http.get(f"/outputs/{filename}", headers=B).status_code == 404
