"""GET /api/v1/models, POST /api/v1/models/download and GET /api/v1/model/info, backed by VideoModels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from videogen_api.deps import ApiKeyRequired, KubeDep, SettingsDep
from videogen_api.errors import bad_request
from videogen_api.gate import accepts_body, json_body
from videogen_api.references import repo_id_problem
from videogen_api.routes import error_responses
from videogen_api.schemas import (
    ModelDownloadRequest,
    ModelDownloadResponse,
    ModelEntry,
    ModelInfoResponse,
    ModelsResponse,
)
from videogen_api.videomodels import ensure_videomodel, lookup_videomodel, model_entry, retry_download
from videogen_common.model_choice import allowlist_problem
from videogen_common.resources.videojob import Mode
from videogen_common.resources.videomodel import ModelState

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


_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": ModelDownloadResponse, "description": "The model is already downloaded (its VideoModel is Ready)"},
    **error_responses(400, 401, 415, 500),
}


# 202 while a download is started or under way, as the reference answers; 200 when there is nothing left to do.
@router.post(
    "/models/download",
    response_model=ModelDownloadResponse,
    status_code=202,
    responses=_DOWNLOAD_RESPONSES,
    response_description="Download started (or already under way)",
)
@accepts_body(json_body)
def download_model(
    request: ModelDownloadRequest, kube: KubeDep, settings: SettingsDep, response: Response
) -> ModelDownloadResponse:
    """Create (or reuse) the VideoModel for a Hugging Face repo id; the operator downloads it into the cache."""
    if (problem := repo_id_problem(request.model_id)) is not None:
        raise bad_request(problem)
    # The operator's own allow-list check: a model it would refuse to run is not worth downloading.
    if (problem := allowlist_problem(request.model_id, settings.model_policy())) is not None:
        raise bad_request(problem)
    videomodel, created = ensure_videomodel(kube, request.model_id)
    state = videomodel.status.state
    if created:
        message = "Model download started"
    elif state == ModelState.READY:
        response.status_code = 200
        message = "Model already downloaded"
    elif state == ModelState.FAILED:
        # A failed download is not the end: asking again retries it (the operator makes a new download Job).
        retry_download(kube, videomodel)
        message = f"Model download restarted; the previous attempt failed: {videomodel.status.message or 'no reason'}"
    else:
        message = "Model download already in progress"
    return ModelDownloadResponse(message=message, model_id=request.model_id)


@router.get("/model/info", response_model=ModelInfoResponse, responses=error_responses(401, 500))
def model_info(kube: KubeDep, settings: SettingsDep) -> ModelInfoResponse:
    """The text-to-video default model; without one configured, the operator's default (name "default")."""
    reference = settings.default_model(Mode.TEXT_TO_VIDEO)
    videomodel = lookup_videomodel(kube, reference) if reference else None
    if videomodel is None:
        return ModelInfoResponse(
            name=reference or "default", version="main", gpu_enabled=settings.gpu_enabled,
            cache_dir=settings.model_cache_dir,
        )  # fmt: skip
    status = videomodel.status
    return ModelInfoResponse(
        name=videomodel.spec.repo_id,
        version=status.resolved_revision or videomodel.spec.revision,
        gpu_enabled=settings.gpu_enabled,
        cache_dir=status.path or settings.model_cache_dir,
        state=status.state,
    )
