"""Runs under the chart's RBAC rules; readiness, API keys, metrics and the OpenAPI document."""

from __future__ import annotations

import subprocess

import pytest

from tests.api.conftest import API_RULES, DATA, Operator, RunningApi, ServeApi, s3_settings
from tests.conftest import S3Endpoint
from tests.rbac import read_can_i
from videogen_api.errors import S3_UNAVAILABLE
from videogen_dev.cluster import Cluster


def test_the_api_service_account_can_do_what_the_api_needs_and_no_more(
    cluster: Cluster, api: RunningApi, namespace: str
) -> None:
    def can(verb: str, resource: str, *extra: str) -> bool:
        result = subprocess.run(
            [str(cluster.settings.venv_bin / "kubectl"), f"--kubeconfig={api.settings.kubeconfig}",
             "auth", "can-i", verb, resource, "-n", namespace, *extra],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return read_can_i(result)

    assert API_RULES.exists()
    assert all(can(verb, "videojobs.videogen.dev") for verb in ("create", "get", "list", "watch", "patch"))
    assert all(can(verb, "videomodels.videogen.dev") for verb in ("create", "get", "list"))
    assert not can("patch", "videojobs.videogen.dev", "--subresource=status")
    assert not can("delete", "videojobs.videogen.dev")
    assert not can("create", "jobs.batch")
    assert not can("get", "secrets")


def test_readyz_is_ready_when_kubernetes_and_s3_answer(api: RunningApi) -> None:
    response = api.http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"kubernetes": "ok", "s3": "ok", "cache": "ok"}}


def test_readyz_with_s3_unreachable_is_degraded_and_still_passes_the_probe(serve_api: ServeApi, s3: S3Endpoint) -> None:
    # Nothing listens on port 9: connection refused, as when the store is down.
    api = serve_api(s3_override=s3_settings(s3).model_copy(update={"endpoint_url": "http://127.0.0.1:9"}))
    response = api.http.get("/readyz")
    # 200: the probe passes, so the replica stays in the Service and keeps serving job reads.
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["kubernetes"] == "ok" and body["checks"]["cache"] == "ok"
    assert body["checks"]["s3"].startswith("unreachable")
    # Unauthenticated: which check failed, never the endpoint, bucket or exception text (those go to the log).
    assert "127.0.0.1" not in response.text and "Error" not in response.text


def test_readyz_with_s3_refusing_the_keys_is_unavailable(serve_api: ServeApi, s3: S3Endpoint) -> None:
    # A configuration fault, not an outage: the replica must not pass as ready.
    api = serve_api(s3_override=s3_settings(s3).model_copy(update={"secret_access_key": "not-the-key"}))
    response = api.http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["s3"] == "failed (see the API's log)"


def test_with_s3_unreachable_job_reads_are_served_and_uploads_get_a_503_to_retry(
    serve_api: ServeApi, s3: S3Endpoint
) -> None:
    api = serve_api(s3_override=s3_settings(s3).model_copy(update={"endpoint_url": "http://127.0.0.1:9"}))
    submitted = api.http.post("/api/v1/generate/text-to-video", json={"prompt": "a lighthouse at dusk"})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    read = api.http.get(f"/api/v1/job/{job_id}")
    assert read.status_code == 200 and read.json()["status"] == "pending", read.text
    upload = api.http.post(
        "/api/v1/generate/image-to-video", files={"image": ("i.png", (DATA / "image.png").read_bytes())}
    )
    assert upload.status_code == 503, upload.text
    assert upload.json() == {"error": S3_UNAVAILABLE}
    assert int(upload.headers["Retry-After"]) > 0
    # The refused upload made no VideoJob: the job list holds the text-to-video job only.
    listed = api.http.get("/api/v1/jobs").json()
    assert [job["job_id"] for job in listed["jobs"]] == [job_id], listed
    outputs = api.http.get("/outputs/text2video_20250101_000000_abcdef.mp4")
    assert outputs.status_code == 503 and outputs.json() == {"error": S3_UNAVAILABLE}


def test_api_keys_when_configured_are_required_except_on_probes(serve_api) -> None:
    api = serve_api(api_keys=["k-one", "k-two"])
    missing = api.http.get("/api/v1/jobs")
    assert missing.status_code == 401 and set(missing.json()) == {"error"}
    assert api.http.get("/api/v1/jobs", headers={"X-API-Key": "k-wrong"}).status_code == 401
    assert api.http.get("/api/v1/jobs", headers={"X-API-Key": "k-two"}).status_code == 200
    assert api.http.get("/api/v1/jobs", headers={"Authorization": "Bearer k-one"}).status_code == 200
    assert api.http.get("/health").status_code == 200
    assert api.http.get("/readyz").status_code == 200


def test_api_keys_are_off_by_default(api: RunningApi) -> None:
    assert api.http.get("/api/v1/jobs").status_code == 200


def test_metrics_count_requests_by_route_template_and_code(api: RunningApi) -> None:
    api.http.get("/api/v1/job/job_1234567890_abcdef123456")
    api.http.post("/api/v1/generate/text-to-video", data={"prompt": "x"})
    text = api.http.get("/metrics").text
    assert 'videogen_api_requests_total{code="404",method="GET",route="/api/v1/job/{job_id}"} 1.0' in text
    assert "videogen_api_request_duration_seconds_bucket" in text
    assert 'code="415"' in text
    # The VideoJob cache's counters: it listed once at least, runs a watch, serves reads.
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("videogen_api_cache")
    }
    assert values['videogen_api_cache_operations_total{operation="lists"}'] >= 1
    assert values['videogen_api_cache_operations_total{operation="watches"}'] >= 1
    assert values["videogen_api_cache_synced"] == 1
    assert values["videogen_api_cache_videojobs"] == len(api.cache)


def test_openapi_documents_the_real_schemas_and_no_422(api: RunningApi) -> None:
    schema = api.http.get("/openapi.json").json()
    t2v = schema["components"]["schemas"]["TextToVideoRequest"]["properties"]
    assert (t2v["num_frames"]["maximum"], t2v["num_frames"]["default"]) == (128, 64)
    assert (t2v["guidance_scale"]["minimum"], t2v["guidance_scale"]["maximum"]) == (1, 20)
    assert "422" not in str(schema)
    assert api.http.get("/docs").status_code == 200


def test_metrics_count_made_up_methods_under_one_label(api: RunningApi) -> None:
    api.http.request("MADEUP", "/api/v1/jobs")
    api.http.get("/metrics")
    before = len(api.http.get("/metrics").text.splitlines())
    for number in range(19):
        api.http.request(f"MADEUP{number}", "/api/v1/jobs")
    text = api.http.get("/metrics").text
    assert "MADEUP" not in text
    assert 'videogen_api_requests_total{code="405",method="other",route="/api/v1/jobs"} 20.0' in text
    # No new series: every made-up method shares the first one's.
    assert len(text.splitlines()) == before


@pytest.mark.parametrize(("trusted", "scheme"), [("127.0.0.1", "https"), ("10.1.2.3", "http")])
def test_output_urls_follow_x_forwarded_proto_only_from_trusted_proxies(
    serve_api: ServeApi, operator: Operator, trusted: str, scheme: str
) -> None:
    api = serve_api(forwarded_allow_ips=trusted)
    job_id = api.http.post("/api/v1/generate/text-to-video", json={"prompt": "x"}).json()["job_id"]
    filename = "text2video_20240115_103045_abc123.mp4"
    output = {"uri": f"s3://b/o/{filename}", "file": filename, "path": f"./outputs/{filename}"}
    api.wait_until_cached(operator.set_job_status(job_id, {"state": "completed", "output": output}))
    job = api.http.get(f"/api/v1/job/{job_id}", headers={"X-Forwarded-Proto": "https"}).json()
    assert job["output_url"].startswith(f"{scheme}://")
