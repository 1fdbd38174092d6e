"""A request over its model's limits (frame size, clip length) is a 400 at submit, not a runner exit 10 after the
job was queued and its pod started.

The check is the runner's own (:func:`videogen_common.model_choice.limits_problem_of`), made when the API knows the
model: spec.model names a VideoModel whose pipeline class (once downloaded) or family (spec.family) is known. A
model known by neither is left to the runner, which checks again in any case.
"""

from __future__ import annotations

from videogen_api.errors import bad_request
from videogen_common.model_choice import limits_problem_of
from videogen_common.resources.objects import VideoModel
from videogen_common.resources.videojob import VideoJobSpec


def check_model_limits(videomodel: VideoModel | None, spec: VideoJobSpec) -> None:
    """Raise a 400 naming the field and the limit when spec's model (``videomodel``, the one admission resolved;
    None when there is none yet) cannot make what it asks for."""
    if spec.model is None or videomodel is None:
        # The operator's default model for the mode (the API does not know which it is), or no VideoModel yet.
        return
    problem = limits_problem_of(spec, videomodel)
    if problem is not None:
        raise bad_request(f"model {spec.model}: {problem}")
