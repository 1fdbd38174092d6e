"""What the monitoring tests compare: the metric names a PromQL expression reads, the expressions of the chart's
dashboard and alert rules, the names the API's and the operator's metrics modules export, and what an installed
release's operator and API serve at /metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import httpx
from kubernetes import client
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tests.helm.conftest import CHART
from tests.system_release import SystemRelease
from videogen_api.cache import VideoJobCache
from videogen_api.metrics import Metrics
from videogen_operator import metrics as operator_metrics

DASHBOARD: Final = CHART / "files" / "dashboards" / "videogen.json"

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{?\w+\}?")
_LABEL_VALUES = re.compile(r"label_values\(([^,()]*(?:\{[^}]*\})?)\s*,[^)]*\)")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")
_KEYWORDS: Final = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a Grafana variable's label_values query) reads: what is left once
    strings, label matchers, ranges, grouping label lists, Grafana variables, function calls and keywords are
    taken out."""
    expr = _LABEL_VALUES.sub(r"\1", expr)
    expr = _STRING.sub('""', expr)
    expr = _GRAFANA_VARIABLE.sub("", expr)
    expr = _MATCHERS.sub(" ", expr)
    expr = _RANGE.sub(" ", expr)
    expr = _LABEL_LIST.sub(" ", expr)
    names = set()
    for match in _NAME.finditer(expr):
        name, call = match.group(1), match.group(2)
        if call is None and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every panel target's expression (rows' nested panels included) and every query variable's query."""

    def panels(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for item in items:
            yield item
            yield from panels(item.get("panels") or [])

    queries = [t["expr"] for p in panels(dashboard["panels"]) for t in p.get("targets") or [] if t.get("expr")]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            queries.append(query["query"] if isinstance(query, dict) else query)
    return queries


def load_dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def rule_expressions(docs: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Each alert of the rendered PrometheusRules, by name: its expression."""
    return {
        rule["alert"]: rule["expr"]
        for doc in docs
        if doc["kind"] == "PrometheusRule"
        for group in doc["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def _sample_names(name: str, kind: str) -> set[str]:
    """The series names a family of ``kind`` is scraped as."""
    if kind == "counter":
        return {f"{name}_total"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    if kind == "summary":
        return {name, f"{name}_sum", f"{name}_count"}
    return {name}


def registered_names() -> set[str]:
    """The series names the components' metrics modules register: the operator's registry with its scrape-time
    collector, and an API app's metrics with its VideoJob cache's (nothing connects: no collector is asked for a
    value that needs a server)."""
    registry = CollectorRegistry()
    registry.register(
        operator_metrics.StateCollector(lambda: [], lambda: 0, lambda vj: operator_metrics.UNKNOWN_MODEL, lambda: True)
    )
    api = Metrics()
    api.watch_cache(VideoJobCache(client.ApiClient(), "metrics-names"))
    names: set[str] = set()
    for source in (operator_metrics.REGISTRY, registry, api.registry):
        for family in source.collect():
            names |= _sample_names(family.name, family.type)
    return names


def scraped_names(text: str) -> set[str]:
    """The series names an exposition (a /metrics answer) declares, samples or not (a labelled family with no
    series yet still has its # TYPE line)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names |= _sample_names(name.removesuffix("_total") if kind == "counter" else name, kind)
    return names


#: Samples of one scrape by (series name, labels).
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: Samples, name: str, **labels: str) -> float:
    """One series' value; 0 for a series not there (yet)."""
    return scraped.get((name, frozenset(labels.items())), 0.0)


@dataclass(frozen=True)
class Scrapes:
    """An installed release's operator and API /metrics, read at one moment."""

    operator: str
    api: str

    @classmethod
    def take(cls, release: SystemRelease) -> Scrapes:
        operator_port = release.values["operator"]["metricsPort"]
        return cls(_scrape(f"http://127.0.0.1:{operator_port}/metrics"), _scrape(f"{release.api_url}/metrics"))


def _scrape(url: str) -> str:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text}"
    return response.text
