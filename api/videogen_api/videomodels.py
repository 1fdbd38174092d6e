"""VideoModels as the reference's model list, and finding or creating the VideoModel a request needs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from videogen_api.kube import Kube
from videogen_api.schemas import ModelEntry
from videogen_common.model_choice import is_repo_id
from videogen_common.resources.meta import (
    ANNOTATION_DOWNLOAD_ATTEMPT,
    GROUP,
    LABEL_MANAGED_BY,
    LABEL_REPO_ID_HASH,
    MANAGED_BY_API,
    VERSION,
    ObjectMeta,
)
from videogen_common.resources.objects import VIDEOMODELS, VideoModel
from videogen_common.resources.videomodel import ModelState, VideoModelSpec


def repo_id_hash(repo_id: str) -> str:
    return hashlib.sha256(repo_id.encode()).hexdigest()[:16]


def videomodel_name_for(repo_id: str) -> str:
    """A VideoModel name for a repo id: readable, and unique because repo ids differing only in case or
    punctuation ('A/b_c' and 'a/b-c') would otherwise collide."""
    readable = re.sub(r"[^a-z0-9]+", "-", repo_id.lower()).strip("-")[:45].strip("-")
    return f"{readable}-{repo_id_hash(repo_id)[:8]}"


def find_videomodel(videomodels: Iterable[VideoModel], reference: str) -> VideoModel | None:
    """The VideoModel a VideoJob's spec.model means: the one of that name, or one holding that repo id (a Ready
    one first, as the operator would pick)."""
    by_repo_id = is_repo_id(reference)
    matches = [vm for vm in videomodels if (vm.spec.repo_id if by_repo_id else vm.name) == reference]
    matches.sort(key=lambda vm: vm.status.state != ModelState.READY)
    return matches[0] if matches else None


def lookup_videomodel(kube: Kube, reference: str) -> VideoModel | None:
    """:func:`find_videomodel` against the apiserver: a GET for a name, a list for a repo id."""
    if not is_repo_id(reference):
        return kube.get_videomodel(reference)
    return find_videomodel(kube.list_videomodels(), reference)


def ensure_videomodel(kube: Kube, repo_id: str) -> tuple[VideoModel, bool]:
    """The VideoModel for repo_id, created when none exists; returns (object, created)."""
    existing = lookup_videomodel(kube, repo_id)
    if existing is not None:
        return existing, False
    videomodel = VideoModel(
        metadata=ObjectMeta(
            name=videomodel_name_for(repo_id),
            labels={LABEL_MANAGED_BY: MANAGED_BY_API, LABEL_REPO_ID_HASH: repo_id_hash(repo_id)},
        ),
        spec=VideoModelSpec(repo_id=repo_id),
    )
    try:
        return kube.create_videomodel(videomodel), True
    except ApiException as exc:
        # Two requests for the same new model: the other one created it, which is what we wanted.
        if exc.status != 409:
            raise
        created = kube.get_videomodel(videomodel.name)
        if created is None:
            raise
        return created, False


def retry_download(kube: Kube, videomodel: VideoModel) -> VideoModel:
    """Ask the operator to download a Failed VideoModel again: one more than its download-attempt annotation (two
    requests at once raise it to the same number, so they make one retry)."""
    attempt = videomodel.download_attempt + 1
    patch = {"metadata": {"annotations": {ANNOTATION_DOWNLOAD_ATTEMPT: str(attempt)}}}
    result = client.CustomObjectsApi(kube.api_client).patch_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, VIDEOMODELS, videomodel.name, patch,
        _content_type="application/merge-patch+json", _request_timeout=30,
    )  # fmt: skip
    return VideoModel.model_validate(result)


def model_entry(videomodel: VideoModel, default_cache_dir: str) -> ModelEntry:
    state = videomodel.status.state
    return ModelEntry(
        id=videomodel.spec.repo_id,
        name=videomodel.name,
        cache_dir=videomodel.status.path or default_cache_dir,
        downloaded=state == ModelState.READY,
        state=state,
    )
