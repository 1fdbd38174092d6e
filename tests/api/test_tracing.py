"""With an OTLP endpoint set, a ``videogen-api`` process traces each request and each submit, and the VideoJob it
makes carries the submit span's trace context (``videogen.dev/traceparent``) for the operator and the runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Operator, wait_until
from tests.conftest import S3Endpoint
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from tests.system_release import free_port
from videogen_common.resources.meta import ANNOTATION_REQUEST_ID, ANNOTATION_TRACEPARENT

__all__ = ["otlp_receiver"]  # the fixture, used by name

T2V = "/api/v1/generate/text-to-video"
CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture
def traced_api(
    api_kubeconfig: Path, namespace: str, s3: S3Endpoint, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> Iterator[str]:
    """A ``videogen-api`` process exporting its spans to the test's receiver; its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOGEN_", "OTEL_"))} | {
        "VIDEOGEN_API_NAMESPACE": namespace,
        "VIDEOGEN_API_KUBECONFIG": str(api_kubeconfig),
        "VIDEOGEN_API_BUCKET": s3.bucket,
        "VIDEOGEN_API_INPUTS_PREFIX": f"test-inputs/{namespace}",
        "VIDEOGEN_API_AUTH_DISABLED": "true",
        "VIDEOGEN_API_HOST": "127.0.0.1",
        "VIDEOGEN_API_PORT": str(port),
        "VIDEOGEN_S3_ENDPOINT_URL": s3.endpoint_url,
        "VIDEOGEN_S3_ACCESS_KEY_ID": s3.access_key,
        "VIDEOGEN_S3_SECRET_ACCESS_KEY": s3.secret_key,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint,
        # Export each batch at once rather than every 5 s (the default), so the test waits less.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "videogen_api.main"], env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(ready, timeout=60, interval=0.2), log.read_text()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def ancestors(receiver: OtlpReceiver, span: ReceivedSpan) -> list[str]:
    """The span ids above ``span`` among those received, nearest first."""
    by_id = {s.span_id: s for s in receiver.received()}
    found = []
    parent = span.parent_span_id
    while parent in by_id:
        found.append(parent)
        parent = by_id[parent].parent_span_id
    return found


def test_a_submit_is_traced_and_its_videojob_carries_the_submit_spans_context(
    traced_api: str, otlp_receiver: OtlpReceiver, operator: Operator, namespace: str
) -> None:
    headers = {"X-Request-ID": "req-traced-1", "traceparent": f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"}
    response = httpx.post(f"{traced_api}{T2V}", json={"prompt": "a cat"}, headers=headers, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    annotations = operator.videojob(job_id)["metadata"]["annotations"]
    assert annotations[ANNOTATION_REQUEST_ID] == "req-traced-1"
    version, trace_id, span_id, flags = annotations[ANNOTATION_TRACEPARENT].split("-")

    submit = otlp_receiver.wait_for(lambda s: s.name == "submit" and s.attributes.get("videogen.job_id") == job_id)
    # The annotation is the submit span's context, in the trace the client started.
    assert (version, trace_id, span_id, flags) == ("00", submit.trace_id, submit.span_id, "01")
    assert trace_id == CLIENT_TRACE_ID
    assert submit.service == "videogen-api"
    assert submit.attributes["videogen.request_id"] == "req-traced-1"
    assert submit.attributes["videogen.videojob"] == job_id.replace("_", "-")
    assert submit.attributes["k8s.namespace.name"] == namespace
    # It runs inside the request's server span (FastAPI's, through its endpoint span), the child of the client's.
    request = otlp_receiver.wait_for(lambda s: s.trace_id == trace_id and s.name == f"POST {T2V}")
    assert request.parent_span_id == CLIENT_SPAN_ID
    assert request.attributes["http.response.status_code"] == 202
    assert request.attributes["http.route"] == T2V
    assert request.attributes["videogen.request_id"] == "req-traced-1"
    assert request.span_id in ancestors(otlp_receiver, submit)


def test_a_request_without_a_traceparent_starts_a_trace_of_its_own(
    traced_api: str, otlp_receiver: OtlpReceiver, operator: Operator
) -> None:
    response = httpx.post(f"{traced_api}{T2V}", json={"prompt": "a dog"}, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    traceparent = operator.videojob(job_id)["metadata"]["annotations"][ANNOTATION_TRACEPARENT]
    submit = otlp_receiver.wait_for(lambda s: s.name == "submit" and s.attributes.get("videogen.job_id") == job_id)
    assert traceparent.split("-")[1:3] == [submit.trace_id, submit.span_id]
    request = otlp_receiver.wait_for(lambda s: s.trace_id == submit.trace_id and s.name == f"POST {T2V}")
    assert request.parent_span_id == ""
    assert request.span_id in ancestors(otlp_receiver, submit)


def test_probes_are_not_traced(traced_api: str, otlp_receiver: OtlpReceiver) -> None:
    assert httpx.get(f"{traced_api}/readyz", timeout=10).status_code == 200
    response = httpx.get(f"{traced_api}/api/v1/job/job_1_000000000000", timeout=10)
    assert response.status_code == 404
    # The request after the probe is exported; by then the probe's would have been too.
    otlp_receiver.wait_for(lambda s: s.attributes.get("http.route") == "/api/v1/job/{job_id}")
    assert not [s for s in otlp_receiver.received() if s.attributes.get("url.path") == "/readyz"]


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def test_without_an_endpoint_a_videojob_carries_no_traceparent(no_endpoint: None, api, operator: Operator) -> None:
    # Tracing off: not even a client's trace is passed on.
    headers = {"traceparent": f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"}
    response = api.http.post(T2V, json={"prompt": "a cat"}, headers=headers)
    assert response.status_code == 202, response.text
    assert ANNOTATION_TRACEPARENT not in operator.videojob(response.json()["job_id"])["metadata"]["annotations"]
