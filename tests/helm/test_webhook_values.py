"""The chart's webhook values: a signing secret that is never a literal or a shared default, and the destination
settings under the operator's real names."""

from __future__ import annotations

import pytest

from tests.helm.conftest import Helm
from tests.helm.test_chart_renders import by_kind, container_env
from videogen_api.config import ApiSettings
from videogen_common.webhooks import sign
from videogen_operator.settings import OperatorSettings


def test_without_a_secret_the_chart_generates_a_random_signing_secret_per_install(helm: Helm) -> None:
    first, second = (by_kind(helm.template("ns"), "Secret", "videogen-webhooks") for _ in range(2))
    secret = first["stringData"]["signingSecret"]
    assert secret != second["stringData"]["signingSecret"]
    assert sign(secret, "msg", 0, b"").startswith("v1,")
    env = container_env(by_kind(helm.template("ns"), "Deployment", "videogen-operator"))
    assert env["VIDEOGEN_OPERATOR_WEBHOOK_SECRET"] == {
        "secretKeyRef": {"name": "videogen-webhooks", "key": "signingSecret"}
    }


def test_an_existing_secret_is_used_and_none_is_made(helm: Helm) -> None:
    docs = helm.template("ns", "--set", "webhooks.existingSecret=hooks", "--set", "webhooks.secretKey=key")
    assert not [d for d in docs if d["kind"] == "Secret" and "webhooks" in d["metadata"]["name"]]
    env = container_env(by_kind(docs, "Deployment", "videogen-operator"))
    assert env["VIDEOGEN_OPERATOR_WEBHOOK_SECRET"] == {"secretKeyRef": {"name": "hooks", "key": "key"}}


def test_webhook_values_reach_the_operator_and_api_settings(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = helm.template(
        "ns",
        "--set-json",
        'webhooks.allowlist=["receiver.tools.svc", "10.20.0.0/16"]',
        "--set-json",
        'webhooks.internalNetworks=["10.96.0.0/12"]',
        "--set",
        "webhooks.retry.firstSeconds=2",
    )
    for name, value in container_env(by_kind(docs, "Deployment", "videogen-operator")).items():
        if name.startswith("VIDEOGEN_OPERATOR_") and isinstance(value, str):
            monkeypatch.setenv(name, value)
    for name, value in container_env(by_kind(docs, "Deployment", "videogen-api")).items():
        if name.startswith("VIDEOGEN_API_") and isinstance(value, str):
            monkeypatch.setenv(name, value)
    api = ApiSettings()
    assert api.webhook_allowlist == ["receiver.tools.svc", "10.20.0.0/16"]
    assert api.webhook_internal_networks == ["10.96.0.0/12"]
    settings = OperatorSettings()
    assert settings.webhook_allowlist == ["receiver.tools.svc", "10.20.0.0/16"]
    assert [str(n) for n in settings.webhook_internal()] == ["10.96.0.0/12"]
    assert (settings.webhook_retry_first_seconds, settings.webhook_timeout_seconds) == (2, 10)


def test_the_operator_may_reach_webhook_receivers_under_a_network_policy(helm: Helm) -> None:
    docs = helm.template("ns", "--set", "networkPolicy.enabled=true")
    policy = by_kind(docs, "NetworkPolicy", "videogen-operator")
    blocks = [peer["ipBlock"] for rule in policy["spec"]["egress"] for peer in rule.get("to", []) if "ipBlock" in peer]
    assert any("169.254.0.0/16" in block.get("except", []) for block in blocks), blocks
