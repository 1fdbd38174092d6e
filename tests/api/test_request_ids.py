"""X-Request-ID: taken when safe (else made), answered on every response, in the API's JSON lines, on the VideoJob."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from tests.api.conftest import Operator, RunningApi
from videogen_common import logs
from videogen_common.resources.meta import ANNOTATION_REQUEST_ID

T2V = "/api/v1/generate/text-to-video"


@pytest.fixture
def api_lines() -> Iterator[io.StringIO]:
    """The API's log lines (it runs in this process), formatted as the API formats them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("videogen_api")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


def parsed(out: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_clients_request_id_reaches_the_response_the_log_and_the_videojob(
    api: RunningApi, operator: Operator, api_lines: io.StringIO
) -> None:
    response = api.http.post(T2V, json={"prompt": "a cat"}, headers={"X-Request-ID": "req-test-0001"})
    assert response.status_code == 202, response.text
    assert response.headers["X-Request-ID"] == "req-test-0001"
    job_id = response.json()["job_id"]
    videojob = operator.videojob(job_id)
    assert videojob["metadata"]["annotations"][ANNOTATION_REQUEST_ID] == "req-test-0001"
    mine = [line for line in parsed(api_lines) if line.get("request_id") == "req-test-0001"]
    created = [line for line in mine if line["message"].startswith("created VideoJob")]
    assert len(created) == 1 and created[0]["job_id"] == job_id
    assert created[0]["videojob"] == videojob["metadata"]["name"] and created[0]["namespace"] == api.namespace
    assert any(line["message"].startswith(f"POST {T2V} 202") for line in mine), mine


@pytest.mark.parametrize("sent", [None, "has spaces", "x" * 129, "-dash-first"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(
    api: RunningApi, operator: Operator, sent: str | None
) -> None:
    headers = {"X-Request-ID": sent} if sent is not None else {}
    response = api.http.post(T2V, json={"prompt": "a cat"}, headers=headers)
    assert response.status_code == 202, response.text
    made = response.headers["X-Request-ID"]
    assert made != sent and logs.valid_request_id(made) == made and len(made) == 32
    annotations = operator.videojob(response.json()["job_id"])["metadata"]["annotations"]
    assert annotations[ANNOTATION_REQUEST_ID] == made


def test_refused_and_unrouted_requests_carry_a_request_id_too(api: RunningApi) -> None:
    refused = api.http.post(T2V, json={"prompt": ""}, headers={"X-Request-ID": "req-refused"})
    assert refused.status_code == 400 and refused.headers["X-Request-ID"] == "req-refused"
    missing = api.http.get("/api/v1/job/job_1_000000000000")
    assert missing.status_code == 404 and logs.valid_request_id(missing.headers["X-Request-ID"])
    # Two requests never share a made-up id.
    assert api.http.get("/health").headers["X-Request-ID"] != api.http.get("/health").headers["X-Request-ID"]
