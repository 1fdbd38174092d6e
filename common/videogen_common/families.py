"""The model-family table: what each diffusers pipeline class we run can do, the frame and size grid it needs, and
what each checkpoint generation was trained for (native fps, recommended guidance and steps, standard negative
prompt, ``flow_shift`` by resolution, size and frame limits, distilled timesteps).

One table for every component: the runner picks its pipeline, its defaults and limits and rounds frames and sizes
from it (``videogen-runner plan`` prints what it took), the download pod describes a snapshot with it (VideoModel
status ``family``, ``pipelineClass``, ``modes``), the VideoModel CRD's ``family`` enum and the API's checks come
from it. Pure data and arithmetic: no torch, no file access.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any, Final

from videogen_common.resources.videojob import Mode

__all__ = [
    "FAMILIES",
    "PIPELINES",
    "Checkpoint",
    "Family",
    "FamilyName",
    "GenerationShape",
    "ModelPipeline",
    "UnknownPipelineError",
    "frames_covering",
    "generation_shape",
    "is_distilled",
    "limits_problem",
    "model_limits_problem",
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
class Checkpoint:
    """What one generation of checkpoints was trained for, from its authors' model cards and diffusers' docs.

    Request values win wherever the request has them (the reference API's defaults stay its defaults); the
    recommended guidance and steps are reported by ``videogen-runner plan``. A distilled checkpoint is the exception:
    it only works with guidance 1 and its own timesteps, so those replace the request's.
    """

    name: str
    #: Frame rate of the training clips: motion is generated at this rate for the requested duration, then retimed
    #: to the requested fps. None: the model takes the frame rate as an input (LTX's rotary positions are in
    #: seconds) and generates at the requested fps directly.
    native_fps: int | None
    recommended_guidance_scale: float
    recommended_steps: int
    #: Used when the request's negative prompt is empty (the model's authors' standard one).
    negative_prompt: str
    #: ``(min pixels per frame, flow_shift)`` ascending: the last row whose minimum the frame reaches applies.
    #: Empty: the scheduler's own shift (LTX shifts by resolution itself).
    flow_shift: tuple[tuple[int, float], ...] = ()
    #: Largest frame (width x height) and longest generated clip (frames at ``native_fps``) the checkpoint runs.
    max_pixels: int = 1280 * 720
    max_frames: int = 257
    #: A guidance-distilled checkpoint's fixed schedule (diffusers' ``timesteps=``); guidance is then 1.
    distilled_timesteps: tuple[float, ...] | None = None
    #: The text cross-attention passes a padding mask: only attention backends that take masks can run it.
    masked_attention: bool = False
    #: Whether the transformer runs context-parallel across GPUs (``spec.gpus`` > 1, diffusers' Ulysses attention).
    #: Not where the attention is masked: diffusers' Ulysses all-to-all does not reshard the mask (SDPA then fails
    #: on the mask's shape), so such a model runs on one GPU only.
    context_parallel: bool = True
    #: The fields a VideoModel's ``spec.overrides`` replaced (:meth:`overridden`), so messages and the plan can say
    #: where a value came from.
    overrides: tuple[str, ...] = ()

    def overridden(self, changes: Mapping[str, Any]) -> Checkpoint:
        """This checkpoint with some of its knowledge replaced (a VideoModel's ``spec.overrides``, as field names of
        this class); the other fields stay the table's."""
        known = {f.name for f in fields(self)} - {"name", "overrides"}
        if unknown := set(changes) - known:
            raise ValueError(f"not checkpoint knowledge a VideoModel may override: {sorted(unknown)}")
        if not changes:
            return self
        added = tuple(k for k in changes if k not in self.overrides)
        return replace(self, **changes, overrides=(*self.overrides, *added))

    def flow_shift_for(self, width: int, height: int) -> float | None:
        """The ``flow_shift`` for this frame size, or None to keep the scheduler's."""
        shift: float | None = None
        for min_pixels, value in self.flow_shift:
            if width * height >= min_pixels:
                shift = value
        return shift


# Wan2.1's standard negative prompt (``sample_neg_prompt`` in Wan's own configs), in the Chinese it was trained with;
# its commas are the full-width ones of Chinese text.
_WAN_NEGATIVE: Final = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"  # noqa: RUF001
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，"  # noqa: RUF001
    "静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"  # noqa: RUF001
)
# LTX-Video's, as Lightricks' and diffusers' examples use it.
_LTX_NEGATIVE: Final = "worst quality, inconsistent motion, blurry, jittery, distorted"

WAN21: Final = Checkpoint(
    "wan2.1",
    native_fps=16,
    recommended_guidance_scale=5.0,
    recommended_steps=50,
    negative_prompt=_WAN_NEGATIVE,
    # Wan's model cards: shift 3.0 for 480p, 5.0 for 720p; the switch sits between 832x480 and 1280x720.
    flow_shift=((0, 3.0), (1024 * 576, 5.0)),
    max_pixels=1280 * 720,
    # Trained on 81 frames (5 s at 16 fps); up to 8 s runs, longer clips repeat themselves.
    max_frames=129,
)
LTX_090: Final = Checkpoint(
    "ltx-video-0.9.0-0.9.1",
    native_fps=None,
    recommended_guidance_scale=3.0,
    recommended_steps=50,
    negative_prompt=_LTX_NEGATIVE,
    masked_attention=True,
    context_parallel=False,
)
LTX_095: Final = Checkpoint(
    "ltx-video-0.9.5+",
    native_fps=None,
    recommended_guidance_scale=3.0,
    recommended_steps=50,
    negative_prompt=_LTX_NEGATIVE,
    masked_attention=True,
    context_parallel=False,
)
LTX_095_DISTILLED: Final = Checkpoint(
    "ltx-video-0.9.5+-distilled",
    native_fps=None,
    recommended_guidance_scale=1.0,
    recommended_steps=8,
    negative_prompt=_LTX_NEGATIVE,
    # The first-pass schedule diffusers' LTX-Video docs give for the 0.9.7/0.9.8 distilled checkpoints.
    distilled_timesteps=(1000.0, 993.0, 987.0, 981.0, 975.0, 909.0, 725.0, 0.03),
    masked_attention=True,
    context_parallel=False,
)


@dataclass(frozen=True)
class ModelPipeline:
    """A ``model_index.json`` ``_class_name`` the runner runs: its family, the diffusers class that runs each
    mode it can do (the weights stay the same; only the pipeline wrapping them changes), and the checkpoint
    generation that class belongs to (a distilled variant where one exists)."""

    class_name: str
    family: Family
    runs: Mapping[Mode, str]
    checkpoint: Checkpoint
    distilled: Checkpoint | None = None

    def checkpoint_for(self, distilled: bool) -> Checkpoint:
        """The checkpoint knowledge for this class; ``distilled`` picks the distilled variant where there is one."""
        return self.distilled if distilled and self.distilled is not None else self.checkpoint

    @property
    def modes(self) -> tuple[Mode, ...]:
        return tuple(self.runs)


_LTX_RUNS: Final = {
    Mode.TEXT_TO_VIDEO: "LTXPipeline",
    Mode.IMAGE_TO_VIDEO: "LTXImageToVideoPipeline",
    Mode.VIDEO_TO_VIDEO: "LTXConditionPipeline",
}
# LTX-Video 0.9.5 and later (model_index.json says LTXConditionPipeline) were trained for the condition pipeline's
# schedule in every mode; LTXPipeline's would be the wrong one for them.
_LTX_CONDITION_RUNS: Final = dict.fromkeys(Mode, "LTXConditionPipeline")
_WAN = FAMILIES[FamilyName.WAN]
_LTX = FAMILIES[FamilyName.LTX]

PIPELINES: Final[Mapping[str, ModelPipeline]] = {
    p.class_name: p
    for p in (
        ModelPipeline(
            "WanPipeline",
            _WAN,
            {Mode.TEXT_TO_VIDEO: "WanPipeline", Mode.VIDEO_TO_VIDEO: "WanVideoToVideoPipeline"},
            WAN21,
        ),
        ModelPipeline("WanImageToVideoPipeline", _WAN, {Mode.IMAGE_TO_VIDEO: "WanImageToVideoPipeline"}, WAN21),
        ModelPipeline("LTXPipeline", _LTX, _LTX_RUNS, LTX_090),
        ModelPipeline("LTXImageToVideoPipeline", _LTX, _LTX_RUNS, LTX_090),
        ModelPipeline("LTXConditionPipeline", _LTX, _LTX_CONDITION_RUNS, LTX_095, distilled=LTX_095_DISTILLED),
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


def frames_covering(seconds: float, fps: int, family: Family) -> int:
    """The fewest ``step*k+1`` frames at ``fps`` that last at least ``seconds`` (a clip made at a model's native
    rate, then retimed, must not run out before the requested duration)."""
    step = family.frame_step
    needed = max(1, math.ceil(seconds * fps - 1e-9))
    return step * max(0, math.ceil((needed - 1) / step)) + 1


def nearest_valid_side(requested: int, family: Family) -> int:
    """The nearest multiple of the family's side multiple (at least one multiple); ties go up."""
    m = family.side_multiple
    return max(m, int(requested / m + 0.5) * m)


@dataclass(frozen=True)
class GenerationShape:
    """What a request's frames and size become on a model: the video's sides on the family's grid, its frames,
    and the frames generated at the model's rate before the retime (``videogen-runner plan``'s ``used``)."""

    width: int
    height: int
    #: Frames of the video: the request's when the clip is retimed, else rounded to the family's grid.
    num_frames: int
    generated_frames: int
    generated_fps: int


def generation_shape(
    family: Family, checkpoint: Checkpoint, *, num_frames: int, fps: int, width: int, height: int
) -> GenerationShape:
    """A model with a native frame rate other than the requested one generates the requested duration
    (``num_frames / fps``) at its own rate, on its frame grid, and the video is retimed to exactly ``num_frames`` at
    ``fps``; otherwise the frames are rounded to the grid and the video has those."""
    native = checkpoint.native_fps
    if native is None or native == fps:
        frames = generated = nearest_valid_frames(num_frames, family)
        generated_fps = fps
    else:
        frames, generated_fps = num_frames, native
        generated = frames_covering(num_frames / fps, native, family)
    return GenerationShape(
        width=nearest_valid_side(width, family),
        height=nearest_valid_side(height, family),
        num_frames=frames,
        generated_frames=generated,
        generated_fps=generated_fps,
    )


def limits_problem(
    checkpoint: Checkpoint, shape: GenerationShape, *, num_frames: int, fps: int, gpus: int = 1
) -> str | None:
    """Why ``checkpoint`` cannot run this shape (naming the request fields to change and the limit), or None.

    The one check of a checkpoint's limits: the runner refuses with it (exit 10), the API answers 400 with it when
    it knows the model's family, the operator fails a VideoJob with it before creating a pod."""
    if gpus > 1 and not checkpoint.context_parallel:
        return (
            f"spec.gpus {gpus}: {checkpoint.name} runs on one GPU (its attention is masked, which context-parallel "
            "attention cannot split): set spec.gpus to 1"
        )
    if shape.width * shape.height > checkpoint.max_pixels:
        example = " (e.g. 1280x720)" if checkpoint.max_pixels == 1280 * 720 else ""
        return (
            f"width x height {shape.width}x{shape.height} is {shape.width * shape.height} pixels per frame; "
            f"{checkpoint.name} runs at most {checkpoint.max_pixels}{example}{_set_by(checkpoint, 'max_pixels')}: "
            "lower width or height"
        )
    if shape.generated_frames > checkpoint.max_frames:
        rate = f"at its {shape.generated_fps} fps" if shape.generated_fps != fps else f"at {fps} fps"
        return (
            f"num_frames {num_frames} at fps {fps} lasts {num_frames / fps:.1f} s, which {checkpoint.name} "
            f"generates as {shape.generated_frames} frames {rate}; it makes at most {checkpoint.max_frames} "
            f"frames{_set_by(checkpoint, 'max_frames')}: lower num_frames or raise fps"
        )
    return None


# The VideoModel field each overridable checkpoint field is set by (``spec.overrides``), for messages.
_OVERRIDE_FIELDS: Final = {"max_pixels": "maxPixels", "max_frames": "maxFrames"}


def _set_by(checkpoint: Checkpoint, name: str) -> str:
    """Where a limit came from when it is not the table's: a person then knows which object to change."""
    if name not in checkpoint.overrides:
        return ""
    return f" (the VideoModel's spec.overrides.{_OVERRIDE_FIELDS[name]})"


def is_distilled(*names: str) -> bool:
    """Whether a checkpoint is a guidance-distilled one by its repo id or folder (Lightricks name them
    ``...-distilled``; a Hub snapshot's folder keeps the repo name)."""
    return any("distilled" in name.lower() for name in names)


def model_limits_problem(
    *,
    num_frames: int,
    fps: int,
    width: int,
    height: int,
    gpus: int = 1,
    pipeline_class: str | None,
    family: FamilyName | None,
    names: tuple[str, ...] = (),
    overrides: Mapping[str, Any] | None = None,
) -> str | None:
    """:func:`limits_problem` for a model known by its ``model_index.json`` class, or only by its family (a
    VideoModel not downloaded yet): then only what every checkpoint of the family refuses is a problem. None when
    neither is known (the runner decides) or the request fits; ``names`` (repo id, folder) tell a distilled one.
    ``overrides`` (checkpoint fields, :meth:`Checkpoint.overridden`) replace the table's knowledge, as the
    VideoModel's ``spec.overrides`` do for the runner."""
    if pipeline_class is not None and pipeline_class in PIPELINES:
        pipeline = PIPELINES[pipeline_class]
        candidates = [(pipeline.family, pipeline.checkpoint_for(is_distilled(*names)))]
    elif family is not None:
        candidates = [
            (p.family, c)
            for p in PIPELINES.values()
            if p.family.name is family
            for c in (p.checkpoint, p.distilled)
            if c is not None
        ]
    else:
        return None
    problems = []
    for model_family, table_checkpoint in candidates:
        checkpoint = table_checkpoint.overridden(overrides or {})
        shape = generation_shape(model_family, checkpoint, num_frames=num_frames, fps=fps, width=width, height=height)
        problem = limits_problem(checkpoint, shape, num_frames=num_frames, fps=fps, gpus=gpus)
        if problem is None:
            return None
        problems.append(problem)
    return problems[0] if problems else None
