"""tracing.otlpEndpoint: off by default; set, it reaches the API, the operator and (through the operator's runner env)
the runner pods as OTEL_EXPORTER_OTLP_ENDPOINT, and the NetworkPolicies let those pods reach the collector."""

from __future__ import annotations

import json
from typing import Any

from tests.helm.conftest import CHART, Helm

ENDPOINT = "http://otel-collector.observability:4318"


def container_env(docs: list[dict[str, Any]], deployment: str) -> dict[str, str]:
    (found,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == deployment]
    return {e["name"]: e.get("value", "") for e in found["spec"]["template"]["spec"]["containers"][0]["env"]}


def egress_ports(docs: list[dict[str, Any]], policy: str) -> set[int]:
    (found,) = [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == policy]
    return {p["port"] for rule in found["spec"]["egress"] for p in rule.get("ports", [])}


def test_tracing_is_off_by_default(helm: Helm) -> None:
    docs = helm.template("default")
    for deployment in ("videogen-api", "videogen-operator"):
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in container_env(docs, deployment)
    runner_env = json.loads(container_env(docs, "videogen-operator")["VIDEOGEN_OPERATOR_RUNNER_ENV"])
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in runner_env
    assert 4318 not in egress_ports(docs, "videogen-runner")


def test_the_endpoint_reaches_the_api_the_operator_and_the_runner_pods(helm: Helm) -> None:
    docs = helm.template("default", "--set", f"tracing.otlpEndpoint={ENDPOINT}")
    for deployment in ("videogen-api", "videogen-operator"):
        assert container_env(docs, deployment)["OTEL_EXPORTER_OTLP_ENDPOINT"] == ENDPOINT
    runner_env = json.loads(container_env(docs, "videogen-operator")["VIDEOGEN_OPERATOR_RUNNER_ENV"])
    assert runner_env["OTEL_EXPORTER_OTLP_ENDPOINT"] == ENDPOINT
    for policy in ("videogen-api", "videogen-operator", "videogen-runner"):
        assert 4318 in egress_ports(docs, policy), policy


def test_an_endpoint_that_is_not_a_url_is_refused(helm: Helm) -> None:
    result = helm.run("template", "videogen", str(CHART), "--set", "tracing.otlpEndpoint=collector", check=False)
    assert result.returncode != 0
    assert "otlpEndpoint" in result.stderr
