"""VideoModel: a Hugging Face diffusers video model that the operator downloads into the model cache (a PVC) with a
download Job, so that generation pods load it offline.

``spec.repoId`` follows the Hugging Face Hub's repo id rules. ``spec.overrides`` replaces what the model-family table
(:mod:`videogen_common.families`) knows about the checkpoint (native fps, recommendations, standard negative prompt,
``flow_shift``, limits), for a fine-tune or a checkpoint the table describes wrongly. The whole spec is immutable
once created; to use another repo, revision, family or overrides, create a new VideoModel (a repo already in the
model cache is not downloaded again). The status is written only by the operator.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final

from pydantic import Field

from videogen_common.families import Checkpoint, FamilyName
from videogen_common.resources.meta import Conditions, Double, Int32, Int64, Message
from videogen_common.resources.schema import Immutable, ListMap, ListSet, Pattern, Rule, WireModel
from videogen_common.resources.videojob import REPO_ID, REPO_ID_RULES, Mode

__all__ = ["FlowShiftStep", "ModelOverrides", "ModelState", "RepoId", "VideoModelSpec", "VideoModelStatus"]

#: The largest frame a VideoJob can ask for (spec.width and spec.height are at most 2048).
_MAX_FRAME_PIXELS: Final = 2048 * 2048


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


class FlowShiftStep(WireModel):
    """The scheduler's flow_shift for frames of at least minPixels pixels (width x height)."""

    min_pixels: Annotated[Int64, Field(ge=0, le=_MAX_FRAME_PIXELS)]
    """Smallest frame (width x height, after rounding to the model's grid) this shift applies to; 0 for every size."""
    shift: Annotated[Double, Field(ge=1, le=20)]
    """flow_shift (Wan's model cards: 3.0 at 480p, 5.0 at 720p)."""


class ModelOverrides(WireModel):
    """What to use instead of the model-family table's knowledge of this checkpoint (videogen-runner plan reports
    each as a VideoModel override). A VideoJob's own values always win: its guidanceScale and numInferenceSteps
    run as given (the REST defaults included), and a non-empty negativePrompt replaces the standard one."""

    native_fps: Annotated[Int32, Field(ge=1, le=120)] | None = None
    """Frame rate of the training clips: a clip is generated at this rate for the requested duration, then retimed
    to the requested fps (Wan: 16; LTX-Video takes the rate as an input and has none)."""
    recommended_guidance_scale: Annotated[Double, Field(ge=1, le=20)] | None = None
    """Guidance scale the model's authors recommend (reported by the runner's plan; the VideoJob's own is run)."""
    recommended_num_inference_steps: Annotated[Int32, Field(ge=1, le=100)] | None = None
    """Denoising steps the model's authors recommend (reported by the runner's plan; the VideoJob's own are run)."""
    negative_prompt: Annotated[str, Field(max_length=4000)] | None = None
    """The standard negative prompt, run when a VideoJob's is empty; an empty string runs none."""
    flow_shift: Annotated[list[FlowShiftStep], Field(min_length=1, max_length=8), ListMap(("minPixels",))] | None = None
    """flow_shift by frame size: the step with the largest minPixels the frame reaches applies (none reached: the
    scheduler's own). Used where the scheduler has a flow_shift (Wan's); LTX-Video's shifts by resolution itself."""
    max_pixels: Annotated[Int64, Field(ge=64 * 64, le=_MAX_FRAME_PIXELS)] | None = None
    """Largest frame (width x height) a VideoJob may ask of this model (table: 1280x720 = 921600)."""
    max_frames: Annotated[Int32, Field(ge=1, le=1025)] | None = None
    """Most frames the model generates for one clip, counted at its native fps (table: Wan 129, LTX-Video 257)."""

    #: The :class:`~videogen_common.families.Checkpoint` field each override replaces.
    _CHECKPOINT_FIELDS: ClassVar[dict[str, str]] = {
        "native_fps": "native_fps",
        "recommended_guidance_scale": "recommended_guidance_scale",
        "recommended_num_inference_steps": "recommended_steps",
        "negative_prompt": "negative_prompt",
        "flow_shift": "flow_shift",
        "max_pixels": "max_pixels",
        "max_frames": "max_frames",
    }

    def checkpoint_fields(self) -> dict[str, str]:
        """The overrides given, by wire name (camelCase), each with the Checkpoint field it replaces."""
        return {
            info.alias or name: self._CHECKPOINT_FIELDS[name]
            for name, info in type(self).model_fields.items()
            if getattr(self, name) is not None
        }

    def checkpoint_changes(self) -> dict[str, Any]:
        """The overrides given, as Checkpoint fields and values (``Checkpoint.overridden`` takes them)."""
        changes: dict[str, Any] = {
            self._CHECKPOINT_FIELDS[name]: value
            for name in type(self).model_fields
            if name != "flow_shift" and (value := getattr(self, name)) is not None
        }
        if self.flow_shift is not None:
            # Checkpoint.flow_shift_for takes the last row the frame reaches: ascending order.
            steps = sorted(self.flow_shift, key=lambda step: step.min_pixels)
            changes["flow_shift"] = tuple((step.min_pixels, step.shift) for step in steps)
        return changes

    def apply_to(self, checkpoint: Checkpoint) -> Checkpoint:
        """``checkpoint`` with these overrides in place of the table's values."""
        return checkpoint.overridden(self.checkpoint_changes())


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
    overrides: ModelOverrides | None = None
    """What to use instead of the model-family table's knowledge of this checkpoint (native fps, recommended guidance
    and steps, standard negative prompt, flow_shift, limits); omit it for the table's."""


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
