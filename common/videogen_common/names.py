"""Identifiers shared by the API, the operator and the runner.

- Reference job id: ``job_<unix-seconds>_<12 lowercase hex>``, e.g. ``job_1234567890_abcdef123456``.
- VideoJob name: the job id with ``-`` for ``_`` (Kubernetes names allow no underscore), e.g.
  ``job-1234567890-abcdef123456``. The two forms map one to one (a bijection); both directions reject
  anything not of the exact form.
- Output file: ``<kind>_<YYYYMMDD>_<HHMMSS>_<6 lowercase hex>.mp4`` with kind ``text2video``,
  ``image2video`` or ``video2video`` (from the VideoJob ``spec.mode``), e.g.
  ``text2video_20240115_103045_abc123.mp4``. Timestamps are UTC.

All functions are pure apart from reading the clock and the random source when ``now``/no id is given.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "MODES",
    "MODE_TO_OUTPUT_KIND",
    "OUTPUT_KINDS",
    "is_job_id",
    "is_output_filename",
    "is_videojob_name",
    "job_id_to_videojob_name",
    "new_job_id",
    "output_filename",
    "output_kind",
    "videojob_name_to_job_id",
]

#: The values of VideoJob ``spec.mode`` (the CRD enum) mapped to the output file's kind.
MODE_TO_OUTPUT_KIND: Final[dict[str, str]] = {
    "text-to-video": "text2video",
    "image-to-video": "image2video",
    "video-to-video": "video2video",
}
MODES: Final[tuple[str, ...]] = tuple(MODE_TO_OUTPUT_KIND)
OUTPUT_KINDS: Final[tuple[str, ...]] = tuple(MODE_TO_OUTPUT_KIND.values())

# Seconds are written without leading zeros (the canonical decimal form), so that each number has
# exactly one spelling and the id <-> name mapping stays a bijection. ``0`` itself is allowed.
_SECONDS = r"(?:0|[1-9][0-9]{0,18})"
_JOB_ID_RE: Final = re.compile(rf"job_(?P<seconds>{_SECONDS})_(?P<hex>[0-9a-f]{{12}})")
_VIDEOJOB_NAME_RE: Final = re.compile(rf"job-(?P<seconds>{_SECONDS})-(?P<hex>[0-9a-f]{{12}})")
_OUTPUT_RE: Final = re.compile(
    r"(?P<kind>" + "|".join(OUTPUT_KINDS) + r")"
    r"_(?P<date>[0-9]{8})_(?P<time>[0-9]{6})_(?P<hex>[0-9a-f]{6})\.mp4"
)


def _unix_seconds(now: datetime | float | int | None) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware (e.g. datetime.now(UTC))")
        return int(now.timestamp())
    if now < 0:
        raise ValueError(f"now must not be before the Unix epoch, got {now!r}")
    return int(now)


def _utc_datetime(now: datetime | float | int | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware (e.g. datetime.now(UTC))")
        return now.astimezone(UTC)
    return datetime.fromtimestamp(now, UTC)


def new_job_id(now: datetime | float | int | None = None) -> str:
    """A fresh reference job id ``job_<unix-seconds>_<12 lowercase hex>``.

    ``now`` (an aware datetime or Unix seconds) fixes the timestamp part; the hex part is always random.
    """
    return f"job_{_unix_seconds(now)}_{secrets.token_hex(6)}"


def is_job_id(s: object) -> bool:
    """Whether ``s`` is a reference job id (``job_<unix-seconds>_<12 lowercase hex>``)."""
    return isinstance(s, str) and _JOB_ID_RE.fullmatch(s) is not None


def is_videojob_name(s: object) -> bool:
    """Whether ``s`` is a VideoJob name that maps back to a job id (``job-<seconds>-<12 hex>``)."""
    return isinstance(s, str) and _VIDEOJOB_NAME_RE.fullmatch(s) is not None


def job_id_to_videojob_name(job_id: str) -> str:
    """The VideoJob name for a job id: ``job_1234567890_abcdef123456`` -> ``job-1234567890-abcdef123456``.

    Raises ValueError when ``job_id`` is not a job id.
    """
    if not is_job_id(job_id):
        raise ValueError(f"not a job id (want job_<unix-seconds>_<12 lowercase hex>): {job_id!r}")
    return job_id.replace("_", "-")


def videojob_name_to_job_id(name: str) -> str:
    """The job id for a VideoJob name: ``job-1234567890-abcdef123456`` -> ``job_1234567890_abcdef123456``.

    Raises ValueError when ``name`` is not of that form (e.g. a VideoJob created by hand with another name).
    """
    if not is_videojob_name(name):
        raise ValueError(f"not a job VideoJob name (want job-<unix-seconds>-<12 lowercase hex>): {name!r}")
    return name.replace("-", "_")


def output_kind(mode: str) -> str:
    """``text-to-video`` -> ``text2video`` etc. Raises ValueError for an unknown mode."""
    try:
        return MODE_TO_OUTPUT_KIND[mode]
    except KeyError:
        raise ValueError(f"unknown mode {mode!r}; want one of {', '.join(MODES)}") from None


def output_filename(mode: str, now: datetime | float | int | None = None) -> str:
    """An output file name ``<kind>_<YYYYMMDD>_<HHMMSS>_<6 lowercase hex>.mp4`` (UTC time).

    ``mode`` is a VideoJob ``spec.mode`` value; ``now`` (an aware datetime or Unix seconds) fixes the time.
    """
    kind = output_kind(mode)
    stamp = _utc_datetime(now).strftime("%Y%m%d_%H%M%S")
    return f"{kind}_{stamp}_{secrets.token_hex(3)}.mp4"


def is_output_filename(s: object) -> bool:
    """Whether ``s`` is an output file name of the reference shape (a plain name, no folder)."""
    if not isinstance(s, str):
        return False
    m = _OUTPUT_RE.fullmatch(s)
    if m is None:
        return False
    try:
        datetime.strptime(m["date"] + m["time"], "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True
