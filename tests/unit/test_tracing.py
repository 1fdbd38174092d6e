"""The tracing helpers (videogen_common.tracing): W3C traceparent in and out of a carrier, and off without an
endpoint. No provider is installed here, so the spans are the API's non-recording ones: they still carry the trace
they continue, which is what the helpers pass on."""

from __future__ import annotations

import pytest

from videogen_common import tracing

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_traceparent_read_from_a_carrier_is_written_back_unchanged() -> None:
    context = tracing.context_from({"traceparent": PARENT})
    assert tracing.traceparent(context) == PARENT
    assert tracing.traceparent_carrier(context) == {"traceparent": PARENT}


def test_the_carrier_key_is_read_in_any_case() -> None:
    # HTTP headers and environment variables (TRACEPARENT) spell it differently.
    assert tracing.traceparent(tracing.context_from({"TRACEPARENT": PARENT})) == PARENT
    assert tracing.traceparent(tracing.context_from({"Traceparent": PARENT})) == PARENT


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # all-zero span id
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # the forbidden version
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # upper case
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01; rm -rf /",
    ],
)
def test_a_malformed_traceparent_gives_no_parent(value: str) -> None:
    # Anyone who may edit a VideoJob may write its annotation: a bad one starts a new trace, nothing more.
    assert tracing.traceparent(tracing.context_from_traceparent(value)) is None
    assert tracing.traceparent_carrier(tracing.context_from({"traceparent": value})) == {}


def test_no_current_span_gives_no_traceparent() -> None:
    assert tracing.traceparent() is None
    assert tracing.traceparent_carrier() == {}


def test_a_span_from_a_traceparent_continues_its_trace() -> None:
    with tracing.span_from("tests", "child", PARENT, {"videojob": "job-1-abc"}):
        current = tracing.traceparent()
    assert current is not None
    assert current.split("-")[1] == PARENT.split("-")[1]
    # Outside the span nothing is current again.
    assert tracing.traceparent() is None


def test_a_span_without_a_parent_and_without_tracing_passes_nothing_on() -> None:
    with tracing.span_from("tests", "root", None):
        assert tracing.traceparent() is None


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_tracing_is_on_only_with_an_endpoint(environ: dict[str, str], on: bool) -> None:
    assert tracing.endpoint_configured(environ) is on


def test_without_an_endpoint_configure_installs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in tracing.ENDPOINT_ENVS:
        monkeypatch.delenv(name, raising=False)
    assert tracing.configure_tracing("videogen-tests") is False
    tracing.shutdown_tracing()  # a no-op when off
