"""The API's span per submit (videogen_common.tracing), whose trace context goes on the VideoJob it makes
(``videogen.dev/traceparent``) so that the operator's and the runner's spans join the same trace.

The span of each HTTP request is FastAPI's own (its native OpenTelemetry support, on once a TracerProvider is
installed): it continues a client's ``traceparent``, is named after the route template and carries the status code;
the request id middleware adds the request id to it. The submit span is its descendant.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final

from opentelemetry import trace

from videogen_common import logs, tracing
from videogen_common.names import videojob_name_to_job_id
from videogen_common.resources.meta import ANNOTATION_TRACEPARENT

_tracer: Final = trace.get_tracer("videogen_api")


def traceparent_annotation() -> dict[str, str]:
    """The annotation carrying the current span's trace context, for the VideoJob it makes ({} without one)."""
    value = tracing.traceparent()
    return {ANNOTATION_TRACEPARENT: value} if value else {}


@contextlib.contextmanager
def submit_span(mode: str) -> Iterator[trace.Span]:
    """The span of one submit (the caller names the job on it once it is known)."""
    request_id = logs.context().get("request_id")
    attributes = {"videogen.mode": mode, **({"videogen.request_id": request_id} if request_id else {})}
    with _tracer.start_as_current_span("submit", attributes=attributes) as span:
        yield span


def name_job(span: trace.Span, videojob: str, namespace: str | None, created: bool) -> None:
    """The job a submit made (or, for a replayed Idempotency-Key, found) on its span."""
    span.set_attribute("videogen.job_id", videojob_name_to_job_id(videojob))
    span.set_attribute("videogen.videojob", videojob)
    if namespace:
        span.set_attribute("k8s.namespace.name", namespace)
    span.set_attribute("videogen.created", created)
