"""The two kinds as whole objects (metadata, spec, status) and what their CRDs say beside the schema: names,
printer columns and the rule on the object's name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from pydantic import Field

from videogen_common.resources.meta import ANNOTATION_DOWNLOAD_ATTEMPT, API_VERSION, ObjectMeta
from videogen_common.resources.schema import Rule, WireModel
from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.resources.videojob_status import VideoJobStatus
from videogen_common.resources.videomodel import VideoModelSpec, VideoModelStatus

__all__ = ["KINDS", "Kind", "PrinterColumn", "Resource", "VideoJob", "VideoModel"]

#: Kubernetes names of Jobs and pods (and label values) stop at 63 characters.
NAME_MAX_LENGTH: Final = 63


def _short_name(what_it_names: str) -> Rule:
    return Rule(
        cel=f"size(self.metadata.name) <= {NAME_MAX_LENGTH}",
        message=f"metadata.name must be at most {NAME_MAX_LENGTH} characters: {what_it_names}; use a shorter name",
        reason="FieldValueInvalid",
        check=lambda obj: obj.metadata.name is None or len(obj.metadata.name) <= NAME_MAX_LENGTH,
    )


class Resource(WireModel):
    """What both kinds share: the object's identity and its manifest for a create."""

    api_version: str = API_VERSION
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or ""

    @property
    def uid(self) -> str:
        return self.metadata.uid or ""

    def manifest(self) -> dict[str, Any]:
        """The document to create: metadata and spec (the apiserver ignores a status on create; managedFields are
        the apiserver's to write)."""
        exclude: dict[str, Any] = {"status": True, "metadata": {"managed_fields"}}
        return self.model_dump(by_alias=True, exclude_none=True, mode="json", exclude=exclude)


class VideoJob(Resource):
    """VideoJob is one video generation request; the operator runs it as a batch/v1 Job."""

    crd_rules: ClassVar[tuple[Rule, ...]] = (_short_name("it also names the generation Job and its pods"),)

    kind: Literal["VideoJob"] = "VideoJob"
    spec: VideoJobSpec
    status: VideoJobStatus = Field(default_factory=VideoJobStatus)


class VideoModel(Resource):
    """VideoModel is a Hugging Face diffusers video model kept in the model cache."""

    crd_rules: ClassVar[tuple[Rule, ...]] = (
        _short_name("it is used as a label value on the download Job and on VideoJobs"),
    )

    kind: Literal["VideoModel"] = "VideoModel"
    spec: VideoModelSpec
    status: VideoModelStatus = Field(default_factory=VideoModelStatus)

    @property
    def download_attempt(self) -> int:
        """The download attempt asked for (annotation ANNOTATION_DOWNLOAD_ATTEMPT); 0 without one, or for junk."""
        value = self.metadata.annotations.get(ANNOTATION_DOWNLOAD_ATTEMPT, "0")
        return int(value) if value.isdigit() and len(value) < 10 else 0


@dataclass(frozen=True)
class PrinterColumn:
    """One ``kubectl get`` column."""

    name: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    json_path: str
    description: str | None = None
    #: 1 shows the column only with ``-o wide``.
    priority: int | None = None


@dataclass(frozen=True)
class Kind:
    """A kind's CRD beside its schema."""

    model: type[Resource]
    plural: str
    singular: str
    short_names: tuple[str, ...]
    printer_columns: tuple[PrinterColumn, ...]

    @property
    def name(self) -> str:
        kind: str = self.model.model_fields["kind"].default
        return kind


_AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")

KINDS: Final = (
    Kind(
        model=VideoJob,
        plural="videojobs",
        singular="videojob",
        short_names=("vj",),
        printer_columns=(
            PrinterColumn("Mode", "string", ".spec.mode"),
            PrinterColumn(
                "Model",
                "string",
                ".spec.model",
                "VideoModel name or Hugging Face repo id; empty means the operator's default for the mode.",
            ),
            PrinterColumn("Status", "string", ".status.state"),
            PrinterColumn("Progress", "integer", ".status.progress.percent", "Denoising progress in percent."),
            PrinterColumn("Reason", "string", ".status.reason", priority=1),
            PrinterColumn("Output", "string", ".status.output.uri", priority=1),
            _AGE,
        ),
    ),
    Kind(
        model=VideoModel,
        plural="videomodels",
        singular="videomodel",
        short_names=("vmod",),
        printer_columns=(
            PrinterColumn("Repo", "string", ".spec.repoId"),
            PrinterColumn("Revision", "string", ".spec.revision"),
            PrinterColumn(
                "Family", "string", ".status.family", "spec.family, or the family detected from model_index.json."
            ),
            PrinterColumn("Status", "string", ".status.state"),
            PrinterColumn("Size", "integer", ".status.sizeBytes", "Bytes in the model cache."),
            PrinterColumn("Pipeline", "string", ".status.pipelineClass", priority=1),
            PrinterColumn("Path", "string", ".status.path", priority=1),
            _AGE,
        ),
    ),
)
#: The plural names, as the API paths use them.
VIDEOJOBS: Final = KINDS[0].plural
VIDEOMODELS: Final = KINDS[1].plural
