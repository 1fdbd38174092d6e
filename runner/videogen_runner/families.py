"""A model folder as the runner sees it: the pipeline its model_index.json names, and the class that runs a mode.

The families, their frame/size grids and which class runs which mode are the common table
(:mod:`videogen_common.families`); this module only reads the folder and turns the table's answers into the
runner's errors. No torch import, so every check here runs before any weight loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from videogen_common.families import Family, ModelPipeline, UnknownPipelineError, model_pipeline
from videogen_common.resources.videojob import Mode
from videogen_runner.errors import InvalidInputError


@dataclass(frozen=True)
class ModelInfo:
    """What model_index.json says about a model folder."""

    path: Path
    pipeline: ModelPipeline
    #: The components model_index.json lists; ``[null, null]`` marks one the checkpoint leaves out.
    components: tuple[str, ...]

    @property
    def class_name(self) -> str:
        return self.pipeline.class_name

    @property
    def family(self) -> Family:
        return self.pipeline.family


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
    try:
        pipeline = model_pipeline(class_name)
    except UnknownPipelineError as e:
        raise InvalidInputError(f"model {path}: {e}") from e
    components = tuple(k for k, v in doc.items() if not k.startswith("_") and isinstance(v, list) and v[0])
    return ModelInfo(path=path, pipeline=pipeline, components=components)


def pipeline_class_for(info: ModelInfo, mode: Mode) -> str:
    """The diffusers pipeline class name that runs ``mode`` on this model, or InvalidInputError."""
    runs = info.pipeline.runs.get(mode)
    if runs is None:
        can = ", ".join(info.pipeline.modes)
        raise InvalidInputError(f"model {info.path.name} ({info.class_name}) cannot do {mode}; it can do {can}")
    return runs
