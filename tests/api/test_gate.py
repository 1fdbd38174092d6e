"""The body rules (media type, size) each route declares, read by the gate from the routes: no route that takes a
body goes without one, and each app resolves the limits with its own settings.

These need no cluster: the app is built offline, and every request here is answered before a route would reach
Kubernetes or S3 (by the gate, or by the upload check that runs before anything is stored).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from kubernetes import client

from tests.api.test_errors import I2V, T2V, error_of
from videogen_api.app import create_app
from videogen_api.auth import ApiKeys
from videogen_api.config import ApiSettings
from videogen_api.gate import RequestGate, accepts_body, gated_routes, json_body, upload_room_for
from videogen_api.kube import Kube
from videogen_api.routes import health


def offline_client(**settings: Any) -> TestClient:
    api_settings = ApiSettings(**({"auth_disabled": True} | settings))
    app = create_app(api_settings, kube=Kube(client.ApiClient(), "offline"), s3_client=object())
    return TestClient(app)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_a_route_that_takes_a_body_without_a_rule_stops_the_app_from_being_created(
    monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    router = APIRouter()
    router.include_router(health.router)
    router.add_api_route("/api/v1/forgotten", lambda: None, methods=[method], name="forgotten")
    monkeypatch.setattr(health, "router", router)
    named = rf"@accepts_body.*none declared by: {method} /api/v1/forgotten \(forgotten\)"
    with pytest.raises(RuntimeError, match=named):
        offline_client()


def test_routes_without_a_body_need_no_rule() -> None:
    assert offline_client().get("/health").status_code == 200


def test_the_json_body_limit_holds_by_length_and_by_count() -> None:
    api = offline_client()
    too_large = b'{"prompt": "' + b"x" * 70_000 + b'"}'
    assert error_of(api.post(T2V, content=too_large, headers={"Content-Type": "application/json"}), 413) == (
        "the JSON body must be at most 65536 bytes"
    )

    def chunks() -> Iterator[bytes]:
        yield too_large

    response = api.post(T2V, content=chunks(), headers={"Content-Type": "application/json"})
    assert "Content-Length" not in response.request.headers
    assert error_of(response, 413) == "the JSON body must be at most 65536 bytes"


def test_each_app_resolves_the_upload_limit_with_its_own_settings() -> None:
    # Over 1000 bytes plus the room for the form fields, under the default limit.
    not_an_image = {"image": ("i.jpg", b"\0" * 70_000, "image/jpeg")}
    small = offline_client(max_image_bytes=1000)
    assert error_of(small.post(I2V, files=not_an_image), 413) == "image must be at most 1000 bytes"
    # Past the gate: the upload check refuses it for what it is, not for its size.
    assert "image must be a JPEG or PNG image" in error_of(offline_client().post(I2V, files=not_an_image), 415)


def test_the_gate_finds_rules_behind_prefixes_and_path_templates() -> None:
    router = APIRouter(prefix="/things")

    @router.post("/{name}")
    @accepts_body(json_body)
    def create_thing(name: str) -> dict[str, str]:
        return {"name": name}

    @router.get("/{name}")
    def get_thing(name: str) -> dict[str, str]:
        return {"name": name}

    app = FastAPI()
    app.include_router(router)
    settings = ApiSettings(auth_disabled=True)
    routes = gated_routes(app.routes, settings)
    app.add_middleware(
        RequestGate, routes=routes, api_keys=ApiKeys(()), upload_room=upload_room_for(routes, settings),
        body_timeout_seconds=settings.body_timeout_seconds,
    )  # fmt: skip
    api = TestClient(app)

    refused = api.post("/things/a", content=b"name=a", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 415
    assert refused.json() == {"error": "Content-Type must be application/json, not application/x-www-form-urlencoded"}
    assert api.post("/things/a", json={}).json() == {"name": "a"}
    # The same path for a method without a rule is not gated.
    assert api.get("/things/a", headers={"Content-Type": "text/plain"}).json() == {"name": "a"}
