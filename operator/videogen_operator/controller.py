"""The reconcilers: each open VideoJob and VideoModel is brought one step closer to its final state per call.

A VideoJob goes: (cancel requested -> Job deleted -> outputs removed -> cancelled) or (model not Ready ->
WaitingForModel) -> (over the cap -> Queued) -> Job created -> status mirrored from the Job, its pods and the
runner's progress report until completed or failed. Every decision is a pure function from the other modules;
this module only gathers their inputs and applies their outputs.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import kopf
from opentelemetry.trace import StatusCode

from videogen_common import logs, tracing
from videogen_common.model_choice import (
    ModelUnavailable,
    ResolvedModel,
    allowlist_problem,
    limits_problem_of,
    resolve_model,
)
from videogen_common.resources.meta import API_VERSION, LABEL_FINISHED, LABEL_VIDEOJOB_UID, LABEL_VIDEOMODEL_UID
from videogen_common.resources.objects import VideoJob, VideoModel
from videogen_common.resources.videojob_status import Reason, State, VideoJobStatus
from videogen_common.resources.videomodel import ModelState, VideoModelStatus
from videogen_common.runner_contract import OutputLocation, ProgressLocation
from videogen_common.s3 import S3Settings, make_client
from videogen_operator import (
    download_job,
    metrics,
    naming,
    queueing,
    runner_job,
    s3_objects,
    videojob_status,
    webhook_queue,
)
from videogen_operator.cluster_view import GPUS, ClusterView, Doc, job_finished, trimmed_job
from videogen_operator.job_tracing import job_creation_span
from videogen_operator.kube import JobNameTaken, Kube
from videogen_operator.pod_building import scheduling_problem
from videogen_operator.settings import OperatorSettings
from videogen_operator.webhook_sender import WebhookSender
from videogen_operator.workers import Workers

log = logging.getLogger(__name__)

#: Events posted on the VideoJob when (state, reason) becomes one of these.
EVENTS: Final[dict[tuple[State, Reason], tuple[str, str]]] = {
    (State.PENDING, Reason.QUEUED): ("Normal", "Queued"),
    (State.PENDING, Reason.WAITING_FOR_MODEL): ("Normal", "WaitingForModel"),
    (State.PENDING, Reason.JOB_CREATED): ("Normal", "Created"),
    (State.PROCESSING, Reason.RUNNING): ("Normal", "Started"),
    (State.COMPLETED, Reason.SUCCEEDED): ("Normal", "Completed"),
    (State.CANCELLED, Reason.CANCELLED): ("Normal", "Cancelled"),
}


#: How long a Job this process created is taken to exist before its watch event shows it (after that, it is read).
CREATED_TRUST_SECONDS = 30.0


def _ref(owner: VideoJob | VideoModel) -> kopf.Body:
    """What kopf.event needs to name the object the Event is about."""
    raw: kopf.RawBody = {
        "apiVersion": API_VERSION,
        "kind": owner.kind,
        "metadata": {"name": owner.name, "namespace": owner.namespace, "uid": owner.uid},
    }
    return kopf.Body(raw)


class Controller:
    def __init__(self, settings: OperatorSettings, s3_settings: S3Settings, kube: Kube) -> None:
        self.settings = settings
        self.s3_settings = s3_settings
        self._s3: Any = None
        self._s3_lock = threading.Lock()
        self.kube = kube
        self.model_policy = settings.model_policy()
        self.view = ClusterView()
        settle = settings.settle_seconds
        self.videojob_workers = Workers("videojob", self.reconcile_videojob, self._error, settle)
        self.videomodel_workers = Workers("videomodel", self.reconcile_videomodel, self._error, settle)
        self.webhooks = WebhookSender(settings, kube, self.view.videojob, self._error)
        # Jobs created by this process that the Job index has not shown yet (owner uid -> when, monotonic), so the
        # cap counts them and a reconcile in between neither re-creates nor re-reads them.
        self._created: dict[str, float] = {}
        # Where each open VideoJob's output and progress objects go: fixed for its life, and costly enough to
        # derive (pydantic models, time parsing, hashing) that re-deriving them on every status look showed up.
        self._locations: dict[str, tuple[OutputLocation, ProgressLocation]] = {}
        # The (generation, status) each open VideoJob got from this process's last status write.
        self._written: dict[str, tuple[int, VideoJobStatus]] = {}
        # Download Jobs created by this process that the Job index has not shown yet (VideoModel uid -> when).
        self._downloads_created: dict[str, float] = {}
        # False while another operator holds the Lease (videogen_operator.leader): watch events then fill the view
        # and start nothing.
        self.leading = True
        # The context of kopf's watch-event handlers, where kopf.event finds its queue: workers started on taking the
        # Lease must run in it too, as those started by a watch event do.
        self._event_context: contextvars.Context | None = None

    def watch_event(self) -> None:
        """Called by every watch-event handler, in its context."""
        if self._event_context is None:
            self._event_context = contextvars.copy_context()

    def lead(self) -> None:
        """This process holds the Lease now: start a worker for every object in the view, as a fresh start's watch
        events would (no event yet: nothing in the view, and the events to come start them)."""
        self.leading = True
        if self._event_context is not None:
            self._event_context.run(self._start_all)

    def _start_all(self) -> None:
        for videojob in list(self.view.videojobs()):
            self.videojob_changed(videojob.uid)
        for key in list(self.view.videomodels_index or {}):
            if key[0] == "uid" and isinstance(key[1], str):
                self.videomodel_changed(key[1])

    def videomodel_changed(self, uid: str) -> None:
        """A VideoModel watch event (already in the view): start or wake its worker."""
        if self.leading:
            self.videomodel_workers.ensure(uid)

    def videojob_changed(self, uid: str) -> None:
        """A VideoJob watch event (already in the view): start its worker, or wake it, unless the event only echoes
        our own status write (each write comes back as an event, and reconciling it again would find nothing to do).
        A VideoJob the view skipped (it does not parse) gets no worker."""
        videojob = self.view.videojob(uid)
        if videojob is None or not self.leading:
            return
        self.webhooks.changed(videojob)
        echo = (self._generation(videojob), videojob.status)
        if self._written.get(uid) != echo or not self.videojob_workers.running(uid):
            self.videojob_workers.ensure(uid)

    def forget_videojob(self, uid: str) -> None:
        """The VideoJob is gone: stop its worker and stop counting its Job under the cap."""
        self.videojob_workers.stop(uid)
        self.webhooks.forget(uid)
        self._created.pop(uid, None)
        self._locations.pop(uid, None)
        self._written.pop(uid, None)
        self.wake_queue()

    def s3(self) -> Any:
        """The S3 client, made on first use in a worker thread: building it (boto3's service models, ~0.4 s here)
        would otherwise delay every start-up, and with it the first Job a restarted operator creates."""
        with self._s3_lock:
            if self._s3 is None:
                self._s3 = make_client(self.s3_settings)
            return self._s3

    def _locations_of(self, videojob: VideoJob) -> tuple[OutputLocation, ProgressLocation]:
        found = self._locations.get(videojob.uid)
        if found is None:
            found = (
                naming.output_location(videojob, self.settings),
                naming.progress_location(videojob, self.settings),
            )
            self._locations[videojob.uid] = found
        return found

    @staticmethod
    def _generation(owner: VideoJob | VideoModel) -> int:
        return owner.metadata.generation or 1

    @staticmethod
    def _error(kind: str) -> None:
        metrics.RECONCILE_ERRORS.labels(kind=kind).inc()

    # --- VideoJob -----------------------------------------------------------------------------------------

    async def reconcile_videojob(self, uid: str) -> float | None:
        videojob = self.view.videojob(uid)
        if videojob is None:
            return None
        # Each worker is its own task: its lines (and its threads') name the VideoJob and the request that made it.
        logs.bind(**logs.videojob_fields(videojob.name, videojob.namespace, videojob.metadata.annotations))
        status = videojob.status
        if status.current_state.terminal:
            self._locations.pop(uid, None)
            self._written.pop(uid, None)
            # Final before this version, or its label write failed, or a webhook was still owed then.
            await self._mark_finished(videojob)
            return None
        job = self.view.job(uid)
        if job is not None:
            self._created.pop(uid, None)
        if videojob.spec.cancel:
            return await self._cancel(videojob, job)
        if job is None and time.monotonic() - self._created.get(uid, -CREATED_TRUST_SECONDS) < CREATED_TRUST_SECONDS:
            # Created by this process moments ago; the Job's watch event (which wakes this worker) is on its way.
            return self.settings.poll_seconds
        if job is None and status.job_name:
            # Created earlier: either the index has not caught up, or someone deleted the Job before it finished.
            found = await self.kube.read_job(videojob.namespace, status.job_name)
            if found is None:
                summary = videojob_status.failed(
                    Reason.JOB_DELETED,
                    f"the Job {status.job_name} was deleted before it finished; create a new VideoJob",
                )
                await self._write(videojob, summary)
                return None
            job = trimmed_job(found)
        if job is None:
            return await self._admit(videojob)
        return await self._observe(videojob, job)

    async def _admit(self, videojob: VideoJob) -> float | None:
        """No Job yet: wait for the model, then for a place under the cap, then create the Job."""
        uid = videojob.uid
        if (problem := self._never_runs(videojob)) is not None:
            await self._write(videojob, videojob_status.failed(Reason.SCHEDULING_NOT_ALLOWED, problem))
            return None
        model = self._model(videojob)
        if isinstance(model, ModelUnavailable):
            if model.permanent:
                await self._write(videojob, videojob_status.failed(model.reason, model.message))
                return None
            await self._write(videojob, videojob_status.pending(model.reason, model.message))
            return self.settings.poll_seconds * 5
        if (problem := self._limits_problem(videojob, model)) is not None:
            # What the runner would refuse (exit 10) once its pod started: failed now, before any Job or pod.
            await self._write(videojob, videojob_status.failed(Reason.INVALID_INPUT, problem))
            return None
        caps = self._caps()
        if caps != queueing.Caps() and runner_job.queue_name(videojob, self.settings) is None:
            # Decide and reserve without awaiting anything, so no other worker decides on the same free place.
            waiting = self._waiting()
            usage = self._usage()
            if uid not in {e.uid for e in queueing.admitted(waiting, usage, caps)}:
                position = queueing.queue_position(waiting, uid) or 1
                message = queueing.waiting_message(usage, caps, position - 1)
                await self._write(videojob, videojob_status.pending(Reason.QUEUED, message))
                return self.settings.poll_seconds * 5
        self._created[uid] = time.monotonic()
        with job_creation_span(videojob) as span:
            body = runner_job.desired_job(
                videojob,
                model,
                self.settings,
                s3_endpoint_url=self.s3_settings.endpoint_url,
                s3_region=self.s3_settings.region,
                s3_path_style=self.s3_settings.force_path_style,
                # The runner's run span continues this one.
                traceparent=tracing.traceparent(),
            )
            span.set_attribute("k8s.job.name", body["metadata"]["name"])
            try:
                created = await self.kube.create_job(body)
            except JobNameTaken as err:
                self._created.pop(uid, None)
                message = f"{err}; this VideoJob cannot use it: create it again under another name"
                span.set_status(StatusCode.ERROR, message)
                await self._write(videojob, videojob_status.failed(Reason.JOB_NAME_TAKEN, message))
                return None
            except Exception:
                self._created.pop(uid, None)
                raise
            span.set_attribute("videogen.job_created", created)
        if created:
            log.info("created Job %s", body["metadata"]["name"])
            waited = datetime.now(UTC) - naming.created_at(videojob)
            metrics.JOB_CREATION_SECONDS.observe(max(0.0, waited.total_seconds()))
        # What the Job's first watch event will summarize to as well, so that event writes nothing more.
        first_look = {"metadata": body["metadata"], "spec": trimmed_job(body)["spec"]}
        summary = videojob_status.summarize(videojob, first_look, [], None, self._locations_of(videojob)[0])
        await self._write(videojob, summary)
        return self.settings.poll_seconds

    def _caps(self) -> queueing.Caps:
        return queueing.Caps(max_jobs=self.settings.max_running_jobs, max_gpus=self.settings.max_gpus)

    def _never_runs(self, videojob: VideoJob) -> str | None:
        """Why the VideoJob can never get a Job: a scheduling override or priority not allowed, or more GPUs than the
        cap ever frees (that cap applies only to jobs this operator admits, not to Kueue's)."""
        problem = scheduling_problem(videojob.spec, self.settings)
        if problem is None and runner_job.queue_name(videojob, self.settings) is None:
            problem = queueing.never_fits(videojob.spec.gpus, self._caps())
        return problem

    def _usage(self) -> queueing.Usage:
        """What generation Jobs hold (or will soon hold): those not finished or still being deleted with pods left,
        pods still stopping after their Job went, and those this process created that the index does not show yet
        (counted at their VideoJob's spec.gpus)."""
        gpus: dict[str, int] = {}
        for uid in self._created:
            videojob = self.view.videojob(uid)
            gpus[uid] = videojob.spec.gpus if videojob is not None else 0
        for owner_uid, job in self.view.jobs():
            if LABEL_VIDEOJOB_UID not in job["metadata"].get("labels", {}):
                continue
            if not job_finished(job) or (self.view.pods(owner_uid) and job["metadata"].get("deletionTimestamp")):
                gpus[owner_uid] = int(job.get(GPUS, 0))
        for owner_uid, pod in self.view.all_pods():
            # A cancel deletes the Job at once and its pod stops after it: the pod's GPUs are held until it has ended.
            ended = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
            if LABEL_VIDEOJOB_UID in pod["metadata"].get("labels", {}) and not ended:
                gpus.setdefault(owner_uid, int(pod.get(GPUS, 0)))
        return queueing.Usage(jobs=len(gpus), gpus=sum(gpus.values()))

    def wake_queue(self) -> None:
        """A place under the caps may have come free: wake the queued VideoJobs that fit now, and only those (waking
        every worker made each finished job cost one reconcile per open VideoJob)."""
        caps = self._caps()
        waiting = self._waiting()
        admitted = waiting if caps == queueing.Caps() else queueing.admitted(waiting, self._usage(), caps)
        for entry in admitted:
            self.videojob_workers.wake(entry.uid)

    def _wake_waiting_for(self, videomodel: VideoModel) -> None:
        """The VideoModel is final (Ready or Failed): wake the VideoJobs of its namespace that wait for a model."""
        for videojob in self.view.videojobs():
            if videojob.namespace == videomodel.namespace and videojob.status.reason == Reason.WAITING_FOR_MODEL:
                self.videojob_workers.wake(videojob.uid)

    def _model(self, videojob: VideoJob) -> ResolvedModel | ModelUnavailable:
        return resolve_model(
            videojob.spec.mode, videojob.spec.model, self.view.videomodels(videojob.namespace), self.model_policy
        )

    def _limits_problem(self, videojob: VideoJob, model: ResolvedModel) -> str | None:
        """The checkpoint's limits (videogen_common.model_choice.limits_problem_of) for the chosen VideoModel."""
        chosen = next((m for m in self.view.videomodels(videojob.namespace) if m.name == model.videomodel), None)
        return limits_problem_of(videojob.spec, chosen) if chosen is not None else None

    def _waiting(self) -> list[queueing.QueueEntry]:
        """Open VideoJobs with a Ready model and no Job: the queue the cap admits from."""
        entries = []
        for vj in self.view.videojobs():
            uid = vj.uid
            if (
                vj.spec.cancel
                or vj.status.current_state.terminal
                or vj.status.job_name
                or uid in self._created
                or self.view.job(uid) is not None
                or runner_job.queue_name(vj, self.settings) is not None
                or self._never_runs(vj) is not None
            ):
                continue
            model = self._model(vj)
            if isinstance(model, ModelUnavailable) or self._limits_problem(vj, model) is not None:
                # Not runnable (yet, or ever: _admit fails it): it holds no place ahead of anyone in the queue.
                continue
            entries.append(
                queueing.QueueEntry(
                    uid=uid,
                    namespace=vj.namespace,
                    name=vj.name,
                    priority=vj.spec.priority,
                    created=vj.metadata.creation_timestamp or "",
                    gpus=vj.spec.gpus,
                )
            )
        return entries

    def model_label(self, videojob: VideoJob) -> str:
        """The VideoModel name the metrics count ``videojob`` under."""
        return metrics.model_label(videojob, self.view.videomodels(videojob.namespace), self.model_policy)

    def queued_count(self) -> int:
        return sum(1 for vj in self.view.videojobs() if vj.status.reason == Reason.QUEUED)

    async def _observe(self, videojob: VideoJob, job: Doc) -> float | None:
        """The Job exists: mirror it, its pods and the runner's progress into the status."""
        uid = videojob.uid
        pods = self.view.pods(uid)
        progress = None
        finished = job_finished(job)
        output, progress_at = self._locations_of(videojob)
        if finished or any(p.get("status", {}).get("phase") in ("Running", "Succeeded") for p in pods):
            progress = await asyncio.to_thread(lambda: s3_objects.read_progress(self.s3(), progress_at))
        summary = videojob_status.summarize(videojob, job, pods, progress, output)
        await self._write(videojob, summary, pods)
        if summary.current_state.terminal:
            # A place under the caps is free: let the queue move now rather than at its next poll.
            self.wake_queue()
            return None
        if any(p.get("status", {}).get("phase") == "Running" for p in pods):
            return self.settings.poll_seconds  # the progress object in S3 changes without any watch event
        # Everything else that can change (pods, the Job, the spec) wakes this worker through a watch event: polling
        # hundreds of waiting VideoJobs every few seconds would only burn the CPU new VideoJobs need.
        return self.settings.resync_seconds

    async def _cancel(self, videojob: VideoJob, job: Doc | None) -> float | None:
        """Delete the Job, wait for its pods to go, remove anything uploaded, then say cancelled."""
        uid = videojob.uid
        if job is not None and not job["metadata"].get("deletionTimestamp"):
            await self.kube.delete_job(videojob.namespace, job["metadata"]["name"])
        if job is not None or self.view.pods(uid):
            await self._write(videojob, videojob_status.cancelling(videojob.status.current_state))
            return self.settings.poll_seconds
        self._created.pop(uid, None)
        output, progress_at = self._locations_of(videojob)
        await asyncio.to_thread(lambda: s3_objects.delete_outputs(self.s3(), output, progress_at))
        await self._write(videojob, videojob_status.cancelled())
        self.wake_queue()
        return None

    async def _write(self, videojob: VideoJob, summary: VideoJobStatus, pods: Sequence[Doc] = ()) -> None:
        """Write the status if it changed, and post an Event when the state or reason moved somewhere notable.
        The write that makes a VideoJob final also counts it in the metrics (``pods``: its Job's, for GPU time)."""
        current = videojob.status
        generation = self._generation(videojob)
        new = videojob_status.next_status(current, summary, generation, naming.now_rfc3339())
        patch = videojob_status.status_patch(current, new)
        if patch is None:
            return
        if not await self.kube.patch_status(videojob, patch):
            return
        # Our own later reads must not act on the old status before the watch delivers the new one.
        videojob.status = new
        self._written[videojob.uid] = (generation, new)
        if (current.state, current.reason) != (new.state, new.reason):
            # Before any await: labelling a final VideoJob finished takes it out of the watch, which ends this worker.
            log.info("%s (%s): %s", new.state, new.reason, new.message or "")
            if new.state == State.FAILED:
                kopf.event(_ref(videojob), type="Warning", reason="Failed", message=new.message or "")
            elif new.state is not None and new.reason is not None and (event := EVENTS.get((new.state, new.reason))):
                message = f"created Job {new.job_name}" if event[1] == "Created" else new.message or ""
                kopf.event(_ref(videojob), type=event[0], reason=event[1], message=message)
        if new.current_state.terminal and not current.current_state.terminal:
            # Once per VideoJob: a final status is never written again, by this process or by a restarted one. Before
            # any await, so that no scrape sees the final status (through the view) without its count.
            metrics.observe_finished(videojob, new, self.model_label(videojob), pods)
        if new.current_state.terminal:
            # Last: the label's watch event (DELETED, as the VideoJob leaves the watch) stops this worker.
            await self._mark_finished(videojob)

    async def _mark_finished(self, videojob: VideoJob) -> None:
        """Label a final VideoJob finished: that takes it out of this operator's watch (and memory) and out of the
        API's open jobs, and puts it in the retention sweep's list. Not while a webhook delivery is still owed: only
        a watched VideoJob gets one (its status.webhook write wakes this again when it is done)."""
        if videojob.metadata.labels.get(LABEL_FINISHED) == "true" or self._webhook_owed(videojob):
            return
        try:
            labelled = await self.kube.label_videojob(videojob, {LABEL_FINISHED: "true"})
        except Exception as err:
            # The final status is written; failing here would lose its Event, and nothing else may come to wake this
            # VideoJob: look again shortly (a label left off only keeps it counted as open).
            log.warning("cannot label the VideoJob finished (%s); trying again", err)
            self._error("videojob")
            uid = videojob.uid
            asyncio.get_running_loop().call_later(self.settings.poll_seconds * 5, self.videojob_workers.ensure, uid)
            return
        if labelled:
            videojob.metadata.labels[LABEL_FINISHED] = "true"

    @staticmethod
    def _webhook_owed(videojob: VideoJob) -> bool:
        owed = webhook_queue.enqueue(videojob.uid, videojob.spec, videojob.status, datetime.now(UTC))
        return owed is not None and bool(owed.pending)

    # --- VideoModel ---------------------------------------------------------------------------------------

    async def reconcile_videomodel(self, uid: str) -> float | None:
        videomodel = self.view.videomodel(uid)
        if videomodel is None:
            return None
        status = videomodel.status
        wanted = naming.download_job_name(videomodel)
        # A Failed VideoModel whose download-attempt annotation moved on (POST /api/v1/models/download does it) is
        # downloaded again, by a Job of its own.
        retry = (
            status.state == ModelState.FAILED and (status.job_name or naming.download_job_name(videomodel, 0)) != wanted
        )
        if status.state is not None and status.state.terminal and not retry:
            return None
        jobs = self.view.jobs_of(uid)
        for old in jobs:
            if old["metadata"]["name"] != wanted and not old["metadata"].get("deletionTimestamp"):
                # An earlier attempt's failed Job: nothing in it is needed any more.
                await self.kube.delete_job(videomodel.namespace, old["metadata"]["name"])
        job = next((j for j in jobs if j["metadata"]["name"] == wanted), None)
        if job is not None:
            self._downloads_created.pop(uid, None)
        fields = await self._start_download(videomodel, wanted) if job is None else None
        if fields is None:
            pods = [p for p in self.view.pods(uid) if _job_of_pod(p) == wanted]
            fields = download_job.summarize_download(job, pods)
        fields = fields.model_copy(update={"job_name": wanted})
        new = download_job.model_status(status, fields, self._generation(videomodel), naming.now_rfc3339())
        patch = download_job.status_patch(status, new)
        if patch and await self.kube.patch_status(videomodel, patch):
            videomodel.status = new
            if status.state != new.state and new.state is not None and new.state.terminal:
                kind = "Normal" if new.state == ModelState.READY else "Warning"
                metrics.observe_download(videomodel, new.state)
                kopf.event(_ref(videomodel), type=kind, reason=new.state, message=fields.message or "")
        if fields.state is not None and fields.state.terminal:
            self._downloads_created.pop(uid, None)
            # VideoJobs waiting for this model can go now, and so can a download waiting for a free place.
            self._wake_waiting_for(videomodel)
            self.videomodel_workers.wake_all()
            return None
        return self.settings.poll_seconds if fields.state == ModelState.DOWNLOADING else self.settings.poll_seconds * 5

    async def _start_download(self, videomodel: VideoModel, name: str) -> VideoModelStatus | None:
        """Create the download Job named ``name`` if the allow-list and the cap on concurrent downloads let it;
        the status to show when they do not (None once the Job exists or was just created)."""
        uid = videomodel.uid
        if (refused := allowlist_problem(videomodel.spec.repo_id, self.model_policy)) is not None:
            # Checked here too, not only by the API: a kubectl-made VideoModel must not download what may not run.
            return VideoModelStatus(state=ModelState.FAILED, message=f"{refused}; nothing was downloaded")
        cap = self.settings.max_concurrent_downloads
        # Decided and reserved without awaiting anything, so no other worker takes the same free place.
        running = self._downloads_running() - {uid}
        if len(running) >= cap:
            message = f"waiting for a free place: {len(running)} of {cap} download Jobs run (max_concurrent_downloads)"
            return VideoModelStatus(state=ModelState.PENDING, message=message)
        self._downloads_created[uid] = time.monotonic()
        body = download_job.desired_download_job(videomodel, self.settings, name)
        try:
            created = await self.kube.create_job(body)
        except JobNameTaken as taken:
            self._downloads_created.pop(uid, None)
            # Not ours to read: wait for the name to come free (its owner deleted, or its TTL), checking now and then.
            message = f"{taken}; the download starts once that Job is gone (or rename this VideoModel)"
            return VideoModelStatus(state=ModelState.PENDING, message=message)
        except Exception:
            self._downloads_created.pop(uid, None)
            raise
        if created:
            kopf.event(_ref(videomodel), type="Normal", reason="Downloading", message=f"created Job {name}")
        return VideoModelStatus(state=ModelState.DOWNLOADING, message=f"downloading with Job {name}")

    def _downloads_running(self) -> set[str]:
        """VideoModels whose download Job runs (or was created moments ago and is not in the index yet)."""
        now = time.monotonic()
        running = {uid for uid, at in self._downloads_created.items() if now - at < CREATED_TRUST_SECONDS}
        for owner_uid, job in self.view.jobs():
            if LABEL_VIDEOMODEL_UID not in job["metadata"].get("labels", {}):
                continue
            if not job_finished(job) and not job["metadata"].get("deletionTimestamp"):
                running.add(owner_uid)
        return running


def _job_of_pod(pod: Doc) -> str | None:
    labels = pod["metadata"].get("labels", {})
    name: str | None = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
    return name
