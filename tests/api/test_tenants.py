"""Tenants: with API keys each key sees, cancels and downloads only the jobs it made (another's is a 404, as if it
did not exist), admin keys see all; Idempotency-Keys are scoped per API key and enforced by the apiserver; a per-key
active-job limit; a create whose answer is lost is read back rather than undone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import urllib3

from tests.api.conftest import DATA, Operator, RunningApi, ServeApi, wait_until
from tests.api.test_errors import I2V, T2V, error_of
from tests.conftest import S3Endpoint
from tests.system_release import free_port
from videogen_api.auth import owner_hash
from videogen_api.config import ApiSettings
from videogen_api.kube import Kube, make_api_client
from videogen_common.resources.meta import LABEL_OWNER
from videogen_common.resources.objects import VideoJob

A, B, ADMIN = {"X-API-Key": "key-a"}, {"X-API-Key": "key-b"}, {"Authorization": "Bearer key-admin"}
KEYS = ["key-a", "key-b", "key-admin admin"]
OUTPUT = "text2video_20240115_103045_abc123.mp4"


def _complete(api: RunningApi, operator: Operator, job_id: str, filename: str) -> None:
    operator.put_output(api.settings.outputs_prefix, filename, (DATA / "clip.mp4").read_bytes())
    output = {
        "uri": f"s3://{api.settings.bucket}/{api.settings.outputs_prefix}/{filename}",
        "file": filename,
        "path": f"./outputs/{filename}",
    }
    api.wait_until_cached(operator.set_job_status(job_id, {"state": "completed", "output": output}))


def test_a_key_cannot_see_cancel_or_download_another_keys_jobs(serve_api: ServeApi, operator: Operator) -> None:
    api = serve_api(api_keys=KEYS)
    job_a = api.http.post(T2V, json={"prompt": "a's"}, headers=A).json()["job_id"]
    job_b = api.http.post(T2V, json={"prompt": "b's"}, headers=B).json()["job_id"]
    videojob = operator.videojob(job_a)
    assert videojob["metadata"]["labels"][LABEL_OWNER] == owner_hash("key-a")
    assert "key-a" not in json.dumps(videojob)

    def listed(headers: dict[str, str]) -> set[str]:
        return {job["job_id"] for job in api.http.get("/api/v1/jobs", headers=headers).json()["jobs"]}

    assert (listed(A), listed(B), listed(ADMIN)) == ({job_a}, {job_b}, {job_a, job_b})
    for path in (f"/api/v1/job/{job_a}", f"/api/v1/job/{job_a}/events", f"/api/v1/job/{job_a}/poster"):
        assert f"No job with id '{job_a}'" == error_of(api.http.get(path, headers=B), 404)
    assert error_of(api.http.delete(f"/api/v1/job/{job_a}", headers=B), 404) == f"No job with id '{job_a}'"
    assert operator.videojob(job_a)["spec"].get("cancel") is not True

    _complete(api, operator, job_a, OUTPUT)
    assert api.http.get(f"/api/v1/job/{job_a}", headers=A).json()["output_url"].endswith(f"/outputs/{OUTPUT}")
    for method in ("GET", "HEAD"):
        assert api.http.request(method, f"/outputs/{OUTPUT}", headers=B).status_code == 404
        own = api.http.request(method, f"/outputs/{OUTPUT}", headers=A)
        assert own.status_code == 200 and own.headers["Cache-Control"] == "private"
    assert api.http.get(f"/outputs/{OUTPUT}", headers=ADMIN).status_code == 200
    # A file no job of the key's wrote is not served even though it is in the bucket.
    operator.put_output(api.settings.outputs_prefix, "text2video_20240115_103045_ffffff.mp4", b"x")
    assert api.http.get("/outputs/text2video_20240115_103045_ffffff.mp4", headers=A).status_code == 404

    assert api.http.delete(f"/api/v1/job/{job_b}", headers=ADMIN).status_code == 202
    assert operator.videojob(job_b)["spec"]["cancel"] is True


@pytest.fixture
def two_api_processes(api_kubeconfig: Path, namespace: str, s3: S3Endpoint, tmp_path: Path) -> Iterator[list[str]]:
    """Two ``videogen-api`` processes (as two replicas run) on one namespace, bucket and key file."""
    keys = tmp_path / "api-keys"
    keys.write_text("\n".join(KEYS) + "\n")
    ports = [free_port(), free_port()]
    env = {
        **os.environ,
        "VIDEOGEN_API_NAMESPACE": namespace,
        "VIDEOGEN_API_KUBECONFIG": str(api_kubeconfig),
        "VIDEOGEN_API_BUCKET": s3.bucket,
        "VIDEOGEN_API_INPUTS_PREFIX": f"test-inputs/{namespace}",
        "VIDEOGEN_API_API_KEYS_FILE": str(keys),
        "VIDEOGEN_API_MAX_CONCURRENT_JOBS": "20",
        "VIDEOGEN_API_HOST": "127.0.0.1",
        "VIDEOGEN_S3_ENDPOINT_URL": s3.endpoint_url,
        "VIDEOGEN_S3_ACCESS_KEY_ID": s3.access_key,
        "VIDEOGEN_S3_SECRET_ACCESS_KEY": s3.secret_key,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "videogen_api.main"],
            env=env | {"VIDEOGEN_API_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:

        def ready(url: str) -> bool:
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(lambda: all(ready(url) for url in urls), timeout=60, interval=0.2)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_one_idempotency_key_sent_to_two_api_processes_at_once_makes_one_videojob(
    two_api_processes: list[str], operator: Operator, namespace: str
) -> None:
    image = (DATA / "image.png").read_bytes()

    def submit(number: int, headers: dict[str, str] = A) -> httpx.Response:
        with httpx.Client(base_url=two_api_processes[number % 2], timeout=30) as http:
            return http.post(I2V, files={"image": ("i.png", image)}, headers={**headers, "Idempotency-Key": "order-7"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(submit, range(8)))
    assert {r.status_code for r in responses} == {202}, [r.text for r in responses]
    assert len({r.json()["job_id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 7
    assert len(operator.videojobs()) == 1
    # Each losing submit removed its own upload; the job's input is the one left.
    (key,) = operator.keys_under(f"test-inputs/{namespace}")
    assert operator.videojobs()[0]["spec"]["input"]["uri"].endswith(key)
    # Scoped per API key: the same Idempotency-Key from another key is another job.
    other = submit(0, B)
    assert other.status_code == 202 and other.json()["job_id"] != responses[0].json()["job_id"]
    assert "Idempotent-Replayed" not in other.headers


def test_a_key_beyond_its_active_job_limit_gets_429_while_others_still_submit(serve_api: ServeApi) -> None:
    api = serve_api(api_keys=KEYS, max_active_jobs_per_key=1, max_concurrent_jobs=10)
    assert api.http.post(T2V, json={"prompt": "x"}, headers=A).status_code == 202
    refused = api.http.post(T2V, json={"prompt": "y"}, headers=A)
    assert error_of(refused, 429) == "This API key has 1 active jobs, its limit; retry later"
    assert refused.headers["Retry-After"] == "10"
    assert api.http.post(T2V, json={"prompt": "x"}, headers=B).status_code == 202


class _AnswerLost(Kube):
    """The apiserver commits the create, and its answer never reaches the API (a timeout, a dropped connection)."""

    def create_videojob(self, videojob: VideoJob) -> VideoJob | None:
        super().create_videojob(videojob)
        raise urllib3.exceptions.ReadTimeoutError(None, "/apis", "Read timed out.")  # type: ignore[arg-type]


def test_a_create_whose_answer_is_lost_is_read_back_and_keeps_its_input(
    serve_api: ServeApi, operator: Operator
) -> None:
    def answer_lost(settings: ApiSettings) -> Kube:
        return _AnswerLost(make_api_client(settings), settings.namespace)

    api = serve_api(kube=answer_lost)
    response = api.http.post(I2V, files={"image": ("i.png", (DATA / "image.png").read_bytes())})
    assert response.status_code == 202, response.text
    videojob: dict[str, Any] = operator.videojob(response.json()["job_id"])
    (key,) = operator.keys_under(api.inputs_prefix)
    assert videojob["spec"]["input"]["uri"] == f"s3://{api.settings.bucket}/{key}"
