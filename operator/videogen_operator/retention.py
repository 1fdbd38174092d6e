"""Retention: a finished VideoJob is deleted after its TTL with its uploaded input and its progress object; outputs
(MP4, poster, metadata, the job record) go after a lifetime of their own.

Finished VideoJobs carry the finished label and are out of the operator's watch, so nothing about them stays in
memory: a sweep every ``retention_sweep_seconds`` pages through them with a label selector (one page in memory at a
time) and deletes those past their time. An S3 lifecycle rule is not relied on for outputs, as not every
S3-compatible store honours one; the sweep lists the output prefix page by page instead, when an output TTL is set.
The decisions (when a job finished, its TTL, which objects are its own) are pure functions here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from videogen_common.names import is_output_filename
from videogen_common.resources.meta import LABEL_FINISHED
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob_status import TERMINAL_STATES, ConditionType
from videogen_operator import naming
from videogen_operator.cluster_view import parse
from videogen_operator.kube import Kube
from videogen_operator.settings import OperatorSettings

log = logging.getLogger(__name__)

#: The conditions whose turning True made a VideoJob final.
_FINAL_CONDITIONS = (ConditionType.COMPLETE, ConditionType.FAILED, ConditionType.CANCELLED)
#: Keys per S3 DeleteObjects call (the API's limit).
_DELETE_BATCH = 1000
#: Expired VideoJobs deleted at once (well under the operator's pool of API connections and threads).
_PARALLEL_DELETES = 8


def finished_at(videojob: Mapping[str, Any]) -> datetime | None:
    """When the VideoJob (its wire document: the sweep decides before parsing, which is most of a sweep's cost) became
    final: its final condition's lastTransitionTime (completionTime as a fallback); None when it is not final."""
    status = videojob.get("status") or {}
    if status.get("state") not in TERMINAL_STATES:
        return None
    for condition in status.get("conditions") or []:
        if condition.get("type") in _FINAL_CONDITIONS and condition.get("status") == "True":
            return naming.parse_time(condition["lastTransitionTime"])
    if status.get("completionTime"):
        return naming.parse_time(status["completionTime"])
    return None


def ttl_seconds(videojob: Mapping[str, Any], settings: OperatorSettings) -> int | None:
    """How long the VideoJob stays once finished: its spec.ttlSecondsAfterFinished, cut to the installation's
    ``videojob_ttl_seconds`` (a job may go sooner, never stay longer); None: kept for ever."""
    asked: int | None = (videojob.get("spec") or {}).get("ttlSecondsAfterFinished")
    limit = settings.videojob_ttl_seconds
    if asked is None:
        return limit
    return asked if limit is None else min(asked, limit)


def expired(videojob: Mapping[str, Any], settings: OperatorSettings, now: datetime) -> bool:
    ttl = ttl_seconds(videojob, settings)
    done = finished_at(videojob)
    return ttl is not None and done is not None and now >= done + timedelta(seconds=ttl)


def uploaded_input(videojob: VideoJob, settings: OperatorSettings) -> tuple[str, str] | None:
    """(bucket, key) of the input when the API uploaded it for this VideoJob (under
    ``<inputs_prefix>/<its name>/`` in the bucket both use); an input elsewhere is someone else's and stays."""
    ref = videojob.spec.input
    if ref is None:
        return None
    prefix = settings.inputs_prefix.strip("/")
    own = f"{prefix}/{videojob.name}/" if prefix else f"{videojob.name}/"
    if ref.bucket != settings.output_bucket or not ref.key.startswith(own):
        return None
    return ref.bucket, ref.key


def is_output_key(key: str, prefix: str) -> bool:
    """Whether ``key`` is an output the operator's naming made under ``prefix``: an MP4, its poster or metadata
    (``<kind>_<date>_<time>_<hex>.{mp4,jpg,json}``) or a job record (``.jobs/...``). Anything else under the prefix
    (progress objects, inputs when the prefixes are shared or empty) is not."""
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    if not key.startswith(base):
        return False
    rest = key[len(base) :]
    if rest.startswith(".jobs/"):
        return True
    stem, dot, extension = rest.rpartition(".")
    return bool(dot) and extension in ("mp4", "jpg", "json") and is_output_filename(f"{stem}.mp4")


def expired_outputs(objects: Iterable[Mapping[str, Any]], prefix: str, ttl_seconds: int, now: datetime) -> list[str]:
    """Keys of listed S3 objects (ListObjectsV2 ``Contents``) that are outputs older than ``ttl_seconds``."""
    cutoff = now - timedelta(seconds=ttl_seconds)
    return [o["Key"] for o in objects if o["LastModified"] <= cutoff and is_output_key(o["Key"], prefix)]


def _delete_keys(s3: Any, bucket: str, keys: Sequence[str]) -> None:
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = keys[start : start + _DELETE_BATCH]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})


def delete_leftovers(s3: Any, videojob: VideoJob, settings: OperatorSettings) -> None:
    """Remove the VideoJob's uploaded input and its progress object (missing ones are no error)."""
    progress = naming.progress_location(videojob, settings)
    owned = [(progress.bucket, progress.key)]
    if (uploaded := uploaded_input(videojob, settings)) is not None:
        owned.append(uploaded)
    for bucket in {b for b, _ in owned}:
        _delete_keys(s3, bucket, [k for b, k in owned if b == bucket])


def sweep_outputs(s3: Any, settings: OperatorSettings, now: datetime) -> int:
    """Delete the outputs in output_bucket/output_prefix older than ``output_ttl_seconds``, a page at a time;
    how many were deleted."""
    ttl = settings.output_ttl_seconds
    if ttl is None:
        return 0
    prefix = settings.output_prefix.strip("/")
    paginator = s3.get_paginator("list_objects_v2")
    pages = paginator.paginate(
        Bucket=settings.output_bucket,
        Prefix=f"{prefix}/" if prefix else "",
        PaginationConfig={"PageSize": settings.retention_page_size},
    )
    deleted = 0
    for page in pages:
        keys = expired_outputs(page.get("Contents") or [], prefix, ttl, now)
        _delete_keys(s3, settings.output_bucket, keys)
        deleted += len(keys)
    return deleted


class RetentionSweep:
    """Deletes expired finished VideoJobs in the watched namespaces, and expired outputs, every sweep interval."""

    def __init__(
        self,
        settings: OperatorSettings,
        kube: Kube,
        s3: Callable[[], Any],
        namespaces: Sequence[str],
        acting: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.s3 = s3
        # Only the operator that holds the Lease deletes anything (videogen_operator.leader).
        self.acting = acting
        # Empty: every namespace (the operator runs cluster-wide).
        self.namespaces: Sequence[str | None] = list(namespaces) or [None]

    async def run(self) -> None:
        while True:
            try:
                if self.acting():
                    await self.sweep(datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention sweep failed; trying again in %.0fs", self.settings.retention_sweep_seconds)
            await asyncio.sleep(self.settings.retention_sweep_seconds)

    async def sweep(self, now: datetime) -> tuple[int, int]:
        """One sweep: (VideoJobs deleted, outputs deleted)."""
        # Even with no installation TTL: a job's own spec.ttlSecondsAfterFinished still applies.
        videojobs = 0
        for namespace in self.namespaces:
            videojobs += await self._sweep_videojobs(namespace, now)
        outputs = await asyncio.to_thread(sweep_outputs, self.s3(), self.settings, now)
        if videojobs or outputs:
            log.info("retention: deleted %d finished VideoJobs and %d output objects", videojobs, outputs)
        return videojobs, outputs

    async def _sweep_videojobs(self, namespace: str | None, now: datetime) -> int:
        deleted = 0
        token = ""
        while True:
            items, token = await self.kube.list_videojobs(
                namespace, f"{LABEL_FINISHED}=true", self.settings.retention_page_size, token
            )
            parsed = (parse(VideoJob, body) for body in items if expired(body, self.settings, now))
            due = [videojob for videojob in parsed if videojob is not None]
            # A page's deletions side by side (a few at a time): one after the other, clearing a long history after
            # a TTL change would take two round trips per VideoJob.
            for start in range(0, len(due), _PARALLEL_DELETES):
                await asyncio.gather(*(self._delete(v) for v in due[start : start + _PARALLEL_DELETES]))
            deleted += len(due)
            if not token:
                return deleted

    async def _delete(self, videojob: VideoJob) -> None:
        # S3 first: were the VideoJob deleted first and S3 then failed, nothing would say what to remove.
        await asyncio.to_thread(delete_leftovers, self.s3(), videojob, self.settings)
        await self.kube.delete_videojob(videojob.namespace, videojob.name, videojob.uid)
