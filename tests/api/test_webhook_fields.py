"""The generate routes take an optional webhook (JSON field; form field on the multipart routes) and the events to
send it; a destination the operator would refuse to call is a 400 at submit, and no VideoJob is made."""

from __future__ import annotations

import pytest

from tests.api.conftest import DATA, Operator, RunningApi, ServeApi
from tests.api.test_errors import error_of

T2V = "/api/v1/generate/text-to-video"
RECEIVER = "http://127.0.0.1:9/hooks/videogen"


@pytest.fixture
def trusting_loopback(serve_api: ServeApi) -> RunningApi:
    """The API of an installation whose allow-list names loopback (as the webhook tests' receiver needs)."""
    return serve_api(webhook_allowlist=["127.0.0.1"])


def test_a_json_request_puts_its_webhook_and_events_on_the_videojob(
    trusting_loopback: RunningApi, operator: Operator
) -> None:
    body = {"prompt": "x", "webhook": RECEIVER, "webhook_events_filter": ["start", "completed", "start"]}
    response = trusting_loopback.http.post(T2V, json=body)
    assert response.status_code == 202, response.text
    spec = operator.videojob(response.json()["job_id"])["spec"]
    # The spec's list is a set: the repeated event is dropped, not refused.
    assert (spec["webhook"], spec["webhookEventsFilter"]) == (RECEIVER, ["start", "completed"])


def test_without_a_filter_the_videojob_gets_the_specs_default(
    trusting_loopback: RunningApi, operator: Operator
) -> None:
    response = trusting_loopback.http.post(T2V, json={"prompt": "x", "webhook": RECEIVER})
    spec = operator.videojob(response.json()["job_id"])["spec"]
    assert spec["webhook"] == RECEIVER and "webhookEventsFilter" not in spec


@pytest.mark.parametrize(
    ("route", "file_field", "filename", "events"),
    [
        ("/api/v1/generate/image-to-video", "image", "image.jpg", "progress,failed"),
        ("/api/v1/generate/video-to-video", "video", "clip.mp4", ["progress", "failed"]),
    ],
)
def test_the_multipart_routes_take_the_webhook_as_form_fields(
    trusting_loopback: RunningApi,
    operator: Operator,
    route: str,
    file_field: str,
    filename: str,
    events: str | list[str],
) -> None:
    # One comma-separated field or the field repeated: both read as the same list.
    response = trusting_loopback.http.post(
        route,
        files={file_field: (filename, (DATA / filename).read_bytes())},
        data={"webhook": RECEIVER, "webhook_events_filter": events},
    )
    assert response.status_code == 202, response.text
    spec = operator.videojob(response.json()["job_id"])["spec"]
    assert (spec["webhook"], spec["webhookEventsFilter"]) == (RECEIVER, ["progress", "failed"])


@pytest.mark.parametrize(
    ("webhook", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://10.0.0.7/hook", "private"),
        ("https://hooks.invalid/videogen", "does not resolve"),
        ("ftp://example.com/hook", "http(s) URL"),
        ("https://user:secret@example.com/hook", "http(s) URL without credentials"),
    ],
)
def test_a_destination_the_operator_would_refuse_is_a_400(
    api: RunningApi, operator: Operator, webhook: str, says: str
) -> None:
    message = error_of(api.http.post(T2V, json={"prompt": "x", "webhook": webhook}), 400)
    assert says in message and "webhook" in message
    assert operator.videojobs() == []


def test_a_form_with_a_refused_webhook_is_a_400_and_stores_no_upload(api: RunningApi, operator: Operator) -> None:
    response = api.http.post(
        "/api/v1/generate/image-to-video",
        files={"image": ("image.png", (DATA / "image.png").read_bytes())},
        data={"webhook": "http://127.0.0.1/hook"},
    )
    assert "loopback" in error_of(response, 400)
    assert operator.videojobs() == [] and operator.keys_under(api.inputs_prefix) == []


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"webhook_events_filter": ["completed"]}, "webhook_events_filter needs a webhook URL"),
        ({"webhook": RECEIVER, "webhook_events_filter": ["finished"]}, "webhook_events_filter.0"),
        ({"webhook": RECEIVER, "webhook_events_filter": []}, "name at least one event"),
        ({"webhook": RECEIVER, "webhook_events_filter": " , "}, "name at least one event"),
    ],
)
def test_a_bad_events_filter_is_a_400(
    trusting_loopback: RunningApi, operator: Operator, fields: dict[str, object], says: str
) -> None:
    assert says in error_of(trusting_loopback.http.post(T2V, json={"prompt": "x", **fields}), 400)
    assert operator.videojobs() == []
