"""From the requested spec to the parameters actually run (``status.used``), before any heavy work."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from videogen_common.families import nearest_valid_frames, nearest_valid_side
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


def resolve_used(
    spec: VideoJobSpec, info: ModelInfo, pipeline_class: str, *, repo_id: str, revision: str | None, seed: int
) -> UsedParameters:
    """Round frames and sides to the family's grid, and settle steps and strength so the schedule is valid.

    ``repo_id`` is the model's Hugging Face repo (the operator's ModelRef): spec.model may name a VideoModel, or
    be empty for the mode's default model, and neither says which weights ran.
    """
    steps = max(spec.num_inference_steps, info.family.min_steps)
    strength = spec.strength
    # Video-to-video runs int(steps * strength) steps; zero steps would return the input untouched (and diffusers
    # fails on an empty schedule), so run at least one: a hair above 1/steps, as int(steps * (1/steps)) can be 0.
    if spec.mode == Mode.VIDEO_TO_VIDEO and int(steps * strength) < 1:
        strength = min(1.0, (1.0 + 1e-9) / steps)
    return UsedParameters(
        model=repo_id,
        revision=revision,
        pipeline=pipeline_class,
        num_frames=nearest_valid_frames(spec.num_frames, info.family),
        width=nearest_valid_side(spec.width, info.family),
        height=nearest_valid_side(spec.height, info.family),
        fps=spec.fps,
        seed=seed,
        num_inference_steps=steps,
        guidance_scale=spec.guidance_scale,
        # The spec's default (0.8) is there for every mode, but only video-to-video runs it: do not report it else.
        strength=strength if spec.mode == Mode.VIDEO_TO_VIDEO else None,
    )
