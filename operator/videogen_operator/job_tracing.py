"""The operator's span (videogen_common.tracing) around creating a VideoJob's Job: a child of the API's submit span
(the VideoJob's ``videogen.dev/traceparent``), whose own context the runner pod gets in ``TRACEPARENT``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace

from videogen_common import logs, tracing
from videogen_common.resources.meta import ANNOTATION_TRACEPARENT
from videogen_common.resources.objects import VideoJob


@contextmanager
def job_creation_span(videojob: VideoJob) -> Iterator[trace.Span]:
    """The span of creating ``videojob``'s Job: a new trace when the VideoJob carries none (made with kubectl) or a
    malformed one."""
    annotations = videojob.metadata.annotations
    fields = logs.videojob_fields(videojob.metadata.name, videojob.metadata.namespace, annotations)
    attributes = {
        key: value
        for key, value in {
            "videogen.videojob": fields["videojob"],
            "k8s.namespace.name": fields["namespace"],
            "videogen.job_id": fields["job_id"],
            "videogen.request_id": fields["request_id"],
        }.items()
        if value is not None
    }
    with tracing.span_from(
        "videogen_operator", "create-job", annotations.get(ANNOTATION_TRACEPARENT), attributes
    ) as span:
        yield span
