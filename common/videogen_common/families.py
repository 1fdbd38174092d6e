"""The model-family table: what each diffusers pipeline class we run can do, and the frame and size grid it needs.

One table for every component: the runner picks its pipeline and rounds frames and sizes from it, the download pod
describes a snapshot with it (VideoModel status ``family``, ``pipelineClass``, ``modes``), the VideoModel CRD's
``family`` enum and the API's checks come from it. Pure data and arithmetic: no torch, no file access.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from videogen_common.resources.videojob import Mode

__all__ = [
    "FAMILIES",
    "PIPELINES",
    "Family",
    "FamilyName",
    "ModelPipeline",
    "UnknownPipelineError",
    "model_pipeline",
    "nearest_valid_frames",
    "nearest_valid_side",
]


class FamilyName(StrEnum):
    """A model family (VideoModel ``spec.family`` / ``status.family``)."""

    WAN = "wan"
    LTX = "ltx"


@dataclass(frozen=True)
class Family:
    """A model family's constraints, from its VAE compression and transformer patch size."""

    name: FamilyName
    #: Frames must be ``frame_step * k + 1`` (the VAE compresses time by ``frame_step``, keeping frame one).
    frame_step: int
    #: Width and height must be multiples of this (VAE spatial compression x transformer patch size).
    side_multiple: int
    #: Fewest denoising steps the family's scheduler accepts.
    min_steps: int = 1


FAMILIES: Final[Mapping[FamilyName, Family]] = {
    FamilyName.WAN: Family(FamilyName.WAN, frame_step=4, side_multiple=16),
    # LTX's scheduler (flow matching with shift_terminal) builds a schedule whose one step matches no timestep.
    FamilyName.LTX: Family(FamilyName.LTX, frame_step=8, side_multiple=32, min_steps=2),
}


@dataclass(frozen=True)
class ModelPipeline:
    """A ``model_index.json`` ``_class_name`` the runner runs: its family, and the diffusers class that runs each
    mode it can do (the weights stay the same; only the pipeline wrapping them changes)."""

    class_name: str
    family: Family
    runs: Mapping[Mode, str]

    @property
    def modes(self) -> tuple[Mode, ...]:
        return tuple(self.runs)


_LTX_RUNS: Final = {
    Mode.TEXT_TO_VIDEO: "LTXPipeline",
    Mode.IMAGE_TO_VIDEO: "LTXImageToVideoPipeline",
    Mode.VIDEO_TO_VIDEO: "LTXConditionPipeline",
}
_WAN = FAMILIES[FamilyName.WAN]
_LTX = FAMILIES[FamilyName.LTX]

PIPELINES: Final[Mapping[str, ModelPipeline]] = {
    p.class_name: p
    for p in (
        ModelPipeline(
            "WanPipeline",
            _WAN,
            {Mode.TEXT_TO_VIDEO: "WanPipeline", Mode.VIDEO_TO_VIDEO: "WanVideoToVideoPipeline"},
        ),
        ModelPipeline("WanImageToVideoPipeline", _WAN, {Mode.IMAGE_TO_VIDEO: "WanImageToVideoPipeline"}),
        ModelPipeline("LTXPipeline", _LTX, _LTX_RUNS),
        ModelPipeline("LTXImageToVideoPipeline", _LTX, _LTX_RUNS),
        ModelPipeline("LTXConditionPipeline", _LTX, _LTX_RUNS),
    )
}


class UnknownPipelineError(ValueError):
    """A model whose ``model_index.json`` names a pipeline class the runner does not run."""


def model_pipeline(class_name: str) -> ModelPipeline:
    """The table's entry for a ``model_index.json`` class; UnknownPipelineError names the classes we run."""
    found = PIPELINES.get(class_name)
    if found is None:
        known = ", ".join(sorted(PIPELINES))
        raise UnknownPipelineError(f"pipeline class {class_name or '(none)'} is not one the runner runs ({known})")
    return found


def nearest_valid_frames(requested: int, family: Family) -> int:
    """The nearest ``step*k+1`` frame count (at least 1); ties go up, so 64 -> 65 for both families."""
    step = family.frame_step
    k = max(0, int((requested - 1) / step + 0.5))
    return step * k + 1


def nearest_valid_side(requested: int, family: Family) -> int:
    """The nearest multiple of the family's side multiple (at least one multiple); ties go up."""
    m = family.side_multiple
    return max(m, int(requested / m + 0.5) * m)
