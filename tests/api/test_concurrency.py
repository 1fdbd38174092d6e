"""The concurrency limit counts active VideoJobs in the cluster and is exact under parallel submits."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api.conftest import Operator, RunningApi, ServeApi

T2V = "/api/v1/generate/text-to-video"


def test_twenty_parallel_submits_at_cap_two_admit_exactly_two(api: RunningApi, operator: Operator) -> None:
    def submit(i: int) -> httpx.Response:
        with httpx.Client(base_url=api.url, timeout=30) as http:
            return http.post(T2V, json={"prompt": f"clip {i}"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(submit, range(20)))

    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code == 429]
    assert (len(accepted), len(refused)) == (2, 18), [r.status_code for r in responses]
    for response in refused:
        assert response.json() == {"error": "Too many concurrent requests. Please try again later."}
        assert response.headers["Retry-After"] == "10"
    assert len(operator.videojobs()) == 2


def test_a_finished_job_frees_its_slot(api: RunningApi, operator: Operator) -> None:
    first = api.http.post(T2V, json={"prompt": "a"}).json()["job_id"]
    api.http.post(T2V, json={"prompt": "b"})
    assert api.http.post(T2V, json={"prompt": "c"}).status_code == 429
    operator.set_job_status(first, {"state": "completed"})
    assert api.http.post(T2V, json={"prompt": "c"}).status_code == 202


def test_the_limit_counts_videojobs_made_by_hand_too(serve_api: ServeApi, operator: Operator) -> None:
    api = serve_api(max_concurrent_jobs=1)
    operator.objects.create_namespaced_custom_object(
        "videogen.dev", "v1alpha1", operator.namespace, "videojobs",
        {"apiVersion": "videogen.dev/v1alpha1", "kind": "VideoJob", "metadata": {"name": "by-hand"},
         "spec": {"mode": "text-to-video", "prompt": "kubectl apply"}},
    )  # fmt: skip
    response = api.http.post(T2V, json={"prompt": "x"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "10"
