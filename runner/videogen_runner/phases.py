"""The run's phases, each timed into ``timings`` (the RunResult's and the metadata's) and traced as a span of the
same name (videogen_common.tracing): one name per phase, whichever way it is looked at."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Final

from opentelemetry import trace

_tracer: Final = trace.get_tracer("videogen_runner")


@contextmanager
def phase(timings: dict[str, float], name: str) -> Iterator[None]:
    """Time the block into ``timings[name]`` (only when it completes: a failed phase has no duration to report)
    inside a span ``name``."""
    with _tracer.start_as_current_span(name):
        started = time.perf_counter()
        yield
        timings[name] = time.perf_counter() - started


def record_phase(name: str, started_ns: int, seconds: float) -> None:
    """A span for a phase timed from inside a call we do not own (the pipeline's denoising loop), once it is over:
    from ``started_ns`` (``time.time_ns()``) for ``seconds``."""
    span = _tracer.start_span(name, start_time=started_ns)
    span.end(end_time=started_ns + int(seconds * 1e9))


def phase_span(name: str) -> AbstractContextManager[trace.Span]:
    """A span for one call inside a phase timed elsewhere (the VAE decode, which the pipeline calls itself)."""
    return _tracer.start_as_current_span(name)
