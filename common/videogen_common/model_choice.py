"""Which model a VideoJob runs, and whether it may: decided here once, for the operator and the API.

The operator calls :func:`resolve_model` before it creates a Job; the API calls the same function for a fast 4xx
before it creates the VideoJob (and, where the answer is "wait", may start the download). A VideoJob's
``spec.model`` is a VideoModel name or a Hugging Face repo id (``namespace/name``) that some VideoModel of its
namespace downloads; without one, the policy's default for the mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from videogen_common.families import model_limits_problem
from videogen_common.resources.objects import VideoModel
from videogen_common.resources.videojob import Mode, VideoJobSpec
from videogen_common.resources.videojob_status import Reason
from videogen_common.resources.videomodel import ModelOverrides, ModelState

__all__ = [
    "ANY_MODEL",
    "ModelPolicy",
    "ModelUnavailable",
    "ResolvedModel",
    "allowlist_problem",
    "is_repo_id",
    "limits_problem_of",
    "policy_from",
    "resolve_model",
]


#: The allow-list entry that allows any repo id (the settings' default; the chart lists its models instead).
ANY_MODEL: Final = "*"


@dataclass(frozen=True)
class ModelPolicy:
    """What a component was configured with: a default per mode, the allow-list, and what a missing model means."""

    default_models: Mapping[Mode, str] = field(default_factory=dict)
    #: Hugging Face repo ids that may run; ``*`` (ANY_MODEL) allows any, empty allows none.
    allowlist: tuple[str, ...] = ("*",)
    #: ``wait``: a VideoJob whose model is missing or still downloading waits; ``fail``: it fails at once.
    missing_model_policy: Literal["wait", "fail"] = "wait"


@dataclass(frozen=True)
class ResolvedModel:
    """A Ready model: what the runner loads (``path`` inside the cache volume) and reports (``repo_id``)."""

    repo_id: str
    path: str
    revision: str | None
    #: The VideoModel it came from.
    videomodel: str
    #: Its ``spec.overrides`` of the model-family table's knowledge, passed to the runner (``ModelRef.overrides``).
    overrides: ModelOverrides | None = None


@dataclass(frozen=True)
class ModelUnavailable:
    """Why the VideoJob cannot start yet (or ever, when ``permanent``)."""

    reason: Reason
    message: str
    permanent: bool
    #: The model reference that was resolved (spec.model or the mode's default); None when there was none.
    wanted: str | None = None
    #: Whether some VideoModel matched ``wanted`` (False: none exists yet).
    found: bool = False


def is_repo_id(reference: str) -> bool:
    """A Hugging Face repo id has a slash; a VideoModel name cannot."""
    return "/" in reference


def allowlist_problem(repo_id: str, policy: ModelPolicy) -> str | None:
    """Why ``repo_id`` may not run here (None when it may). An empty list allows nothing: an installation that
    names no model must not download whatever a caller asks for (fail closed)."""
    if ANY_MODEL in policy.allowlist or repo_id in policy.allowlist:
        return None
    if not policy.allowlist:
        return f"model {repo_id} is not allowed here: the model allow-list is empty, so no model may be used"
    return f"model {repo_id} is not allowed here; use one of: {', '.join(policy.allowlist)}"


def limits_problem_of(spec: VideoJobSpec, videomodel: VideoModel) -> str | None:
    """Why ``videomodel``'s checkpoint cannot make what ``spec`` asks (frame size, clip length), or None: the
    runner's own check, by the pipeline class the download found or else the family the VideoModel declares, with
    the limits its ``spec.overrides`` set; a model known by neither is left to the runner."""
    status = videomodel.status
    overrides = videomodel.spec.overrides
    return model_limits_problem(
        num_frames=spec.num_frames,
        fps=spec.fps,
        width=spec.width,
        height=spec.height,
        gpus=spec.gpus,
        pipeline_class=status.pipeline_class,
        family=status.family or videomodel.spec.family,
        names=(videomodel.spec.repo_id, status.path or ""),
        overrides=overrides.checkpoint_changes() if overrides is not None else None,
    )


def resolve_model(
    mode: Mode, model: str | None, videomodels: Iterable[VideoModel], policy: ModelPolicy
) -> ResolvedModel | ModelUnavailable:
    """Resolve ``model`` (spec.model; None for the mode's default) against the VideoModels of the namespace.

    A model that is not Ready yet waits (or fails, per ``missing_model_policy``); a model outside the allow-list,
    a failed download or a model that cannot run the mode fails, since waiting would not help.
    """
    wanted = model or policy.default_models.get(mode)
    if not wanted:
        return ModelUnavailable(
            Reason.NO_MODEL, f"spec.model is empty and there is no default model for {mode}; set spec.model", True
        )
    by_repo_id = is_repo_id(wanted)
    if by_repo_id and (problem := allowlist_problem(wanted, policy)) is not None:
        return ModelUnavailable(Reason.MODEL_NOT_ALLOWED, problem, True, wanted)
    matches = [m for m in videomodels if (m.spec.repo_id if by_repo_id else m.name) == wanted]
    # A VideoModel named in spec.model is held to the allow-list by the repo it downloads, whatever its state (the
    # operator fails one outside the list without downloading it: that is "not allowed", not "failed").
    refused = [problem for m in matches if (problem := allowlist_problem(m.spec.repo_id, policy)) is not None]
    if matches and len(refused) == len(matches):
        return ModelUnavailable(Reason.MODEL_NOT_ALLOWED, refused[0], True, wanted, found=True)
    ready = sorted((m for m in matches if m.status.state == ModelState.READY), key=lambda m: m.name)
    if ready:
        return _ready(mode, wanted, ready[0], policy)
    failed = [m for m in matches if m.status.state == ModelState.FAILED]
    if failed and len(failed) == len(matches):
        message = f"VideoModel for {wanted} failed to download: {failed[0].status.message or ''}"
        return ModelUnavailable(Reason.MODEL_FAILED, message, True, wanted, found=True)
    if matches:
        message = f"waiting for VideoModel {wanted} to finish downloading"
    elif by_repo_id:
        message = f"no VideoModel in this namespace downloads {wanted}; create one with spec.repoId: {wanted}"
    else:
        message = f"VideoModel {wanted} does not exist in this namespace; create it"
    permanent = policy.missing_model_policy == "fail"
    return ModelUnavailable(Reason.WAITING_FOR_MODEL, message, permanent, wanted, found=bool(matches))


def _ready(mode: Mode, wanted: str, chosen: VideoModel, policy: ModelPolicy) -> ResolvedModel | ModelUnavailable:
    status = chosen.status
    # A VideoModel named in spec.model is held to the allow-list by the repo it downloaded.
    if (problem := allowlist_problem(chosen.spec.repo_id, policy)) is not None:
        return ModelUnavailable(Reason.MODEL_NOT_ALLOWED, problem, True, wanted, found=True)
    if status.modes and mode not in status.modes:
        pipeline = status.pipeline_class or "unknown pipeline"
        message = f"model {wanted} ({pipeline}) runs {', '.join(status.modes)}, not {mode}; pick a model for {mode}"
        return ModelUnavailable(Reason.MODE_NOT_SUPPORTED, message, True, wanted, found=True)
    if status.path is None:
        message = f"VideoModel {chosen.name} has no path yet"
        return ModelUnavailable(Reason.WAITING_FOR_MODEL, message, False, wanted, found=True)
    return ResolvedModel(chosen.spec.repo_id, status.path, status.resolved_revision, chosen.name, chosen.spec.overrides)


def policy_from(
    default_models: Mapping[str, str], allowlist: Iterable[str], missing_model_policy: Literal["wait", "fail"]
) -> ModelPolicy:
    """A policy from a component's settings (mode names as strings, as settings spell them)."""
    return ModelPolicy({Mode(k): v for k, v in default_models.items()}, tuple(allowlist), missing_model_policy)
