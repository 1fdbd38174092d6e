"""With an OTLP endpoint set, the operator's span around creating a VideoJob's Job continues the VideoJob's
``videogen.dev/traceparent`` (the API's submit span) and hands its own context to the runner pod (TRACEPARENT)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.operator.conftest import Namespace
from tests.operator.test_operator_runs_videojobs import runner_jobs, smoke_model
from tests.otlp_receiver import OtlpReceiver, otlp_receiver
from videogen_common.resources.meta import ANNOTATION_REQUEST_ID, ANNOTATION_TRACEPARENT
from videogen_common.tracing import TRACEPARENT_ENV
from videogen_dev.waiting import wait_for

__all__ = ["otlp_receiver"]  # the fixture, used by name

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SUBMIT_SPAN_ID = "00f067aa0ba902b7"
NAME = "job-1700000000-abcdefabcdef"


def videojob(ns: Namespace, name: str, annotations: dict[str, str]) -> None:
    ns.apply(
        {
            "apiVersion": "videogen.dev/v1alpha1",
            "kind": "VideoJob",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"mode": "text-to-video", "model": "smoke", "prompt": "a cat", "numInferenceSteps": 1},
        }
    )


def runner_env(ns: Namespace, name: str) -> dict[str, str]:
    (job,) = wait_for(lambda: runner_jobs(ns, name), bool, 30, f"the Job of {name}")
    container: dict[str, Any] = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch, otlp_receiver: OtlpReceiver) -> OtlpReceiver:
    """The operator started after this exports its spans to the receiver (it inherits this environment)."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    return otlp_receiver


def test_the_job_span_continues_the_videojobs_trace_and_the_runner_gets_its_context(
    ns: Namespace, start_operator: Any, traced: OtlpReceiver
) -> None:
    smoke_model(ns)
    start_operator()
    videojob(
        ns, NAME, {ANNOTATION_TRACEPARENT: f"00-{TRACE_ID}-{SUBMIT_SPAN_ID}-01", ANNOTATION_REQUEST_ID: "req-op-1"}
    )

    env = runner_env(ns, NAME)
    span = traced.wait_for(lambda s: s.name == "create-job" and s.attributes.get("videogen.videojob") == NAME)
    assert (span.trace_id, span.parent_span_id) == (TRACE_ID, SUBMIT_SPAN_ID)
    assert span.service == "videogen-operator"
    assert span.attributes["k8s.namespace.name"] == ns.name
    assert span.attributes["videogen.job_id"] == NAME.replace("-", "_")
    assert span.attributes["videogen.request_id"] == "req-op-1"
    assert span.attributes["k8s.job.name"] == NAME
    # The runner's run span will be this span's child.
    assert env[TRACEPARENT_ENV] == f"00-{TRACE_ID}-{span.span_id}-01"


def test_a_malformed_traceparent_starts_a_new_trace(ns: Namespace, start_operator: Any, traced: OtlpReceiver) -> None:
    smoke_model(ns)
    start_operator()
    videojob(ns, "forged", {ANNOTATION_TRACEPARENT: "00-not-a-trace-01"})

    env = runner_env(ns, "forged")
    span = traced.wait_for(lambda s: s.name == "create-job" and s.attributes.get("videogen.videojob") == "forged")
    assert span.parent_span_id == ""
    # (Its flags are the new trace's own: sampled, and random where the SDK says its trace ids are.)
    assert env[TRACEPARENT_ENV].split("-")[1:3] == [span.trace_id, span.span_id]
