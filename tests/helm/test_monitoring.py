"""Monitoring in the chart: the operator's metrics Service; ServiceMonitors, PodMonitors, alert rules and the Grafana
dashboard off by default and rendered by `helm template` (no monitoring.coreos.com CRDs needed) when turned on, each
aimed at ports and labels the chart's Services and pods have; every metric a dashboard query or an alert reads is one
the components export."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helm.conftest import CHART, Helm
from tests.monitoring import (
    dashboard_queries,
    load_dashboard,
    metric_names,
    registered_names,
    rule_expressions,
)

MONITORING_ON = [
    "--set",
    "monitoring.serviceMonitor.enabled=true",
    "--set",
    "monitoring.serviceMonitor.labels.release=kube-prometheus-stack",
    "--set",
    "monitoring.podMonitor.enabled=true",
    "--set",
    "monitoring.prometheusRule.enabled=true",
    "--set",
    "monitoring.dashboard.enabled=true",
]
MONITORING_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
ALERTS = {"VideogenOperatorDown", "VideogenReconcileErrors", "VideogenVideoJobsFailing", "VideogenVideoJobQueueStuck"}


def named(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container_ports(deployment: dict[str, Any]) -> dict[str, int]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {p["name"]: p["containerPort"] for p in container.get("ports") or []}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def test_the_operators_metrics_have_a_service_and_monitoring_is_off_by_default(helm: Helm) -> None:
    docs = helm.template("monitoring-defaults")
    assert not [d for d in docs if d["kind"] in MONITORING_KINDS]
    assert "videogen-dashboard" not in named(docs, "ConfigMap")
    service = named(docs, "Service")["videogen-operator-metrics"]
    operator = named(docs, "Deployment")["videogen-operator"]
    assert selects({"matchLabels": service["spec"]["selector"]}, operator["spec"]["template"]["metadata"]["labels"])
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["targetPort"]) == ("metrics", "metrics")
    assert container_ports(operator)["metrics"] == port["port"] == 9090


def test_without_a_metrics_port_the_operator_has_no_service_and_no_monitor(helm: Helm) -> None:
    docs = helm.template("monitoring-off", *MONITORING_ON, "--set", "operator.metricsPort=null")
    assert "videogen-operator-metrics" not in named(docs, "Service")
    assert set(named(docs, "ServiceMonitor")) == set(named(docs, "PodMonitor")) == {"videogen-api"}


def test_monitoring_values_render_monitors_rules_and_the_dashboard(helm: Helm) -> None:
    docs = helm.template("monitoring-on", *MONITORING_ON, "--set", "monitoring.dashboard.namespace=grafana")
    services = named(docs, "Service")
    deployments = named(docs, "Deployment")
    targets = {"api": (services["videogen-api"], "videogen-api"), "operator": (services["videogen-operator-metrics"],
                                                                              "videogen-operator")}  # fmt: skip
    for component, (service, deployment_name) in targets.items():
        pod_labels = deployments[deployment_name]["spec"]["template"]["metadata"]["labels"]
        monitor = named(docs, "ServiceMonitor")[f"videogen-{component}"]
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["monitoring-on"]}
        assert selects(monitor["spec"]["selector"], service["metadata"]["labels"])
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        assert (endpoint["path"], endpoint["interval"]) == ("/metrics", "30s")
        pod_monitor = named(docs, "PodMonitor")[f"videogen-{component}"]
        assert selects(pod_monitor["spec"]["selector"], pod_labels)
        (pod_endpoint,) = pod_monitor["spec"]["podMetricsEndpoints"]
        assert pod_endpoint["port"] in container_ports(deployments[deployment_name])

    (rule,) = named(docs, "PrometheusRule").values()
    alerts = rule_expressions([rule])
    assert set(alerts) == ALERTS
    # Scoped to this release's targets.
    assert all('namespace="monitoring-on"' in expr for expr in alerts.values())
    assert "> 0.25" in alerts["VideogenVideoJobsFailing"]
    assert "> 1800" in alerts["VideogenVideoJobQueueStuck"]

    dashboard = named(docs, "ConfigMap")["videogen-dashboard"]
    assert dashboard["metadata"]["namespace"] == "grafana"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["videogen.json"]) == load_dashboard()


@pytest.mark.parametrize(
    ("values", "error"),
    [
        (["monitoring.prometheusRule.failedJobsRatio=2"], "failedJobsRatio"),
        (["monitoring.serviceMonitor.interval=often"], "interval"),
    ],
)
def test_bad_monitoring_values_fail_naming_the_value(helm: Helm, values: list[str], error: str) -> None:
    args = [arg for value in values for arg in ("--set", value)]
    result = helm.run("template", "videogen", str(CHART), *args, check=False)
    assert result.returncode != 0 and error in result.stderr, result.stderr


def test_every_metric_a_dashboard_query_or_an_alert_reads_is_exported(helm: Helm) -> None:
    queries = dashboard_queries(load_dashboard())
    alerts = rule_expressions(helm.template("monitoring-names", *MONITORING_ON))
    used = {name for expr in [*queries, *alerts.values()] for name in metric_names(expr)}
    # The parser finds what a panel reads (not an empty set that would pass anything).
    assert {"videogen_videojob_phase_seconds_bucket", "videogen_api_requests_total", "videogen_operator_leader"} <= used
    missing = used - registered_names()
    assert not missing, f"queried but exported by no component: {sorted(missing)}"


def test_the_promql_name_reader_skips_functions_labels_ranges_and_variables() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, model) (rate(a_bucket{namespace="$namespace", x=~"b|c"}'
        "[$__rate_interval]))) / ignoring (phase) b_total > 3 and on (model) c unless d offset 5m"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "d"}
    assert metric_names('label_values(e{namespace="$namespace"}, model)') == {"e"}
