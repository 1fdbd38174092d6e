"""From the requested spec to the parameters actually run (``status.used``), before any heavy work."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from videogen_common.families import Checkpoint, generation_shape
from videogen_common.resources.videojob import Mode, VideoJobSpec
from videogen_common.resources.videojob_status import UsedParameters
from videogen_common.runner_contract import ModelRef
from videogen_runner.families import ModelInfo

_COMMIT = re.compile(r"[0-9a-f]{40}")
_REVISION_FILE = ".videogen-revision"


def model_revision(ref: ModelRef, path: Path) -> str | None:
    """The revision given by the operator, else one recorded beside the weights or in a Hub snapshot path."""
    if ref.revision:
        return ref.revision
    marker = path / _REVISION_FILE
    if marker.is_file():
        return marker.read_text().strip() or None
    # huggingface_hub caches put each revision in snapshots/<commit>/.
    return path.name if _COMMIT.fullmatch(path.name) else None


def draw_seed(requested: int) -> int:
    """``-1`` draws a fresh seed (kept below 2**32 so any tool can replay it); anything else, 0 included, stays."""
    return secrets.randbelow(2**32) if requested == -1 else requested


def negative_prompt_for(spec: VideoJobSpec, checkpoint: Checkpoint) -> str:
    """The request's negative prompt, or the model's standard one when the request has none."""
    return spec.negative_prompt if spec.negative_prompt.strip() else checkpoint.negative_prompt


def resolve_used(
    spec: VideoJobSpec,
    info: ModelInfo,
    pipeline_class: str,
    checkpoint: Checkpoint,
    *,
    repo_id: str,
    revision: str | None,
    seed: int,
) -> UsedParameters:
    """Round sides to the family's grid, settle frames, steps and strength so the schedule is valid.

    A model with a native frame rate other than the requested one generates the requested duration
    (``num_frames / fps``) at its own rate (``generated_frames``, on its frame grid) and the video is retimed to
    exactly ``num_frames`` at ``fps``; otherwise the frames are rounded to the grid and the video has those.
    ``repo_id`` is the model's Hugging Face repo (the operator's ModelRef): spec.model may name a VideoModel, or
    be empty for the mode's default model, and neither says which weights ran.
    """
    steps = max(spec.num_inference_steps, info.family.min_steps)
    guidance = spec.guidance_scale
    if checkpoint.distilled_timesteps is not None:
        # A guidance-distilled checkpoint runs its own few timesteps without classifier-free guidance.
        steps, guidance = len(checkpoint.distilled_timesteps), 1.0
    strength = spec.strength
    # Video-to-video runs int(steps * strength) steps; zero steps would return the input untouched (and diffusers
    # fails on an empty schedule), so run at least one: a hair above 1/steps, as int(steps * (1/steps)) can be 0.
    if spec.mode == Mode.VIDEO_TO_VIDEO and int(steps * strength) < 1:
        strength = min(1.0, (1.0 + 1e-9) / steps)
    shape = generation_shape(
        info.family, checkpoint, num_frames=spec.num_frames, fps=spec.fps, width=spec.width, height=spec.height
    )
    return UsedParameters(
        model=repo_id,
        revision=revision,
        pipeline=pipeline_class,
        num_frames=shape.num_frames,
        width=shape.width,
        height=shape.height,
        fps=spec.fps,
        seed=seed,
        num_inference_steps=steps,
        guidance_scale=guidance,
        # The spec's default (0.8) is there for every mode, but only video-to-video runs it: do not report it else.
        strength=strength if spec.mode == Mode.VIDEO_TO_VIDEO else None,
        generated_frames=shape.generated_frames,
        generated_fps=shape.generated_fps,
        negative_prompt_source="request" if spec.negative_prompt.strip() else "model",
        speed=spec.speed,
    )
