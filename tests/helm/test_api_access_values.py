"""The chart's API access values reach the API's settings under their real names: trusted proxies, the public S3
endpoint of presigned redirects, the per-key job limit, and authentication off only when the values say so."""

from __future__ import annotations

import pytest

from tests.helm.conftest import Helm
from tests.helm.test_chart_renders import by_kind, container_env
from videogen_api.config import ApiSettings


def _api_settings(helm: Helm, monkeypatch: pytest.MonkeyPatch, *args: str) -> ApiSettings:
    for name, value in container_env(by_kind(helm.template("ns", *args), "Deployment", "videogen-api")).items():
        if name.startswith("VIDEOGEN_API_") and isinstance(value, str):
            monkeypatch.setenv(name, value)
    return ApiSettings()


def test_access_values_reach_the_api_settings(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _api_settings(
        helm, monkeypatch,
        "--set", "api.forwardedAllowIps=10.0.0.0/8",
        "--set", "api.outputsPublicEndpoint=https://s3.example.com",
        "--set", "api.maxActiveJobsPerKey=3",
        "--set", "api.auth.disabled=true",
    )  # fmt: skip
    assert settings.forwarded_allow_ips == "10.0.0.0/8"
    assert settings.outputs_public_endpoint_url == "https://s3.example.com"
    assert settings.max_active_jobs_per_key == 3
    assert settings.auth_disabled


def test_by_default_only_the_namespace_limit_applies_and_authentication_is_on(
    helm: Helm, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _api_settings(helm, monkeypatch)
    assert (settings.max_active_jobs_per_key, settings.outputs_public_endpoint_url) == (None, None)
    assert settings.forwarded_allow_ips == "127.0.0.1"
    assert not settings.auth_disabled
