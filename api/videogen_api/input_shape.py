"""Video-to-video keeps its input's length and shape.

The reference's video-to-video form has no frame count or size: it transforms the given video. So a field the
request leaves out comes from the input: frames from its duration at the output fps, width and height from its size
(aspect kept), each within VideoJobSpec's ranges. The runner rounds them to the model's grid and reports what ran in
status.used. A field the request gives wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from videogen_api.media import VideoFacts
from videogen_api.schemas import spec_constraints

_FRAMES: Final = spec_constraints("num_frames")
_WIDTH: Final = spec_constraints("width")
_HEIGHT: Final = spec_constraints("height")


def keep_input_shape(parameters: Mapping[str, Any], facts: VideoFacts | None) -> dict[str, Any]:
    """``parameters`` (VideoJobSpec names; None for a field the request left out) with num_frames, width and height
    filled in from the input. What the input cannot tell is left out, so the spec's default applies."""
    shaped = {name: value for name, value in parameters.items() if value is not None}
    if facts is None:
        return shaped
    if parameters.get("num_frames") is None and (frames := _frames(facts, int(parameters["fps"]))) is not None:
        shaped["num_frames"] = frames
    width, height = _size(facts, parameters.get("width"), parameters.get("height"))
    if width is not None:
        shaped["width"] = width
    if height is not None:
        shaped["height"] = height
    return shaped


def _frames(facts: VideoFacts, fps: int) -> int | None:
    if facts.duration_seconds is not None:
        frames = int(facts.duration_seconds * fps + 0.5)
    elif facts.frames is not None:
        # No duration in the container (a fragmented MP4): the input's own rate is unknown, so keep its frame count.
        frames = facts.frames
    else:
        # The upload check refuses such a video; were one to pass, today's default (the spec's) is the fallback.
        return None
    return _within(frames, _FRAMES)


def _size(facts: VideoFacts, width: int | None, height: int | None) -> tuple[int | None, int | None]:
    """Width and height: the request's, the other side from the input's aspect when only one is given, else the
    input's size scaled (aspect kept) into the spec's ranges."""
    if (width is not None and height is not None) or facts.width <= 0 or facts.height <= 0:
        # A container that records no size (a WebM track without pixel sizes) leaves the spec's defaults.
        return width, height
    aspect = facts.width / facts.height
    if width is not None:
        return width, _within(int(width / aspect + 0.5), _HEIGHT)
    if height is not None:
        return _within(int(height * aspect + 0.5), _WIDTH), height
    # Shrink to fit the largest side, grow to reach the smallest: one scale for both sides keeps the aspect (an
    # extreme one, past what the ranges allow, is clipped).
    largest, smallest = min(_WIDTH["le"], _HEIGHT["le"]), max(_WIDTH["ge"], _HEIGHT["ge"])
    scale = min(1.0, largest / max(facts.width, facts.height))
    scale = max(scale, smallest / min(facts.width, facts.height))
    return _within(int(facts.width * scale + 0.5), _WIDTH), _within(int(facts.height * scale + 0.5), _HEIGHT)


def _within(value: int, limits: Mapping[str, int]) -> int:
    return min(max(value, limits["ge"]), limits["le"])
