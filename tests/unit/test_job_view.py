"""The one REST job view (common job_view): what the API's job routes, its event stream and webhooks show."""

from __future__ import annotations

from typing import Any

from videogen_api.videojobs import videojob_to_job
from videogen_common.job_view import job_view
from videogen_common.resources.objects import VideoJob


def videojob(spec: dict[str, Any], status: dict[str, Any]) -> VideoJob:
    metadata = {"name": "job-1795671757-ffdcc1831ea0", "creationTimestamp": "2026-12-04T10:00:00Z"}
    return VideoJob.model_validate({"metadata": metadata, "spec": spec, "status": status})


T2V = {"mode": "text-to-video", "prompt": "a red cube"}


def test_without_a_webhook_the_view_says_none() -> None:
    assert job_view(videojob(T2V, {"state": "pending"}))["webhook"] is None


def test_the_view_shows_where_events_go_and_the_latest_delivery() -> None:
    spec = {**T2V, "webhook": "https://hooks.example.com/v", "webhookEventsFilter": ["start", "completed"]}
    status = {
        "state": "processing",
        "webhook": {
            "lastEvent": "start",
            "lastAttemptTime": "2026-12-04T10:00:05Z",
            "lastStatusCode": 503,
            "lastError": "the receiver answered 503",
            "delivered": 0,
            "dropped": 0,
        },
    }
    view = job_view(videojob(spec, status))["webhook"]
    assert view == {
        "url": "https://hooks.example.com/v",
        "events": ["start", "completed"],
        "delivered": 0,
        "dropped": 0,
        "pending": 0,
        "last_event": "start",
        "last_attempt_at": "2026-12-04T10:00:05Z",
        "last_status_code": 503,
        "last_error": "the receiver answered 503",
    }
    # No filter: the terminal events.
    no_filter = {**T2V, "webhook": "https://hooks.example.com/v"}
    assert job_view(videojob(no_filter, {}))["webhook"]["events"] == ["completed", "failed", "cancelled"]


def test_the_api_serves_exactly_the_common_view() -> None:
    spec = {**T2V, "webhook": "https://hooks.example.com/v"}
    status = {
        "state": "completed",
        "output": {"uri": "s3://videogen/outputs/a.mp4", "file": "a.mp4", "path": "./outputs/a.mp4"},
        "progress": {"step": 2, "totalSteps": 2, "percent": 100},
    }
    job = videojob(spec, status)
    served = videojob_to_job(job, lambda name: f"/outputs/{name}").model_dump(mode="json")
    assert served == job_view(job, lambda name: f"/outputs/{name}")
    assert served["output_url"] == "/outputs/a.mp4" and served["webhook"]["url"] == spec["webhook"]
