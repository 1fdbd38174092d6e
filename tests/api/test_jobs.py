"""Beyond the reference: cancel, the job list with filter and pages, and Idempotency-Key."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api.conftest import DATA, Operator, RunningApi, ServeApi

T2V = "/api/v1/generate/text-to-video"


def test_delete_sets_spec_cancel_and_keeps_the_record(api: RunningApi, operator: Operator) -> None:
    job_id = api.http.post(T2V, json={"prompt": "x"}).json()["job_id"]
    response = api.http.delete(f"/api/v1/job/{job_id}")
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True
    assert operator.videojob(job_id)["spec"]["cancel"] is True
    assert api.http.delete(f"/api/v1/job/{job_id}").status_code == 200
    api.wait_until_cached(operator.set_job_status(job_id, {"state": "cancelled"}))
    assert api.http.get(f"/api/v1/job/{job_id}").json()["status"] == "cancelled"


def test_a_completed_job_cannot_be_cancelled(api: RunningApi, operator: Operator) -> None:
    job_id = api.http.post(T2V, json={"prompt": "x"}).json()["job_id"]
    operator.set_job_status(job_id, {"state": "completed"})
    response = api.http.delete(f"/api/v1/job/{job_id}")
    assert response.status_code == 400
    assert response.json() == {
        "error": f"Invalid request: job {job_id} is already completed; there is nothing to cancel"
    }


def test_job_list_filters_by_status_and_pages_newest_first(serve_api: ServeApi, operator: Operator) -> None:
    api = serve_api(max_concurrent_jobs=10)
    ids = [api.http.post(T2V, json={"prompt": f"{i}"}).json()["job_id"] for i in range(5)]
    operator.set_job_status(ids[0], {"state": "completed"})
    # The list comes from the cache: wait for the last change (the watch delivers them in order).
    api.wait_until_cached(operator.set_job_status(ids[1], {"state": "failed"}))

    pages: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = api.http.get("/api/v1/jobs", params=params).json()
        pages += [job["job_id"] for job in body["jobs"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(pages) == sorted(ids) and len(pages) == 5
    created = [operator.videojob(job_id)["metadata"]["creationTimestamp"] for job_id in pages]
    assert created == sorted(created, reverse=True)

    pending = api.http.get("/api/v1/jobs", params={"status": "pending"}).json()["jobs"]
    assert sorted(job["job_id"] for job in pending) == sorted(ids[2:])
    assert [job["job_id"] for job in api.http.get("/api/v1/jobs?status=failed").json()["jobs"]] == [ids[1]]
    assert api.http.get("/api/v1/jobs?status=lost").status_code == 400
    assert api.http.get("/api/v1/jobs?cursor=%%%").status_code == 400
    assert api.http.get("/api/v1/jobs?limit=0").status_code == 400


def test_a_retried_submit_with_the_same_idempotency_key_returns_the_same_job(
    api: RunningApi, operator: Operator
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = api.http.post(T2V, json={"prompt": "x"}, headers=headers)
    second = api.http.post(T2V, json={"prompt": "x"}, headers=headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["job_id"] == second.json()["job_id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(operator.videojobs()) == 1
    reused = api.http.post(T2V, json={"prompt": "something else"}, headers=headers)
    assert reused.status_code == 400
    assert "already used for a different request" in reused.json()["error"]


def test_a_replayed_submit_is_not_refused_by_the_concurrency_limit(api: RunningApi, operator: Operator) -> None:
    first = api.http.post(T2V, json={"prompt": "x"}, headers={"Idempotency-Key": "k1"}).json()["job_id"]
    api.http.post(T2V, json={"prompt": "y"})
    again = api.http.post(T2V, json={"prompt": "x"}, headers={"Idempotency-Key": "k1"})
    assert (again.status_code, again.json()["job_id"]) == (202, first)


def test_parallel_submits_with_one_idempotency_key_make_one_job_and_one_upload(
    serve_api: ServeApi, operator: Operator
) -> None:
    api = serve_api(max_concurrent_jobs=20)
    image = (DATA / "image.png").read_bytes()

    def submit(_: int) -> httpx.Response:
        with httpx.Client(base_url=api.url, timeout=30) as http:
            return http.post(
                "/api/v1/generate/image-to-video",
                files={"image": ("i.png", image)},
                headers={"Idempotency-Key": "same"},
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(submit, range(8)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["job_id"] for r in responses}) == 1
    assert len(operator.videojobs()) == 1
    assert len(operator.keys_under(api.inputs_prefix)) == 1


def test_an_invalid_idempotency_key_is_a_400(api: RunningApi) -> None:
    response = api.http.post(T2V, json={"prompt": "x"}, headers={"Idempotency-Key": "x" * 300})
    assert response.status_code == 400
    assert "Idempotency-Key must be" in response.json()["error"]
