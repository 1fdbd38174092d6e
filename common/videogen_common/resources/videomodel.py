"""VideoModel: a Hugging Face diffusers video model that the operator downloads into the model cache (a PVC) with a
download Job, so that generation pods load it offline.

``spec.repoId`` follows the Hugging Face Hub's repo id rules. The whole spec is immutable once created; to use
another repo, revision or family, create a new VideoModel. The status is written only by the operator.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field

from videogen_common.families import FamilyName
from videogen_common.resources.meta import Conditions, Int32, Int64, Message
from videogen_common.resources.schema import Immutable, ListSet, Pattern, Rule, WireModel
from videogen_common.resources.videojob import REPO_ID, REPO_ID_RULES, Mode

__all__ = ["ModelState", "RepoId", "VideoModelSpec", "VideoModelStatus"]


class ModelState(StrEnum):
    """Where a VideoModel's download stands."""

    PENDING = "Pending"
    DOWNLOADING = "Downloading"
    READY = "Ready"
    FAILED = "Failed"

    @property
    def terminal(self) -> bool:
        return self in (ModelState.READY, ModelState.FAILED)


#: A Hugging Face repo id (namespace/name).
RepoId = Annotated[
    str,
    Field(max_length=200),
    Pattern(
        REPO_ID,
        "spec.repoId must be a Hugging Face repo id of the form namespace/name (letters, digits, '.', '_', '-'), "
        "not a URL or a path",
    ),
    *REPO_ID_RULES,
]


class VideoModelSpec(WireModel):
    """Which model to download. Immutable once created; create a new VideoModel to change it."""

    crd_immutable: ClassVar[Immutable | None] = Immutable(remedy="create a new VideoModel")

    repo_id: RepoId
    """Hugging Face repo id, namespace/name (e.g. Wan-AI/Wan2.1-T2V-1.3B-Diffusers)."""
    revision: Annotated[
        str,
        Field(min_length=1, max_length=100),
        Pattern(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", "spec.revision must be a branch, tag or commit hash"),
        Rule(
            cel="!self.contains('..')",
            message="spec.revision must not contain '..'; use a branch, tag or commit hash",
            check=lambda v: ".." not in v,
        ),
    ] = "main"
    """Branch, tag or commit to download."""
    family: FamilyName | None = None
    """Pipeline family; omit it to detect it from the model's model_index.json."""


class VideoModelStatus(WireModel):
    """Written by the operator (status subresource)."""

    state: ModelState | None = None
    message: Message | None = None
    observed_generation: Annotated[Int64, Field(ge=0)] | None = None
    conditions: Conditions = Field(default_factory=list)
    family: FamilyName | None = None
    """spec.family, or the family detected from model_index.json when spec.family is unset."""
    resolved_revision: Annotated[str, Field(max_length=100)] | None = None
    """Commit hash the revision resolved to."""
    size_bytes: Annotated[Int64, Field(ge=0)] | None = None
    file_count: Annotated[Int32, Field(ge=0)] | None = None
    path: Annotated[str, Field(max_length=1024)] | None = None
    """Folder of the model inside the model cache."""
    pipeline_class: Annotated[str, Field(max_length=200)] | None = None
    """diffusers pipeline class from model_index.json (e.g. WanPipeline, LTXPipeline)."""
    modes: Annotated[list[Mode], Field(max_length=3), ListSet()] | None = None
    """The VideoJob modes this model can run."""
    job_name: Annotated[str, Field(max_length=63)] | None = None
    """The download Job of the latest attempt (a retry makes a new one: annotation videogen.dev/download-attempt)."""
