"""GET /api/v1/models, POST /api/v1/models/download and GET /api/v1/model/info, backed by VideoModels."""

from __future__ import annotations

from fastapi import APIRouter

from videogen_api.crd import repo_id_problem
from videogen_api.deps import ApiKeyRequired, KubeDep, SettingsDep
from videogen_api.errors import bad_request
from videogen_api.gate import accepts_body, json_body
from videogen_api.routes import error_responses
from videogen_api.schemas import (
    ModelDownloadRequest,
    ModelDownloadResponse,
    ModelEntry,
    ModelInfoResponse,
    ModelsResponse,
)
from videogen_api.videomodels import ensure_videomodel, find_videomodel, model_entry, state_of

router = APIRouter(prefix="/api/v1", tags=["models"], dependencies=[ApiKeyRequired])


@router.get("/models", response_model=ModelsResponse, responses=error_responses(401, 500))
def list_models(kube: KubeDep, settings: SettingsDep) -> ModelsResponse:
    """The VideoModels in the namespace, then catalog entries nobody has asked for yet."""
    entries = [model_entry(vm, settings.model_cache_dir) for vm in kube.list_videomodels()]
    known = {entry.id for entry in entries}
    entries += [
        ModelEntry(id=repo_id, name=repo_id.split("/")[1], cache_dir=settings.model_cache_dir, downloaded=False)
        for repo_id in settings.model_catalog
        if repo_id not in known
    ]
    return ModelsResponse(models=entries)


@router.post("/models/download", response_model=ModelDownloadResponse, responses=error_responses(400, 401, 415, 500))
@accepts_body(json_body)
def download_model(request: ModelDownloadRequest, kube: KubeDep, settings: SettingsDep) -> ModelDownloadResponse:
    """Create (or reuse) the VideoModel for a Hugging Face repo id; the operator downloads it into the cache."""
    if (problem := repo_id_problem(request.model_id)) is not None:
        raise bad_request(problem)
    if settings.model_allowlist and request.model_id not in settings.model_allowlist:
        raise bad_request(f"model_id {request.model_id!r} is not allowed here; use one of: "
                          + ", ".join(settings.model_allowlist))  # fmt: skip
    videomodel, created = ensure_videomodel(kube, request.model_id)
    state = state_of(videomodel)
    message = "Model download started" if created or state != "Ready" else "Model already downloaded"
    return ModelDownloadResponse(message=message, model_id=request.model_id)


@router.get("/model/info", response_model=ModelInfoResponse, responses=error_responses(401, 500))
def model_info(kube: KubeDep, settings: SettingsDep) -> ModelInfoResponse:
    """The text-to-video default model; without one configured, the operator's default (name "default")."""
    reference = settings.default_model("text-to-video")
    videomodel = find_videomodel(kube, reference) if reference else None
    spec = (videomodel or {}).get("spec", {})
    status = (videomodel or {}).get("status") or {}
    return ModelInfoResponse(
        name=spec.get("repoId") or reference or "default",
        version=status.get("resolvedRevision") or spec.get("revision") or "main",
        gpu_enabled=settings.gpu_enabled,
        cache_dir=status.get("path") or settings.model_cache_dir,
        state=status.get("state"),
    )
