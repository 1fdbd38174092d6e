"""One log line format for every component: a JSON object per line, with the job it is about and the request id.

A line is ``{"time", "level", "logger", "message"}`` plus whichever of :data:`FIELDS` are known where it is
written, plus ``exception`` (the traceback) when there is one. The fields come from the log context (:func:`bound`,
:func:`bind`: a context variable, so each asyncio task and each request has its own, and ``asyncio.to_thread`` and
Starlette's thread pool carry it along; :func:`bind_process` for a one-job process such as the runner, whose own
threads start without it) or from a call's ``extra=``. ``plain`` prints the same facts as text.

The request id is one string from the REST call to the runner: the API takes the client's ``X-Request-ID`` when it
is safe (:func:`valid_request_id`), else makes one, and writes it on the VideoJob (``videogen.dev/request-id``); the
operator logs it with the VideoJob's lines and passes it to the runner pod (``VIDEOGEN_REQUEST_ID``). The annotation
can also be written by anyone who may edit the VideoJob, so every reader validates it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Final, Literal

from videogen_common.names import is_videojob_name, videojob_name_to_job_id
from videogen_common.resources.meta import ANNOTATION_REQUEST_ID

__all__ = [
    "FIELDS",
    "REQUEST_ID_ENV",
    "REQUEST_ID_HEADER",
    "REQUEST_ID_MAX_LENGTH",
    "JsonFormatter",
    "LogFormat",
    "PlainFormatter",
    "bind",
    "bind_process",
    "bound",
    "configure_logging",
    "context",
    "new_request_id",
    "valid_request_id",
    "videojob_fields",
]

LogFormat = Literal["json", "plain"]

#: The HTTP header a client may send (and always gets back) with its request id.
REQUEST_ID_HEADER: Final = "X-Request-ID"
#: The runner pod's environment variable holding the request id of its VideoJob.
REQUEST_ID_ENV: Final = "VIDEOGEN_REQUEST_ID"
#: The longest request id kept; a longer one is replaced (it goes into every log line and an annotation).
REQUEST_ID_MAX_LENGTH: Final = 128
# Letters, digits and the punctuation request ids use (UUIDs, ULIDs, "req-..", base64 without '/'): nothing that
# could break a log line, a header or a shell, and no spaces.
_REQUEST_ID: Final = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:+=@-]{{0,{REQUEST_ID_MAX_LENGTH - 1}}}")

#: The context fields a line may carry, in the order they are written.
FIELDS: Final = ("request_id", "job_id", "videojob", "namespace", "videomodel")

_context: ContextVar[Mapping[str, str] | None] = ContextVar("videogen_log_context", default=None)
#: Fields of every line of this process, from any thread (see bind_process).
_process: dict[str, str] = {}


def valid_request_id(value: str | None) -> str | None:
    """``value`` if it is a usable request id (1-128 of letters, digits and ``._:+=@-``, starting with a letter or
    digit), else None."""
    if value is None or _REQUEST_ID.fullmatch(value) is None:
        return None
    return value


def new_request_id() -> str:
    """A fresh request id: 32 lowercase hex digits (a random UUID)."""
    return uuid.uuid4().hex


def videojob_fields(
    name: str | None, namespace: str | None, annotations: Mapping[str, str] | None = None, request_id: str | None = None
) -> dict[str, str | None]:
    """The fields of a VideoJob's lines: its name and namespace, its REST job id (when the name is one) and its request
    id (``request_id``, else the annotation's), kept only when valid: a hand-written annotation must not forge lines."""
    job_id = videojob_name_to_job_id(name) if name is not None and is_videojob_name(name) else None
    wanted = request_id if request_id is not None else (annotations or {}).get(ANNOTATION_REQUEST_ID)
    return {"videojob": name, "namespace": namespace, "job_id": job_id, "request_id": valid_request_id(wanted)}


def context() -> Mapping[str, str]:
    """The fields bound in the current context (over those of the process)."""
    return {**_process, **(_context.get() or {})}


def bind(**fields: str | None) -> None:
    """Add ``fields`` (None ones are left out) to the current context, for every later line of this task or request."""
    _context.set({**context(), **{k: v for k, v in fields.items() if v is not None}})


def bind_process(**fields: str | None) -> None:
    """Add ``fields`` to every later line of this process, whichever thread writes it (a new thread starts with an
    empty context): for a process that does one job, as the runner does."""
    _process.update({k: v for k, v in fields.items() if v is not None})


@contextlib.contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """``fields`` in the context for the lines written inside the ``with`` block only."""
    token = _context.set({**context(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, str]:
    # A call's extra= wins over the context: it names the object that line is about.
    found = dict(context())
    for name in FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            found[name] = str(value)
    return {name: found[name] for name in FIELDS if name in found}


class JsonFormatter(logging.Formatter):
    """One JSON object per line (UTF-8, no newline inside: tracebacks are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        doc: dict[str, object] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        # kopf's per-object loggers name their object this way.
        if isinstance(k8s_ref := getattr(record, "k8s_ref", None), Mapping):
            doc["object"] = {k: k8s_ref[k] for k in ("kind", "namespace", "name") if k8s_ref.get(k)}
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            doc["exception"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger: message [field=value ...]`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = _fields(record)
        return f"{line} [{' '.join(f'{k}={v}' for k, v in fields.items())}]" if fields else line


def configure_logging(log_format: LogFormat = "json", level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send every logger's lines (libraries' too) to ``stream`` (stderr) in ``log_format``, replacing any handler
    the root logger had, so a line is never written twice or in two formats."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else PlainFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Python's warnings (a library's FutureWarning) as lines of the py.warnings logger, not plain text on stderr.
    logging.captureWarnings(True)


def adopt_library_loggers(*names: str) -> None:
    """Lines of these libraries' loggers come out as ours: torch gives its "torch" logger a handler of its own (its
    ``W1204 12:00:00 pid file:line]`` lines on stderr) and stops it propagating, which would put lines in another
    format between the JSON ones. Call it once the library is imported (its import sets that handler up)."""
    for name in names:
        logger = logging.getLogger(name)
        for own in list(logger.handlers):
            logger.removeHandler(own)
        logger.propagate = True
