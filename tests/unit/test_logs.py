"""The shared log line format (videogen_common.logs): JSON fields from the context and from extra=, request ids."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from videogen_common import logs
from videogen_common.resources.meta import ANNOTATION_REQUEST_ID


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own writing JSON lines into a buffer (the root logger is left alone)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize(
    "value",
    ["3f2a9c1e0b7d4e8f9a6b5c4d3e2f1a0b", "req-42", "01J9ZK3S7Q0V8X2Y4W6T5R3P1N", "abc.def:ghi+j=k@l_m", "a" * 128],
)
def test_safe_request_ids_are_kept(value: str) -> None:
    assert logs.valid_request_id(value) == value


@pytest.mark.parametrize(
    "value",
    [None, "", "a" * 129, "two words", "line\nbreak", '{"json": 1}', "-leading-dash", "slash/path", "é", "a\x00"],
)
def test_unsafe_request_ids_are_refused(value: str | None) -> None:
    assert logs.valid_request_id(value) is None


def test_new_request_ids_are_valid_and_distinct() -> None:
    made = {logs.new_request_id() for _ in range(100)}
    assert len(made) == 100 and all(logs.valid_request_id(r) == r and len(r) == 32 for r in made)


def test_a_line_carries_the_bound_fields_and_extra_wins(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = captured
    logger.info("outside")
    with logs.bound(request_id="req-1", videojob="job-1700000000-abcdef123456", namespace="ns"):
        logger.info("inside %s", "a job", extra={"namespace": "other"})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    first, second, third = lines(out)
    assert set(first) == {"time", "level", "logger", "message"} and first["message"] == "outside"
    assert first["level"] == "INFO" and first["logger"] == "tests.logs" and str(first["time"]).endswith("Z")
    assert second["message"] == "inside a job"
    assert (second["request_id"], second["videojob"], second["namespace"]) == (
        "req-1",
        "job-1700000000-abcdef123456",
        "other",
    )
    assert third["level"] == "ERROR" and "ValueError: boom" in str(third["exception"])
    # One line per record even with a traceback: a log pipeline splits on newlines.
    assert len(out.getvalue().splitlines()) == 3


def test_videojob_fields_name_the_job_and_drop_a_forged_request_id() -> None:
    fields = logs.videojob_fields("job-1700000000-abcdef123456", "ns", {ANNOTATION_REQUEST_ID: "req-7"})
    assert fields == {
        "videojob": "job-1700000000-abcdef123456",
        "namespace": "ns",
        "job_id": "job_1700000000_abcdef123456",
        "request_id": "req-7",
    }
    forged = logs.videojob_fields("by-hand", "ns", {ANNOTATION_REQUEST_ID: 'x"\n{"level": "ERROR"}'})
    assert forged == {"videojob": "by-hand", "namespace": "ns", "job_id": None, "request_id": None}
    assert logs.videojob_fields("by-hand", "ns", request_id="req-8")["request_id"] == "req-8"


def test_plain_lines_end_with_the_fields() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "careful", None, None)
    with logs.bound(request_id="req-9"):
        line = logs.PlainFormatter().format(record)
    assert line.endswith("WARNING x: careful [request_id=req-9]")


def test_process_fields_reach_lines_written_by_other_threads(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = captured
    logs.bind_process(job_id="job_1_aaaaaaaaaaaa")
    try:
        with logs.bound(request_id="req-main"):
            thread = threading.Thread(target=lambda: logger.info("from a thread"))
            thread.start()
            thread.join()
            logger.info("from the task")
    finally:
        logs._process.clear()
    from_thread, from_task = lines(out)
    # A thread starts without the context variable's fields, but with the process's.
    assert from_thread["job_id"] == "job_1_aaaaaaaaaaaa" and "request_id" not in from_thread
    assert from_task["job_id"] == "job_1_aaaaaaaaaaaa" and from_task["request_id"] == "req-main"
