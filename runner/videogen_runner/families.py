"""Model families: which pipeline class runs which mode, and the frame/size grid each family needs.

Pure functions over model_index.json; no torch import, so every check here runs before any weight loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from videogen_common.runner_contract import MODEL_MODES
from videogen_runner.errors import InvalidInputError


@dataclass(frozen=True)
class Family:
    """A model family's constraints, from its VAE compression and transformer patch size."""

    name: str
    #: Frames must be ``frame_step * k + 1`` (the VAE compresses time by ``frame_step``, keeping frame one).
    frame_step: int
    #: Width and height must be multiples of this (VAE spatial compression x transformer patch size).
    side_multiple: int
    #: Fewest denoising steps the family's scheduler accepts.
    min_steps: int = 1


WAN: Final = Family(name="wan", frame_step=4, side_multiple=16)
# LTX's scheduler (flow matching with shift_terminal) builds a schedule whose one step matches no timestep.
LTX: Final = Family(name="ltx", frame_step=8, side_multiple=32, min_steps=2)

_FAMILY_OF_CLASS: Final[dict[str, Family]] = {
    "WanPipeline": WAN,
    "WanImageToVideoPipeline": WAN,
    "LTXPipeline": LTX,
    "LTXImageToVideoPipeline": LTX,
    "LTXConditionPipeline": LTX,
}

# The class that runs each (family, mode): the weights stay the same, only the pipeline wrapping them changes.
_PIPELINE_FOR_MODE: Final[dict[tuple[str, str], str]] = {
    ("WanPipeline", "text-to-video"): "WanPipeline",
    ("WanPipeline", "video-to-video"): "WanVideoToVideoPipeline",
    ("WanImageToVideoPipeline", "image-to-video"): "WanImageToVideoPipeline",
    ("ltx", "text-to-video"): "LTXPipeline",
    ("ltx", "image-to-video"): "LTXImageToVideoPipeline",
    ("ltx", "video-to-video"): "LTXConditionPipeline",
}


@dataclass(frozen=True)
class ModelInfo:
    """What model_index.json says about a model folder."""

    path: Path
    class_name: str
    family: Family
    components: tuple[str, ...]


def read_model_info(path: Path) -> ModelInfo:
    """Read ``path/model_index.json``; a missing folder or an unknown pipeline class is invalid input."""
    index = path / "model_index.json"
    if not path.is_dir():
        raise InvalidInputError(f"model folder {path} does not exist (is the VideoModel downloaded?)")
    if not index.is_file():
        raise InvalidInputError(f"model folder {path} has no model_index.json: not a diffusers model")
    try:
        doc = json.loads(index.read_text())
        class_name = str(doc["_class_name"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InvalidInputError(f"cannot read {index}: {e}") from e
    family = _FAMILY_OF_CLASS.get(class_name)
    if family is None:
        known = ", ".join(sorted(_FAMILY_OF_CLASS))
        raise InvalidInputError(f"model {path} is a {class_name}; the runner runs {known}")
    components = tuple(k for k, v in doc.items() if not k.startswith("_") and isinstance(v, list) and v[0])
    return ModelInfo(path=path, class_name=class_name, family=family, components=components)


def pipeline_class_for(info: ModelInfo, mode: str) -> str:
    """The diffusers pipeline class name that runs ``mode`` on this model, or InvalidInputError."""
    if mode not in MODEL_MODES[info.class_name]:
        can = ", ".join(MODEL_MODES[info.class_name])
        raise InvalidInputError(f"model {info.path.name} ({info.class_name}) cannot do {mode}; it can do {can}")
    key = (info.family.name if info.family is LTX else info.class_name, mode)
    return _PIPELINE_FOR_MODE[key]


def nearest_valid_frames(requested: int, family: Family) -> int:
    """The nearest ``step*k+1`` frame count (at least 1); ties go up, so 64 -> 65 for both families."""
    step = family.frame_step
    k = max(0, int((requested - 1) / step + 0.5))
    return step * k + 1


def nearest_valid_side(requested: int, family: Family) -> int:
    """The nearest multiple of the family's side multiple (at least one multiple); ties go up."""
    m = family.side_multiple
    return max(m, int(requested / m + 0.5) * m)
