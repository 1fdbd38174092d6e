"""The contract between the operator (which builds a VideoModel's download Job) and the download pod.

The operator passes one :class:`DownloadInput` as JSON in the environment variable :data:`INPUT_ENV`; the pod
downloads the snapshot into the model cache and leaves one :class:`DownloadResult` as its termination message
(:mod:`videogen_common.termination`), which the operator turns into the VideoModel status. Exit codes are the
runner's (:class:`~videogen_common.runner_contract.ExitCode`): 0 ready; 10 the repo, revision or its contents are
unusable (never retried); 12 anything else (network, disk: retried by the Job).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from videogen_common.families import FamilyName
from videogen_common.resources.schema import WireModel
from videogen_common.resources.videojob import Mode
from videogen_common.termination import termination_message

__all__ = ["INPUT_ENV", "DownloadInput", "DownloadOutcome", "DownloadResult", "Snapshot"]

#: Environment variable holding the DownloadInput JSON.
INPUT_ENV: Final = "VIDEOGEN_DOWNLOAD_INPUT"


class DownloadInput(WireModel):
    """What to download, and where."""

    repo_id: str
    revision: str = "main"
    #: huggingface_hub's cache folder on the model cache volume (``<mount>/hub``).
    cache_dir: str
    #: spec.family; None detects it from model_index.json.
    family: FamilyName | None = None
    #: Largest download allowed (the files that would be fetched, as the hub lists them), checked before any weight
    #: is fetched; None for no limit.
    max_bytes: int | None = None


class DownloadOutcome(StrEnum):
    """How a download ended (the termination message's ``reason``)."""

    READY = "Ready"
    #: The repo, revision or its contents cannot be used (not found, gated, not a pipeline the runner runs, over
    #: the size budget).
    INVALID_MODEL = "InvalidModel"
    #: Anything else (network, disk); the Job retries.
    DOWNLOAD_FAILED = "DownloadFailed"


class Snapshot(WireModel):
    """What the VideoModel status shows about a downloaded snapshot (the same field names as the status)."""

    path: str
    resolved_revision: str
    size_bytes: int
    file_count: int
    pipeline_class: str
    family: FamilyName
    modes: list[Mode]


class DownloadResult(WireModel):
    """The termination message of a download pod."""

    reason: DownloadOutcome
    message: str = ""
    snapshot: Snapshot | None = None

    def to_termination_message(self) -> str:
        return termination_message(self.model_dump(by_alias=True, exclude_none=True, mode="json"))
