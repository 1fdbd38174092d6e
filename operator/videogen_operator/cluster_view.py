"""What the operator knows about the cluster: kopf's in-memory indexes, read through one small interface.

kopf fills the indexes from its watches before any handler runs, so after a restart the operator sees every Job
it created before deciding anything (the restart-safety of Job creation rests on this and on AlreadyExists).
VideoJobs and VideoModels are kept as their types (``videogen_common.resources.objects``), parsed once per watch
event; Jobs and pods as the few parts of their JSON the reconcilers read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, TypeVar

import kopf
from pydantic import ValidationError

from videogen_common.resources.objects import VideoJob, VideoModel

log = logging.getLogger(__name__)

Doc = dict[str, Any]
R = TypeVar("R", VideoJob, VideoModel)


def without_managed_fields(body: Mapping[str, Any]) -> Doc:
    """An object's document minus managedFields, which are large and never read.

    Shallow: kopf's bodies are views over the JSON parsed for each watch event, which nothing changes afterwards,
    so nested parts are shared instead of deep-copied on every event.
    """
    doc: Doc = {str(k): body[k] for k in body}
    meta = doc.get("metadata")
    if isinstance(meta, Mapping) and "managedFields" in meta:
        doc["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return doc


def parse(kind: type[R], body: Mapping[str, Any]) -> R | None:
    """A watched VideoJob or VideoModel as its type; None (logged) for one that does not parse, which the operator
    then leaves alone rather than fail on every event (e.g. one stored before a CRD change)."""
    try:
        return kind.model_validate(without_managed_fields(body))
    except ValidationError as err:
        meta = body.get("metadata") or {}
        log.warning("ignoring %s %s/%s: %s", kind.__name__, meta.get("namespace"), meta.get("name"), err)
        return None


def trimmed(body: Mapping[str, Any], spec_keys: Iterable[str] = ()) -> Doc:
    """The parts of a Job or pod the reconcilers read (keeps the indexes small; shared, not copied, as above)."""
    meta = body.get("metadata", {})
    spec = body.get("spec", {})
    return {
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "labels", "creationTimestamp", "deletionTimestamp")
            if k in meta
        },
        "spec": {k: spec[k] for k in spec_keys if k in spec},
        "status": body.get("status", {}),
    }


#: The extended resource a generation pod's GPUs are requested as.
GPU_RESOURCE: Final = "nvidia.com/gpu"
#: Where ``trimmed`` keeps a Job's GPU request (summed over its pod template's containers).
GPUS: Final = "gpus"


def job_condition(job: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    """The Job's condition ``type_`` (Complete, Failed, ...) when it is True."""
    for cond in job.get("status", {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return dict(cond)
    return None


def job_finished(job: Mapping[str, Any]) -> bool:
    """The Job controller has marked the Job Complete or Failed: its pods hold nothing any more."""
    return job_condition(job, "Complete") is not None or job_condition(job, "Failed") is not None


def requested_gpus(pod_spec: Mapping[str, Any]) -> int:
    """GPUs a pod (spec) asks for: the GPU limits of its containers, summed."""
    containers = pod_spec.get("containers") or []
    return sum(int((c.get("resources") or {}).get("limits", {}).get(GPU_RESOURCE, 0)) for c in containers)


def trimmed_job(body: Mapping[str, Any]) -> Doc:
    """A Job as the index keeps it: ``trimmed`` with spec.suspend, and its pods' GPU request under ``GPUS`` (the pod
    template itself is large and read for nothing else)."""
    template = body.get("spec", {}).get("template", {}).get("spec", {})
    return trimmed(body, ("suspend",)) | {GPUS: requested_gpus(template)}


def trimmed_pod(body: Mapping[str, Any]) -> Doc:
    """A pod as the index keeps it: ``trimmed`` and its GPU request under ``GPUS`` (a pod outlives its deleted Job
    while it stops, and holds its GPUs until then)."""
    return trimmed(body) | {GPUS: requested_gpus(body.get("spec", {}))}


def _values(index: kopf.Index[Any, Any] | None, key: Any) -> list[Any]:
    if index is None:
        return []
    store = index.get(key)
    return list(store) if store is not None else []


def _items(index: kopf.Index[str, Doc] | None) -> Iterator[tuple[str, Doc]]:
    """Every (owner uid, object) of an index keyed by owner uid."""
    if index is None:
        return
    for uid, store in index.items():
        yield from ((uid, item) for item in store)


class ClusterView:
    """Read-only access to the indexes; the handlers hand over kopf's live index objects on each call."""

    def __init__(self) -> None:
        self.videojobs_index: kopf.Index[str, VideoJob] | None = None
        self.videomodels_index: kopf.Index[tuple[str, str | None], VideoModel] | None = None
        self.jobs_index: kopf.Index[str, Doc] | None = None
        self.pods_index: kopf.Index[str, Doc] | None = None

    def attach(self, **indexes: Any) -> None:
        self.videojobs_index = indexes.get("videojobs_by_uid", self.videojobs_index)
        self.videomodels_index = indexes.get("videomodels_by_key", self.videomodels_index)
        self.jobs_index = indexes.get("jobs_by_owner_uid", self.jobs_index)
        self.pods_index = indexes.get("pods_by_owner_uid", self.pods_index)

    def videojob(self, uid: str) -> VideoJob | None:
        found: list[VideoJob] = _values(self.videojobs_index, uid)
        return found[0] if found else None

    def videojobs(self) -> Iterator[VideoJob]:
        if self.videojobs_index is None:
            return
        for store in self.videojobs_index.values():
            yield from store

    def videomodel(self, uid: str) -> VideoModel | None:
        found: list[VideoModel] = _values(self.videomodels_index, ("uid", uid))
        return found[0] if found else None

    def videomodels(self, namespace: str) -> list[VideoModel]:
        found: list[VideoModel] = _values(self.videomodels_index, ("namespace", namespace))
        return found

    def job(self, owner_uid: str) -> Doc | None:
        found: list[Doc] = _values(self.jobs_index, owner_uid)
        return found[0] if found else None

    def jobs_of(self, owner_uid: str) -> list[Doc]:
        """Every Job of one owner (a VideoModel has one per download attempt)."""
        found: list[Doc] = _values(self.jobs_index, owner_uid)
        return found

    def jobs(self) -> Iterator[tuple[str, Doc]]:
        return _items(self.jobs_index)

    def pods(self, owner_uid: str) -> list[Doc]:
        found: list[Doc] = _values(self.pods_index, owner_uid)
        return found

    def all_pods(self) -> Iterator[tuple[str, Doc]]:
        return _items(self.pods_index)
