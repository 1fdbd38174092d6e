"""The reconcilers: each open VideoJob and VideoModel is brought one step closer to its final state per call.

A VideoJob goes: (cancel requested -> Job deleted -> outputs removed -> cancelled) or (model not Ready ->
WaitingForModel) -> (over the cap -> Queued) -> Job created -> status mirrored from the Job, its pods and the
runner's progress report until completed or failed. Every decision is a pure function from the other modules;
this module only gathers their inputs and applies their outputs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from videogen_common.runner_contract import OutputLocation, ProgressLocation
from videogen_common.s3 import S3Settings, make_client
from videogen_operator import download_job, metrics, queueing, runner_job, s3_objects, videojob_status
from videogen_operator.cluster_view import ClusterView, Doc, trimmed
from videogen_operator.kube import Kube
from videogen_operator.model_resolution import ModelUnavailable, resolve_model
from videogen_operator.resources import API_VERSION, LABEL_VIDEOJOB_UID, VIDEOJOBS, VIDEOMODELS
from videogen_operator.settings import OperatorSettings
from videogen_operator.workers import Workers

log = logging.getLogger(__name__)

#: Events posted on the VideoJob when (state, reason) becomes one of these.
EVENTS: dict[tuple[str, str], tuple[str, str]] = {
    ("pending", "Queued"): ("Normal", "Queued"),
    ("pending", "WaitingForModel"): ("Normal", "WaitingForModel"),
    ("pending", "JobCreated"): ("Normal", "Created"),
    ("processing", "Running"): ("Normal", "Started"),
    ("completed", "Succeeded"): ("Normal", "Completed"),
    ("cancelled", "Cancelled"): ("Normal", "Cancelled"),
}


#: How long a Job this process created is taken to exist before its watch event shows it (after that, it is read).
CREATED_TRUST_SECONDS = 30.0


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ref(kind: str, body: Mapping[str, Any]) -> kopf.Body:
    """What kopf.event needs to name the object the Event is about."""
    meta = body["metadata"]
    raw: kopf.RawBody = {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
    }
    return kopf.Body(raw)


class Controller:
    def __init__(self, settings: OperatorSettings, s3_settings: S3Settings, kube: Kube) -> None:
        self.settings = settings
        self.s3_settings = s3_settings
        self._s3: Any = None
        self._s3_lock = threading.Lock()
        self.kube = kube
        self.view = ClusterView()
        settle = settings.settle_seconds
        self.videojob_workers = Workers("videojob", self.reconcile_videojob, self._error, settle)
        self.videomodel_workers = Workers("videomodel", self.reconcile_videomodel, self._error, settle)
        # Jobs created by this process that the Job index has not shown yet (owner uid -> when, monotonic), so the
        # cap counts them and a reconcile in between neither re-creates nor re-reads them.
        self._created: dict[str, float] = {}
        # Where each open VideoJob's output and progress objects go: fixed for its life, and costly enough to
        # derive (pydantic models, time parsing, hashing) that re-deriving them on every status look showed up.
        self._locations: dict[str, tuple[OutputLocation, ProgressLocation]] = {}
        # The (generation, status) each open VideoJob got from this process's last status write.
        self._written: dict[str, tuple[int, dict[str, Any]]] = {}

    def videojob_changed(self, uid: str, generation: Any, status: Any) -> None:
        """A VideoJob watch event: start its worker, or wake it, unless the event only echoes our own status write
        (each write comes back as an event, and reconciling it again would find nothing to do)."""
        if self._written.get(uid) != (generation, status) or not self.videojob_workers.running(uid):
            self.videojob_workers.ensure(uid)

    def forget_videojob(self, uid: str) -> None:
        """The VideoJob is gone: stop its worker and stop counting its Job under the cap."""
        self.videojob_workers.stop(uid)
        self._created.pop(uid, None)
        self._locations.pop(uid, None)
        self._written.pop(uid, None)
        self.videojob_workers.wake_all()

    def s3(self) -> Any:
        """The S3 client, made on first use in a worker thread: building it (boto3's service models, ~0.4 s here)
        would otherwise delay every start-up, and with it the first Job a restarted operator creates."""
        with self._s3_lock:
            if self._s3 is None:
                self._s3 = make_client(self.s3_settings)
            return self._s3

    def _locations_of(self, videojob: Doc) -> tuple[OutputLocation, ProgressLocation]:
        uid = videojob["metadata"]["uid"]
        found = self._locations.get(uid)
        if found is None:
            found = (
                runner_job.output_location(videojob, self.settings),
                runner_job.progress_location(videojob, self.settings),
            )
            self._locations[uid] = found
        return found

    @staticmethod
    def _error(kind: str) -> None:
        metrics.RECONCILE_ERRORS.labels(kind=kind).inc()

    # --- VideoJob -----------------------------------------------------------------------------------------

    async def reconcile_videojob(self, uid: str) -> float | None:
        videojob = self.view.videojob(uid)
        if videojob is None:
            return None
        status = videojob.get("status") or {}
        if status.get("state") in videojob_status.FINAL_STATES:
            self._locations.pop(uid, None)
            self._written.pop(uid, None)
            return None
        job = self.view.job(uid)
        if job is not None:
            self._created.pop(uid, None)
        if videojob["spec"].get("cancel"):
            return await self._cancel(videojob, job)
        if job is None and time.monotonic() - self._created.get(uid, -CREATED_TRUST_SECONDS) < CREATED_TRUST_SECONDS:
            # Created by this process moments ago; the Job's watch event (which wakes this worker) is on its way.
            return self.settings.poll_seconds
        if job is None and status.get("jobName"):
            # Created earlier: either the index has not caught up, or someone deleted the Job before it finished.
            found = await self.kube.read_job(videojob["metadata"]["namespace"], status["jobName"])
            if found is None:
                summary = videojob_status.failed(
                    "JobDeleted", f"the Job {status['jobName']} was deleted before it finished; create a new VideoJob"
                )
                await self._write(videojob, summary)
                return None
            job = trimmed(found, ("suspend",))
        if job is None:
            return await self._admit(videojob)
        return await self._observe(videojob, job)

    async def _admit(self, videojob: Doc) -> float | None:
        """No Job yet: wait for the model, then for a place under the cap, then create the Job."""
        meta = videojob["metadata"]
        if (problem := runner_job.scheduling_problem(videojob["spec"], self.settings)) is not None:
            await self._write(videojob, videojob_status.failed("SchedulingNotAllowed", problem))
            return None
        model = resolve_model(videojob["spec"], self.view.videomodels(meta["namespace"]), self.settings)
        if isinstance(model, ModelUnavailable):
            if model.permanent:
                await self._write(videojob, videojob_status.failed(model.reason, model.message))
                return None
            await self._write(videojob, videojob_status.pending(model.reason, model.message))
            return self.settings.poll_seconds * 5
        cap = self.settings.max_running_jobs
        if cap is not None and runner_job.queue_name(videojob, self.settings) is None:
            # Decide and reserve without awaiting anything, so no other worker decides on the same free place.
            waiting = self._waiting()
            running = self._running()
            if meta["uid"] not in {e.uid for e in queueing.admitted(waiting, running, cap)}:
                position = queueing.queue_position(waiting, meta["uid"]) or 1
                message = f"waiting for a free place: {running} of {cap} generation Jobs run; {position - 1} ahead"
                await self._write(videojob, videojob_status.pending("Queued", message))
                return self.settings.poll_seconds * 5
        self._created[meta["uid"]] = time.monotonic()
        body = runner_job.desired_job(
            videojob,
            model,
            self.settings,
            s3_endpoint_url=self.s3_settings.endpoint_url,
            s3_region=self.s3_settings.region,
            s3_path_style=self.s3_settings.force_path_style,
        )
        try:
            created = await self.kube.create_job(body)
        except Exception:
            self._created.pop(meta["uid"], None)
            raise
        if created:
            waited = datetime.now(UTC) - runner_job.parse_time(meta["creationTimestamp"])
            metrics.JOB_CREATION_SECONDS.observe(max(0.0, waited.total_seconds()))
        # What the Job's first watch event will summarize to as well, so that event writes nothing more.
        summary = videojob_status.summarize(
            videojob, {"metadata": body["metadata"]}, [], None, self._locations_of(videojob)[0]
        )
        await self._write(videojob, summary)
        return self.settings.poll_seconds

    def _running(self) -> int:
        """Generation Jobs that hold (or will soon hold) a GPU: not finished, or still being deleted."""
        running = set(self._created)
        for owner_uid, job in self.view.jobs():
            if LABEL_VIDEOJOB_UID not in job["metadata"].get("labels", {}):
                continue
            finished = any(
                c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                for c in job.get("status", {}).get("conditions") or []
            )
            if not finished or (self.view.pods(owner_uid) and job["metadata"].get("deletionTimestamp")):
                running.add(owner_uid)
        return len(running)

    def _waiting(self) -> list[queueing.QueueEntry]:
        """Open VideoJobs with a Ready model and no Job: the queue the cap admits from."""
        entries = []
        for vj in self.view.videojobs():
            meta, spec, status = vj["metadata"], vj["spec"], vj.get("status") or {}
            uid = meta["uid"]
            if (
                spec.get("cancel")
                or status.get("state") in videojob_status.FINAL_STATES
                or status.get("jobName")
                or uid in self._created
                or self.view.job(uid) is not None
                or runner_job.queue_name(vj, self.settings) is not None
                or runner_job.scheduling_problem(spec, self.settings) is not None
            ):
                continue
            model = resolve_model(spec, self.view.videomodels(meta["namespace"]), self.settings)
            if isinstance(model, ModelUnavailable):
                continue
            entries.append(
                queueing.QueueEntry(
                    uid=uid,
                    namespace=meta["namespace"],
                    name=meta["name"],
                    priority=int(spec.get("priority", 0)),
                    created=str(meta["creationTimestamp"]),
                )
            )
        return entries

    def queued_count(self) -> int:
        return sum(1 for vj in self.view.videojobs() if (vj.get("status") or {}).get("reason") == "Queued")

    async def _observe(self, videojob: Doc, job: Doc) -> float | None:
        """The Job exists: mirror it, its pods and the runner's progress into the status."""
        uid = videojob["metadata"]["uid"]
        pods = self.view.pods(uid)
        progress = None
        finished = any(c.get("status") == "True" for c in job.get("status", {}).get("conditions") or [])
        output, progress_at = self._locations_of(videojob)
        if finished or any(p.get("status", {}).get("phase") in ("Running", "Succeeded") for p in pods):
            progress = await asyncio.to_thread(lambda: s3_objects.read_progress(self.s3(), progress_at))
        summary = videojob_status.summarize(videojob, job, pods, progress, output)
        await self._write(videojob, summary)
        if summary["state"] in videojob_status.FINAL_STATES:
            # A place under the cap is free: let the queue move now rather than at its next poll.
            self.videojob_workers.wake_all()
            return None
        if any(p.get("status", {}).get("phase") == "Running" for p in pods):
            return self.settings.poll_seconds  # the progress object in S3 changes without any watch event
        # Everything else that can change (pods, the Job, the spec) wakes this worker through a watch event: polling
        # hundreds of waiting VideoJobs every few seconds would only burn the CPU new VideoJobs need.
        return self.settings.resync_seconds

    async def _cancel(self, videojob: Doc, job: Doc | None) -> float | None:
        """Delete the Job, wait for its pods to go, remove anything uploaded, then say cancelled."""
        meta = videojob["metadata"]
        uid = meta["uid"]
        if job is not None and not job["metadata"].get("deletionTimestamp"):
            await self.kube.delete_job(meta["namespace"], job["metadata"]["name"])
        if job is not None or self.view.pods(uid):
            current = (videojob.get("status") or {}).get("state") or "pending"
            summary = {"state": current, "reason": "Cancelling", "message": "deleting the Job and its pods"}
            await self._write(videojob, summary)
            return self.settings.poll_seconds
        self._created.pop(uid, None)
        output, progress_at = self._locations_of(videojob)
        await asyncio.to_thread(lambda: s3_objects.delete_outputs(self.s3(), output, progress_at))
        await self._write(videojob, videojob_status.cancelled())
        self.videojob_workers.wake_all()
        return None

    async def _write(self, videojob: Doc, summary: dict[str, Any]) -> None:
        """Write the status if it changed, and post an Event when the state or reason moved somewhere notable."""
        meta = videojob["metadata"]
        current = videojob.get("status") or {}
        generation = int(meta.get("generation", 1))
        new = videojob_status.next_status(current, summary, generation, now_rfc3339())
        patch = videojob_status.status_patch(current, new)
        if patch is None:
            return
        if not await self.kube.patch_status(VIDEOJOBS, meta["namespace"], meta["name"], patch):
            return
        # Our own later reads must not act on the old status before the watch delivers the new one.
        videojob["status"] = new
        self._written[meta["uid"]] = (generation, new)
        moved = (current.get("state"), current.get("reason")) != (new["state"], new.get("reason"))
        if not moved:
            return
        if new["state"] == "failed":
            kopf.event(_ref("VideoJob", videojob), type="Warning", reason="Failed", message=new.get("message", ""))
        elif (event := EVENTS.get((new["state"], new.get("reason", "")))) is not None:
            message = f"created Job {new['jobName']}" if event[1] == "Created" else new.get("message", "")
            kopf.event(_ref("VideoJob", videojob), type=event[0], reason=event[1], message=message)

    # --- VideoModel ---------------------------------------------------------------------------------------

    async def reconcile_videomodel(self, uid: str) -> float | None:
        videomodel = self.view.videomodel(uid)
        if videomodel is None:
            return None
        status = videomodel.get("status") or {}
        if status.get("state") in download_job.FINAL_STATES:
            return None
        job = self.view.job(uid)
        if job is None:
            body = download_job.desired_download_job(videomodel, self.settings)
            if await self.kube.create_job(body):
                kopf.event(
                    _ref("VideoModel", videomodel),
                    type="Normal",
                    reason="Downloading",
                    message=f"created Job {body['metadata']['name']}",
                )
        fields = download_job.summarize_download(job, self.view.pods(uid))
        meta = videomodel["metadata"]
        new = download_job.model_status(status, fields, int(meta.get("generation", 1)), now_rfc3339())
        patch = {k: v for k, v in new.items() if status.get(k) != v}
        if patch and await self.kube.patch_status(VIDEOMODELS, meta["namespace"], meta["name"], patch):
            videomodel["status"] = {**status, **new}
            if status.get("state") != new.get("state") and new.get("state") in download_job.FINAL_STATES:
                kind = "Normal" if new["state"] == download_job.READY else "Warning"
                kopf.event(_ref("VideoModel", videomodel), type=kind, reason=new["state"], message=fields["message"])
        if fields["state"] in download_job.FINAL_STATES:
            # VideoJobs waiting for this model can go now.
            self.videojob_workers.wake_all()
            return None
        return self.settings.poll_seconds
