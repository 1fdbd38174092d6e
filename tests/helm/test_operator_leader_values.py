"""The chart's operator: leader election on by default (pods may overlap in a rollout, each under its own name in
the release's Lease), and without it one pod replaced by Recreate; the log format of each component."""

from __future__ import annotations

from typing import Any

from tests.helm.conftest import CHART, Helm
from tests.helm.test_chart_renders import by_kind, container_env
from videogen_operator.settings import OperatorSettings

KEYS = ["--set", "s3.existingSecret=videogen-s3"]


def operator(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return by_kind(docs, "Deployment", "videogen-operator")


def operator_env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = operator(docs)["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in containers[0]["env"]}


def test_operators_elect_a_leader_and_roll_over_with_a_lease_per_release(helm: Helm) -> None:
    docs = helm.template("ns", *KEYS, "--set", "operator.replicas=2")
    deployment = operator(docs)["spec"]
    assert deployment["replicas"] == 2
    assert deployment["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    env = operator_env(docs)
    assert env["VIDEOGEN_OPERATOR_LEADER_IDENTITY"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    values = {name: e["value"] for name, e in env.items() if "value" in e}
    settings = OperatorSettings.model_validate(
        {k.removeprefix("VIDEOGEN_OPERATOR_").lower(): v for k, v in values.items() if "LEASE" in k or "LEADER" in k}
    )
    assert settings.leader_election and settings.lease_name == "videogen-operator" and settings.lease_namespace == "ns"
    assert (settings.lease_duration_seconds, settings.lease_renew_deadline_seconds, settings.lease_retry_seconds) == (
        15,
        10.0,
        2.0,
    )


def test_without_leader_election_one_operator_is_recreated_and_more_are_refused(helm: Helm) -> None:
    off = ["--set", "operator.leaderElection.enabled=false"]
    deployment = operator(helm.template("ns", *KEYS, *off))["spec"]
    assert deployment["replicas"] == 1 and deployment["strategy"] == {"type": "Recreate"}
    refused = helm.run("template", "videogen", str(CHART), *KEYS, *off, "--set", "operator.replicas=2", check=False)
    assert (
        refused.returncode != 0 and "operator.replicas above 1 needs operator.leaderElection.enabled" in refused.stderr
    )


def test_each_component_gets_its_log_format(helm: Helm) -> None:
    docs = helm.template("ns", *KEYS, "--set", "api.logFormat=plain", "--set-string", "runner.env.EXTRA=1")
    assert container_env(by_kind(docs, "Deployment", "videogen-api"))["VIDEOGEN_API_LOG_FORMAT"] == "plain"
    runner_env = operator_env(docs)["VIDEOGEN_OPERATOR_RUNNER_ENV"]["value"]
    assert runner_env == '{"EXTRA":"1","VIDEOGEN_RUNNER_LOG_FORMAT":"json"}'
    assert operator_env(docs)["VIDEOGEN_OPERATOR_LOG_FORMAT"]["value"] == "json"
