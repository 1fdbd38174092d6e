"""kopf wiring: indexes of VideoJobs, VideoModels and our Jobs and pods, and watch events that wake the workers.

Run with ``kopf run -m videogen_operator.handlers --namespace NS`` (or ``--all-namespaces``), or through
``videogen_operator.main``. There are no kopf change handlers, so kopf writes no annotations or finalizers: the
status is entirely ours, and deleting a VideoJob never waits for the operator (garbage collection removes the
Job and pods through the owner reference).

One acting operator (the holder of the Lease, videogen_operator.leader): the cap and the admission order are
decided in this process. Others may run beside it, watching, and take over when it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from prometheus_client import start_http_server

from videogen_common.resources.meta import (
    GROUP,
    LABEL_FINISHED,
    LABEL_MANAGED_BY,
    LABEL_VIDEOJOB_UID,
    LABEL_VIDEOMODEL_UID,
    MANAGED_BY_OPERATOR,
    VERSION,
)
from videogen_common.resources.objects import VIDEOJOBS, VIDEOMODELS, VideoJob, VideoModel
from videogen_common.s3 import S3Settings
from videogen_operator import leader, metrics
from videogen_operator.cluster_view import parse, trimmed_job, trimmed_pod
from videogen_operator.controller import Controller
from videogen_operator.kube import CONCURRENCY, Kube, load_config
from videogen_operator.retention import RetentionSweep
from videogen_operator.settings import OperatorSettings

OURS = {LABEL_MANAGED_BY: MANAGED_BY_OPERATOR}


class NoDiffBase(kopf.DiffBaseStorage):
    """Keeps no "last handled" state: kopf builds one (a deep copy of the body) on every event for its change
    handlers, and this operator has none (only indexes and event handlers), so it would be pure CPU cost."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = OperatorSettings()
    settings.watching.server_timeout = config.watch_server_timeout
    settings.watching.client_timeout = config.watch_client_timeout
    settings.watching.connect_timeout = config.watch_connect_timeout
    # Our own Events say what happened; kopf's per-handler chatter would bury them.
    settings.posting.level = logging.WARNING
    settings.persistence.diffbase_storage = NoDiffBase()
    # Only open VideoJobs are watched, indexed and held in memory: a final one leaves the watch when the operator
    # labels it finished (the apiserver then sends DELETED), so memory and every scan grow with active work only.
    settings.watching.label_selectors[GROUP, VIDEOJOBS] = f"!{LABEL_FINISHED}"
    load_config()
    # The blocking kubernetes client and boto3 run in threads (asyncio.to_thread); the default pool is tiny.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="io"))
    controller = Controller(config, S3Settings(), Kube())
    memo["controller"] = controller
    # The watched namespaces come from videogen_operator.main; without them the sweep could delete elsewhere.
    if (namespaces := memo.get("namespaces")) is not None:
        sweep = RetentionSweep(config, controller.kube, controller.s3, namespaces, lambda: controller.leading)
        memo["retention"] = asyncio.create_task(sweep.run(), name="retention")
    else:
        logging.getLogger(__name__).warning("retention sweep off: start the operator with videogen-operator run")
    if config.leader_election:
        # Watch and index from now on, act only once the Lease is ours (before any watch event is handled).
        namespace = memo.get("lease_namespace") or leader.lease_namespace(config, [])
        election = leader.LeaderElection(controller.kube, config, namespace)
        controller.leading = False
        memo["election"] = election
        memo["leadership"] = asyncio.create_task(_lead(controller, election), name="leadership")
    if config.metrics_port is not None:
        metrics.register(
            metrics.StateCollector(
                controller.view.videojobs, controller.queued_count, controller.model_label, lambda: controller.leading
            )
        )
        start_http_server(config.metrics_port, addr=config.metrics_host, registry=metrics.REGISTRY)


async def _lead(controller: Controller, election: leader.LeaderElection) -> None:
    await election.acquire()
    controller.lead()
    await election.keep()


@kopf.on.cleanup()
async def stop_workers(memo: kopf.Memo, **_: Any) -> None:
    controller: Controller = memo["controller"]
    if (retention := memo.get("retention")) is not None:
        retention.cancel()
    if (leadership := memo.get("leadership")) is not None:
        leadership.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leadership
    await controller.videojob_workers.stop_all()
    await controller.videomodel_workers.stop_all()
    await controller.webhooks.workers.stop_all()
    if (election := memo.get("election")) is not None:
        # Only now that nothing acts any more: a waiting operator takes over at its next look.
        await election.release()


@kopf.index(GROUP, VERSION, VIDEOJOBS)
async def videojobs_by_uid(body: kopf.Body, uid: str, **_: Any) -> dict[str, VideoJob]:
    videojob = parse(VideoJob, body)
    return {uid: videojob} if videojob is not None else {}


@kopf.index(GROUP, VERSION, VIDEOMODELS)
async def videomodels_by_key(
    body: kopf.Body, uid: str, namespace: str | None, **_: Any
) -> dict[tuple[str, str | None], VideoModel]:
    videomodel = parse(VideoModel, body)
    return {("uid", uid): videomodel, ("namespace", namespace): videomodel} if videomodel is not None else {}


@kopf.index("batch", "v1", "jobs", labels=OURS)
async def jobs_by_owner_uid(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[str, Any]:
    owner = labels.get(LABEL_VIDEOJOB_UID) or labels.get(LABEL_VIDEOMODEL_UID)
    return {owner: trimmed_job(body)} if owner else {}


@kopf.index("", "v1", "pods", labels=OURS)
async def pods_by_owner_uid(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[str, Any]:
    owner = labels.get(LABEL_VIDEOJOB_UID) or labels.get(LABEL_VIDEOMODEL_UID)
    return {owner: trimmed_pod(body)} if owner else {}


def _controller(memo: kopf.Memo, kwargs: dict[str, Any]) -> Controller:
    controller: Controller = memo["controller"]
    controller.view.attach(**kwargs)
    controller.watch_event()
    return controller


@kopf.on.event(GROUP, VERSION, VIDEOJOBS)
async def videojob_event(event: kopf.RawEvent, uid: str, memo: kopf.Memo, **kwargs: Any) -> None:
    controller = _controller(memo, kwargs)
    if event["type"] == "DELETED":
        controller.forget_videojob(uid)
        return
    controller.videojob_changed(uid)


@kopf.on.event(GROUP, VERSION, VIDEOMODELS)
async def videomodel_event(event: kopf.RawEvent, uid: str, memo: kopf.Memo, **kwargs: Any) -> None:
    controller = _controller(memo, kwargs)
    if event["type"] == "DELETED":
        controller.videomodel_workers.stop(uid)
        return
    controller.videomodel_changed(uid)


@kopf.on.event("batch", "v1", "jobs", labels=OURS)
async def job_event(event: kopf.RawEvent, labels: kopf.Labels, memo: kopf.Memo, **kwargs: Any) -> None:
    controller = _controller(memo, kwargs)
    if uid := labels.get(LABEL_VIDEOJOB_UID):
        controller.videojob_workers.wake(uid)
        if event["type"] == "DELETED":
            controller.wake_queue()
    elif uid := labels.get(LABEL_VIDEOMODEL_UID):
        controller.videomodel_workers.wake(uid)


@kopf.on.event("", "v1", "pods", labels=OURS)
async def pod_event(labels: kopf.Labels, memo: kopf.Memo, **kwargs: Any) -> None:
    controller = _controller(memo, kwargs)
    if uid := labels.get(LABEL_VIDEOJOB_UID):
        controller.videojob_workers.wake(uid)
    elif uid := labels.get(LABEL_VIDEOMODEL_UID):
        controller.videomodel_workers.wake(uid)
