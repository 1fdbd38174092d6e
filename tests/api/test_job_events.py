"""The job event stream's own rules against a real apiserver, with the test playing the operator: heartbeats on a
quiet stream, the end after a terminal state, a resume after the last id, 429 beyond the stream limits."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx

from tests.api.conftest import Operator, ServeApi, wait_until

T2V = "/api/v1/generate/text-to-video"


def lines(http: httpx.Client, job_id: str, headers: dict[str, str] | None = None) -> Iterator[str]:
    with http.stream("GET", f"/api/v1/job/{job_id}/events", headers=headers or {}) as response:
        assert response.status_code == 200, response.read()
        yield from response.iter_lines()


def test_a_quiet_stream_gets_heartbeats_then_ends_after_the_terminal_event(
    serve_api: ServeApi, operator: Operator
) -> None:
    api = serve_api(events_heartbeat_seconds=0.2)
    job_id = api.http.post(T2V, json={"prompt": "x"}).json()["job_id"]
    seen: list[str] = []
    for line in lines(api.http, job_id):
        seen.append(line)
        if seen.count(": keep-alive") == 2:
            operator.set_job_status(job_id, {"state": "processing", "progress": {"step": 0, "totalSteps": 2}})
            operator.set_job_status(job_id, {"progress": {"step": 1, "totalSteps": 2}})
            operator.set_job_status(job_id, {"state": "cancelled"})
    events = [line.removeprefix("event: ") for line in seen if line.startswith("event: ")]
    assert events == ["status", "status", "progress", "cancelled"], seen
    ids = [int(line.removeprefix("id: ")) for line in seen if line.startswith("id: ")]
    # Resumed after the progress event: only the terminal one, then the end.
    resumed = list(lines(api.http, job_id, {"Last-Event-ID": str(ids[2])}))
    assert [line for line in resumed if line.startswith(("id:", "event:"))] == [f"id: {ids[3]}", "event: cancelled"]


def test_streams_beyond_the_per_client_limit_get_429(serve_api: ServeApi) -> None:
    api = serve_api(events_max_streams_per_client=1, events_heartbeat_seconds=0.2)
    job_id = api.http.post(T2V, json={"prompt": "x"}).json()["job_id"]
    opened = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with httpx.Client(base_url=api.url) as http:
            for _ in lines(http, job_id):
                opened.set()
                if done.is_set():
                    return

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert opened.wait(10)
    second = api.http.get(f"/api/v1/job/{job_id}/events")
    assert second.status_code == 429
    assert "Too many event streams" in second.json()["error"]
    done.set()
    holder.join(10)
    assert not holder.is_alive()

    # The slot is free again once the server has noticed that the first stream's client left.
    def third_opens() -> bool:
        with api.http.stream("GET", f"/api/v1/job/{job_id}/events") as third:
            return third.status_code == 200

    assert wait_until(third_opens, timeout=5, interval=0.1)


def test_the_page_is_public_and_the_streams_and_posters_need_the_key(serve_api: ServeApi) -> None:
    api = serve_api(api_keys="k1")
    page = api.http.get("/ui", follow_redirects=True)
    assert page.status_code == 200 and "<title>videogen</title>" in page.text
    assert api.http.get("/ui/app.js").headers["content-type"].startswith("text/javascript")
    assert api.http.get("/ui/../config.py").status_code == 404
    job_id = api.http.post(T2V, json={"prompt": "x"}, headers={"X-API-Key": "k1"}).json()["job_id"]
    assert api.http.get(f"/api/v1/job/{job_id}/events").status_code == 401
    assert api.http.get(f"/api/v1/job/{job_id}/poster").status_code == 401
    # Not completed: no poster yet.
    assert api.http.get(f"/api/v1/job/{job_id}/poster", headers={"X-API-Key": "k1"}).status_code == 404
