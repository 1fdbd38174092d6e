"""Metrics as Prometheus sees them: after one job through REST, the release's operator counts it under its model and
mode (its phases from the real runner, its outcome, its GPU time) and the API counts the submit; and every metric
the chart's dashboard and alerts read is one these running processes export."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import System
from tests.helm.conftest import Helm
from tests.monitoring import (
    PROMETHEUS_SERIES,
    dashboard_queries,
    load_dashboard,
    metric_names,
    rule_expressions,
    scraped_names,
)
from videogen_dev.waiting import wait_for

#: The smoke model the release runs text-to-video on by default (dev/local-values.yaml's defaultModels).
MODEL = "smoke-ltx"
PHASES = ("queue", "load", "denoise", "decode", "encode", "upload")
SUBMIT = ("videogen_api_requests_total", {"method": "POST", "route": "/api/v1/generate/text-to-video", "code": "202"})


def scrape(url: str) -> str:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def test_one_job_is_counted_per_model_and_every_dashboard_and_alert_metric_is_exported(system: System) -> None:
    operator_url = f"http://127.0.0.1:{system.release.values['operator']['metricsPort']}/metrics"
    api_url = f"{system.release.api_url}/metrics"
    per_model = {"model": MODEL, "mode": "text-to-video"}
    before, api_before = samples(scrape(operator_url)), samples(scrape(api_url))

    job = system.wait_final(system.submit_tiny(), timeout=180)
    assert job["status"] == "completed", job

    finished = ("videogen_videojobs_finished_total", {**per_model, "state": "completed", "reason": "Succeeded"})
    # The count follows the status write that made the job final, which the API has just shown.
    text = wait_for(
        lambda: scrape(operator_url),
        lambda answer: value(samples(answer), finished[0], **finished[1]) > value(before, finished[0], **finished[1]),
        10,
        "the completed job in the operator's metrics",
    )
    after = samples(text)
    assert value(after, finished[0], **finished[1]) == value(before, finished[0], **finished[1]) + 1
    for phase in PHASES:
        labels = {**per_model, "phase": phase}
        counted = value(after, "videogen_videojob_phase_seconds_count", **labels)
        assert counted == value(before, "videogen_videojob_phase_seconds_count", **labels) + 1, phase
    duration = {**per_model, "state": "completed"}
    counted = value(after, "videogen_videojob_duration_seconds_count", **duration)
    assert counted == value(before, "videogen_videojob_duration_seconds_count", **duration) + 1
    # The runner container ran for seconds, on one (requested) GPU.
    assert value(after, "videogen_gpu_seconds_total", **per_model) > value(
        before, "videogen_gpu_seconds_total", **per_model
    )

    api_text = scrape(api_url)
    assert value(samples(api_text), SUBMIT[0], **SUBMIT[1]) == value(api_before, SUBMIT[0], **SUBMIT[1]) + 1

    exported = scraped_names(text) | scraped_names(api_text)
    helm = Helm(system.cluster.settings.helm, system.cluster.kubeconfig)
    alerts = rule_expressions(helm.template(system.namespace, "--set", "monitoring.prometheusRule.enabled=true"))
    used = {name for expr in [*dashboard_queries(load_dashboard()), *alerts.values()] for name in metric_names(expr)}
    missing = used - exported - PROMETHEUS_SERIES
    assert not missing, f"the dashboard or alerts read metrics the running components do not export: {sorted(missing)}"
