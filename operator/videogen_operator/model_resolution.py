"""Which model folder a VideoJob runs: its spec.model (or the mode's default) resolved to a Ready VideoModel."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from videogen_operator.settings import OperatorSettings


@dataclass(frozen=True)
class ResolvedModel:
    """A Ready model: what the runner loads (``path`` inside the cache volume) and reports (``repo_id``)."""

    repo_id: str
    path: str
    revision: str | None


@dataclass(frozen=True)
class ModelUnavailable:
    """Why the VideoJob cannot start yet (or ever, when ``permanent``)."""

    reason: str
    message: str
    permanent: bool


def resolve_model(
    spec: Mapping[str, Any],
    videomodels: Iterable[Mapping[str, Any]],
    settings: OperatorSettings,
) -> ResolvedModel | ModelUnavailable:
    """Resolve spec.model against the VideoModels of the VideoJob's namespace.

    spec.model is a VideoModel name, or a Hugging Face repo id (``namespace/name``) that some VideoModel downloads.
    A model that is not Ready yet waits (or fails, per ``missing_model_policy``); a failed download or a model
    that cannot run the mode fails, since waiting would not help.
    """
    mode = str(spec.get("mode", ""))
    wanted = spec.get("model") or settings.default_models.get(mode)
    if not wanted:
        return ModelUnavailable(
            "NoModel",
            f"spec.model is empty and the operator has no default model for {mode}; set spec.model",
            permanent=True,
        )
    by_repo_id = "/" in wanted
    matches = [
        m
        for m in videomodels
        if (m.get("spec", {}).get("repoId") if by_repo_id else m.get("metadata", {}).get("name")) == wanted
    ]
    ready = [m for m in matches if m.get("status", {}).get("state") == "Ready"]
    if ready:
        chosen = sorted(ready, key=lambda m: str(m["metadata"]["name"]))[0]
        status = chosen.get("status", {})
        modes = status.get("modes") or []
        if modes and mode not in modes:
            return ModelUnavailable(
                "ModeNotSupported",
                f"model {wanted} ({status.get('pipelineClass', 'unknown pipeline')}) runs {', '.join(modes)}, "
                f"not {mode}; pick a model for {mode}",
                permanent=True,
            )
        return ResolvedModel(
            repo_id=str(chosen["spec"]["repoId"]),
            path=str(status["path"]),
            revision=status.get("resolvedRevision"),
        )
    failed = [m for m in matches if m.get("status", {}).get("state") == "Failed"]
    if failed and len(failed) == len(matches):
        message = failed[0].get("status", {}).get("message", "")
        return ModelUnavailable("ModelFailed", f"VideoModel for {wanted} failed to download: {message}", True)
    if matches:
        message = f"waiting for VideoModel {wanted} to finish downloading"
    elif by_repo_id:
        message = f"no VideoModel in this namespace downloads {wanted}; create one with spec.repoId: {wanted}"
    else:
        message = f"VideoModel {wanted} does not exist in this namespace; create it"
    return ModelUnavailable("WaitingForModel", message, permanent=settings.missing_model_policy == "fail")
