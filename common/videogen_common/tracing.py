"""Optional OpenTelemetry tracing of a job across API -> operator -> runner, on only when an endpoint is configured.

Off unless the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (and
``OTEL_SDK_DISABLED`` is not ``true``): then :func:`configure_tracing` installs a TracerProvider that batches spans to
that endpoint over OTLP/HTTP (protobuf), with the component's ``service.name``. Off, the SDK is not even imported:
spans are the API's no-op ones and nothing is exported.

One trace per job, passed on in W3C ``traceparent`` form (never a bespoke format):

- the API's submit span goes on the VideoJob as the annotation ``videogen.dev/traceparent``
  (:data:`videogen_common.resources.meta.ANNOTATION_TRACEPARENT`);
- the operator's span that creates the Job is that span's child, and the runner pod gets the operator span's
  context in ``TRACEPARENT`` (:data:`TRACEPARENT_ENV`);
- the runner's run span is its child, with a child span per phase.

A traceparent is read with the W3C parser, which ignores anything malformed: anyone who may edit a VideoJob may
write the annotation, and a bad one only starts a new trace.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = [
    "ENDPOINT_ENVS",
    "TRACEPARENT_ENV",
    "TRACEPARENT_KEY",
    "configure_tracing",
    "context_from",
    "context_from_traceparent",
    "endpoint_configured",
    "shutdown_tracing",
    "span_from",
    "traceparent",
    "traceparent_carrier",
]

log = logging.getLogger(__name__)

#: The standard variables naming the OTLP endpoint (the traces-only one wins, as the exporter reads them).
ENDPOINT_ENVS: Final = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
#: The runner pod's variable holding the trace context its run span continues (the name W3C's env-carrier draft and
#: OpenTelemetry's tools use).
TRACEPARENT_ENV: Final = "TRACEPARENT"
#: The W3C Trace Context key in a carrier (an HTTP header, an annotation's value source, an env map).
TRACEPARENT_KEY: Final = "traceparent"

# W3C Trace Context only: the global propagator (OTEL_PROPAGATORS) may add baggage, which has no place here.
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


def endpoint_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether tracing is on: an OTLP endpoint is set and the SDK is not disabled."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(env.get(name, "").strip() for name in ENDPOINT_ENVS)


def configure_tracing(service_name: str) -> bool:
    """Export this process's spans to the configured OTLP/HTTP endpoint as ``service_name`` (``OTEL_SERVICE_NAME``
    wins when set); returns whether tracing is on. Does nothing without an endpoint, or when already configured."""
    global _provider
    env = os.environ
    if not endpoint_configured(env):
        return False
    if _provider is not None:
        return True
    # Imported only when on: a process without an endpoint never loads the SDK.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # The exporter reads the endpoint, headers, timeout and compression from the standard OTEL_* variables itself.
    resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info("tracing on: spans of %s go to %s", service_name, next(env[n] for n in ENDPOINT_ENVS if env.get(n)))
    return True


def shutdown_tracing() -> None:
    """Export the spans still queued and stop (the process is ending); a no-op when tracing is off."""
    global _provider
    provider, _provider = _provider, None
    if provider is not None:
        provider.shutdown()


def traceparent(context: Context | None = None) -> str | None:
    """The W3C ``traceparent`` of the current span (or of ``context``'s), None when there is no valid one (tracing
    off and no trace passed in)."""
    return traceparent_carrier(context).get(TRACEPARENT_KEY)


def traceparent_carrier(context: Context | None = None) -> dict[str, str]:
    """``{"traceparent": ...}`` for the current span (or ``context``'s), ``{}`` when there is no valid one."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def context_from(carrier: Mapping[str, str]) -> Context:
    """The trace context a carrier holds (``traceparent`` key, any case), for a child span: an empty context when
    it has none or a malformed one, so the span starts a new trace."""
    lowered = {k.lower(): v for k, v in carrier.items()}
    return _PROPAGATOR.extract(lowered)


def context_from_traceparent(value: str | None) -> Context:
    """The trace context of one ``traceparent`` value (an annotation's, an env variable's); empty when unusable."""
    return context_from({TRACEPARENT_KEY: value} if value else {})


@contextlib.contextmanager
def span_from(
    tracer_name: str, name: str, parent: str | None, attributes: Mapping[str, str | int] | None = None
) -> Iterator[trace.Span]:
    """A current span ``name`` continuing the trace of the ``traceparent`` value ``parent`` (a new trace without
    one); exceptions are recorded on it and set its status to error."""
    tracer = trace.get_tracer(tracer_name)
    with tracer.start_as_current_span(
        name, context=context_from_traceparent(parent), attributes=dict(attributes or {})
    ) as span:
        yield span
