"""VideoModels as the reference's model list, and finding or creating the VideoModel a request needs."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from videogen_api.crd import GROUP, VERSION
from videogen_api.kube import Kube, KubeObject
from videogen_api.schemas import ModelEntry

READY: Final = "Ready"
REPO_ID_LABEL: Final = "videogen.dev/repo-id-hash"


def repo_id_hash(repo_id: str) -> str:
    return hashlib.sha256(repo_id.encode()).hexdigest()[:16]


def videomodel_name_for(repo_id: str) -> str:
    """A VideoModel name for a repo id: readable, and unique because repo ids differing only in case or
    punctuation ('A/b_c' and 'a/b-c') would otherwise collide."""
    readable = re.sub(r"[^a-z0-9]+", "-", repo_id.lower()).strip("-")[:45].strip("-")
    return f"{readable}-{repo_id_hash(repo_id)[:8]}"


def state_of(videomodel: KubeObject) -> str | None:
    state: str | None = (videomodel.get("status") or {}).get("state")
    return state


def find_videomodel(kube: Kube, reference: str) -> KubeObject | None:
    """The VideoModel a VideoJob's spec.model means: a VideoModel name, or the one holding that repo id
    (a Ready one first, as the operator would pick)."""
    if "/" not in reference:
        return kube.get_videomodel(reference)
    matches = [vm for vm in kube.list_videomodels() if vm.get("spec", {}).get("repoId") == reference]
    matches.sort(key=lambda vm: state_of(vm) != READY)
    return matches[0] if matches else None


def ensure_videomodel(kube: Kube, repo_id: str) -> tuple[KubeObject, bool]:
    """The VideoModel for repo_id, created when none exists; returns (object, created)."""
    existing = find_videomodel(kube, repo_id)
    if existing is not None:
        return existing, False
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VideoModel",
        "metadata": {
            "name": videomodel_name_for(repo_id),
            "labels": {"app.kubernetes.io/managed-by": "videogen-api", REPO_ID_LABEL: repo_id_hash(repo_id)},
        },
        "spec": {"repoId": repo_id},
    }
    try:
        return kube.create_videomodel(body), True
    except ApiException as exc:
        # Two requests for the same new model: the other one created it, which is what we wanted.
        if exc.status != 409:
            raise
        created = kube.get_videomodel(body["metadata"]["name"])
        if created is None:
            raise
        return created, False


def model_entry(videomodel: KubeObject, default_cache_dir: str) -> ModelEntry:
    status = videomodel.get("status") or {}
    return ModelEntry(
        id=videomodel["spec"]["repoId"],
        name=videomodel["metadata"]["name"],
        cache_dir=status.get("path") or default_cache_dir,
        downloaded=status.get("state") == READY,
        state=status.get("state"),
    )
