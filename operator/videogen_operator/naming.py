"""The names the operator derives: its Jobs and containers, a VideoJob's output and progress keys, and times.

Every name is a function of the object (its name, uid and creation time), never random, so that a create repeated
after a crash meets AlreadyExists and every retry of a run writes the same keys.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Final

from videogen_common.names import is_output_filename, output_kind
from videogen_common.resources.meta import LABEL_OWNER
from videogen_common.resources.objects import VideoJob, VideoModel
from videogen_common.runner_contract import OutputLocation, ProgressLocation, VideoJobRef
from videogen_operator.settings import OperatorSettings

#: The runner's container in a generation pod; podFailurePolicy rules and the status read it by name.
RUNNER_CONTAINER: Final = "runner"
#: The download container in a model download pod.
DOWNLOAD_CONTAINER: Final = "download"
#: Kubernetes' time format in metadata and status (RFC 3339, UTC, whole seconds).
TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
_DOWNLOAD_SUFFIX: Final = "-download"


def job_name(videojob: VideoJob) -> str:
    """The Job's name is the VideoJob's (the CRD caps it at 63 characters, the Job name limit for pod labels)."""
    return videojob.name


def download_job_name(videomodel: VideoModel, attempt: int | None = None) -> str:
    """``<name>-download``, and ``<name>-download-<n>`` for a retry: each attempt has its own Job, so a retry never
    waits for the failed Job to be deleted nor reads its pods. The suffix keeps the name apart from a VideoJob's Job
    of the same name (the owner check settles a clash); the name is cut so it stays within 63 characters."""
    attempt = videomodel.download_attempt if attempt is None else attempt
    suffix = _DOWNLOAD_SUFFIX if attempt == 0 else f"{_DOWNLOAD_SUFFIX}-{attempt}"
    return f"{videomodel.name[: 63 - len(suffix)]}{suffix}"


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def created_at(videojob: VideoJob) -> datetime:
    """When the VideoJob was created (the apiserver sets it on every object it stores)."""
    if videojob.metadata.creation_timestamp is None:
        raise ValueError(f"VideoJob {videojob.namespace}/{videojob.name} has no creationTimestamp")
    return parse_time(videojob.metadata.creation_timestamp)


def output_file(videojob: VideoJob) -> str:
    """``<kind>_<YYYYMMDD>_<HHMMSS>_<6 hex>.mp4`` from the creation time and the uid.

    Derived rather than random so that every retry, and every operator restart, writes the same key.
    """
    digest = hashlib.sha256(videojob.uid.encode()).hexdigest()[:6]
    name = f"{output_kind(videojob.spec.mode)}_{created_at(videojob):%Y%m%d_%H%M%S}_{digest}.mp4"
    assert is_output_filename(name), name
    return name


def output_location(videojob: VideoJob, settings: OperatorSettings) -> OutputLocation:
    """The MP4, poster and metadata keys: spec.output's bucket and prefix where given, else the settings'."""
    wanted = videojob.spec.output
    bucket = (wanted.bucket if wanted else None) or settings.output_bucket
    prefix = wanted.prefix if wanted is not None and wanted.prefix is not None else settings.output_prefix
    return OutputLocation.for_video(bucket, prefix, output_file(videojob), videojob_ref(videojob))


def videojob_ref(videojob: VideoJob) -> VideoJobRef:
    return VideoJobRef(
        name=videojob.name,
        namespace=videojob.namespace,
        uid=videojob.uid,
        owner=videojob.metadata.labels.get(LABEL_OWNER),
        created_at=videojob.metadata.creation_timestamp,
    )


def progress_location(videojob: VideoJob, settings: OperatorSettings) -> ProgressLocation:
    return ProgressLocation.for_videojob(settings.output_bucket, settings.progress_prefix, videojob_ref(videojob))
