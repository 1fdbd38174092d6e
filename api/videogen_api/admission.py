"""Admitting a generation request: model readiness, idempotency, the concurrency limits, then one VideoJob.

The concurrency limits (the namespace's, and each API key's) count active VideoJobs as the cluster has them: the
open ones in the API's watch cache (cache.py; open jobs and a bounded window of finished ones, never the history),
plus the ones this replica created that the watch has not delivered yet (read-your-writes), so the count costs
microseconds and no apiserver call; until the cache has synced, a quorum list of the VideoJobs without the
``videogen.dev/finished`` label (which the operator sets on a terminal one). Never an in-memory counter of its own:
the count survives restarts and sees every replica's jobs. Within one replica the count and the create happen under
one lock, so the limits are exact however many requests arrive at once. Across N replicas each replica can pass its
count at the same moment (and sees another's create once its watch delivers it, milliseconds later), so up to
``limit + N - 1`` jobs can be active; run one replica where a limit must be exact.

Idempotency is the apiserver's: a submit with an Idempotency-Key gets a VideoJob name derived from the caller's key
and the Idempotency-Key, so the lookup is a GET by name and a second create of it, from any replica, is a 409 and
becomes a replay; two jobs for one key cannot exist while the first VideoJob does (after its TTL the key is free).
Each submit's upload has a key of its own, so the losing submit removes only its own.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO

from videogen_api.auth import Caller
from videogen_api.cache import VideoJobCache
from videogen_api.config import ApiSettings
from videogen_api.errors import MODEL_NOT_LOADED, TOO_MANY_REQUESTS, ApiError, bad_request
from videogen_api.kube import Kube
from videogen_api.media import MediaType, VideoFacts
from videogen_api.model_limits import check_model_limits
from videogen_api.references import model_reference_problem
from videogen_api.request_ids import request_id_annotation
from videogen_api.request_tracing import name_job, submit_span, traceparent_annotation
from videogen_api.storage import Storage
from videogen_api.videojobs import FINGERPRINT_ANNOTATION, IDEMPOTENCY_LABEL, build_videojob, is_active
from videogen_api.videomodels import ensure_videomodel, find_videomodel
from videogen_common import logs
from videogen_common.model_choice import ResolvedModel, is_repo_id, resolve_model
from videogen_common.names import job_id_to_videojob_name, new_job_id, videojob_name_to_job_id
from videogen_common.resources.meta import LABEL_OWNER
from videogen_common.resources.objects import VideoJob, VideoModel
from videogen_common.resources.videojob import Mode
from videogen_common.webhooks import destination_problem, parse_allowlist

_MAX_IDEMPOTENCY_KEY_LENGTH = 255
log = logging.getLogger(__name__)


class _OutcomeUnknown(ApiError):
    """A create that failed and could not be read back: the VideoJob may exist."""

    def __init__(self, name: str) -> None:
        job_id = videojob_name_to_job_id(name)
        super().__init__(503, f"The job may or may not have been created; GET /api/v1/job/{job_id} tells")


@dataclass(frozen=True)
class Upload:
    """An input file that passed its type and decode checks, still on local disk."""

    file: BinaryIO
    media: MediaType
    sha256: str
    #: What the container check learned of a video (length, size); None for an image.
    video: VideoFacts | None = None


@dataclass(frozen=True)
class Submission:
    mode: Mode
    #: Generation fields by VideoJobSpec's (snake_case) names (prompt, num_frames, ...), without model.
    parameters: dict[str, Any]
    model: str | None
    idempotency_key: str | None


@dataclass(frozen=True)
class Admitted:
    videojob: VideoJob
    #: False when an Idempotency-Key matched an earlier submit and that job is returned instead.
    created: bool


def idempotency_key_hash(key: str) -> str:
    """The label value for an Idempotency-Key: a hash, because keys are free text and label values are not."""
    _check_idempotency_key(key)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _check_idempotency_key(key: str) -> None:
    if not key or len(key) > _MAX_IDEMPOTENCY_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise bad_request(f"Idempotency-Key must be 1-{_MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters")


def idempotent_job_id(owner: str | None, key: str) -> str:
    """The job id of a submit with Idempotency-Key ``key`` by the caller ``owner`` (None: authentication off).
    Both parts of the id come from the hash (60 bits as the number, 48 as the hex), so two callers' keys, or two
    keys, never meet; the number is not a time."""
    _check_idempotency_key(key)
    digest = hashlib.sha256(f"{owner or ''}\0{key}".encode()).hexdigest()
    return f"job_{int(digest[12:27], 16)}_{digest[:12]}"


def fingerprint(submission: Submission, upload: Upload | None) -> str:
    """What makes two submits the same request: mode, fields, model and the uploaded bytes."""
    parts = [submission.mode, repr(sorted(submission.parameters.items())), submission.model or ""]
    parts.append(upload.sha256 if upload else "")
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class Admission:
    def __init__(self, settings: ApiSettings, kube: Kube, storage: Storage, job_cache: VideoJobCache) -> None:
        self._settings = settings
        self._kube = kube
        self._storage = storage
        self._job_cache = job_cache
        self._policy = settings.model_policy()
        self._webhook_allowlist = parse_allowlist(settings.webhook_allowlist)
        self._lock = threading.Lock()

    def submit(self, submission: Submission, upload: Upload | None, caller: Caller) -> Admitted:
        """Create the VideoJob for this submission (or find the one its Idempotency-Key made), in a span of its own
        whose trace the VideoJob carries on to the operator and the runner."""
        with submit_span(submission.mode.value) as span:
            admitted = self._submit(submission, upload, caller)
            name_job(span, admitted.videojob.name, admitted.videojob.namespace, admitted.created)
            return admitted

    def _submit(self, submission: Submission, upload: Upload | None, caller: Caller) -> Admitted:
        self._check_webhook(submission)
        model, videomodel = self._resolve_model(submission)
        request_fingerprint = fingerprint(submission, upload)
        labels = dict(caller.owner_labels)
        if submission.idempotency_key is not None:
            name = job_id_to_videojob_name(idempotent_job_id(caller.owner, submission.idempotency_key))
            labels[IDEMPOTENCY_LABEL] = idempotency_key_hash(submission.idempotency_key)
            if (earlier := self._kube.get_videojob(name)) is not None:
                return self._replay(earlier, caller, request_fingerprint)
        else:
            name = job_id_to_videojob_name(new_job_id())
        # Checked once before the upload so a full cluster costs the client no upload; again under the lock below.
        self._check_capacity(caller)

        # Its own key per submit: of two submits racing for one idempotent name, the loser removes only its own.
        input_key = (
            f"{self._settings.inputs_prefix.strip('/')}/{name}/{secrets.token_hex(4)}/input.{upload.media.extension}"
            if upload
            else None
        )
        # Built (and so checked against the VideoJob types) before the upload, so a refusal leaves nothing behind.
        videojob = build_videojob(
            name,
            submission.mode,
            submission.parameters,
            model=model,
            input_uri=self._storage.uri(input_key) if input_key else None,
            input_content_type=upload.media.content_type if upload else None,
            output_bucket=self._settings.bucket,
            output_prefix=self._settings.outputs_prefix.strip("/"),
            labels=labels,
            annotations={FINGERPRINT_ANNOTATION: request_fingerprint}
            | request_id_annotation()
            | traceparent_annotation(),
        )
        check_model_limits(videomodel, videojob.spec)
        if upload is not None and input_key is not None:
            self._storage.upload(input_key, upload.file, upload.media.content_type)
        try:
            with self._lock:
                self._check_capacity(caller)
                created = self._create(videojob)
                if created is not None:
                    # Counted from now on, before the watch delivers it: the next submit's count includes it.
                    self._job_cache.note_create(created)
        except _OutcomeUnknown:
            # The apiserver may have committed it: the input stays rather than break a job that exists.
            raise
        except BaseException:
            # No VideoJob refers to the upload: remove it, whatever went wrong.
            self._delete_input(input_key)
            raise
        if created is not None:
            log.info("created VideoJob %s", name, extra=logs.videojob_fields(name, created.namespace))
            return Admitted(created, created=True)
        # Another submit with this Idempotency-Key created it first (on this replica or another).
        self._delete_input(input_key)
        earlier = self._kube.get_videojob(name)
        if earlier is None:
            raise ApiError(503, "A submit with this Idempotency-Key was being made at the same time; retry")
        return self._replay(earlier, caller, request_fingerprint)

    def _create(self, videojob: VideoJob) -> VideoJob | None:
        """The created VideoJob, or None when one of its name exists. A create whose answer was lost (a timeout, a
        dropped connection) may still have been committed: it is read back before anyone concludes it failed."""
        try:
            return self._kube.create_videojob(videojob)
        except Exception as exc:
            try:
                existing = self._kube.get_videojob(videojob.name)
            except Exception:
                log.warning("create of %s failed (%s) and reading it back failed too", videojob.name, exc)
                raise _OutcomeUnknown(videojob.name) from exc
            if existing is None:
                raise
            if existing.spec.input == videojob.spec.input:
                log.info("create of %s answered %s but it was committed; it stands", videojob.name, exc)
                return existing
            return None

    def _replay(self, earlier: VideoJob, caller: Caller, request_fingerprint: str) -> Admitted:
        same_request = earlier.metadata.annotations.get(FINGERPRINT_ANNOTATION) == request_fingerprint
        if not caller.may_see(earlier) or not same_request:
            raise bad_request("this Idempotency-Key was already used for a different request; use a new key")
        return Admitted(earlier, created=False)

    def _check_webhook(self, submission: Submission) -> None:
        """A webhook the operator would refuse to call (not https, an internal address, not resolvable) is the
        client's to fix now, not a delivery failure later. The operator checks again at each delivery."""
        url = submission.parameters.get("webhook")
        if url is None:
            return
        problem = destination_problem(
            url, self._webhook_allowlist, internal_networks=self._settings.webhook_internal_networks
        )
        if problem is not None:
            raise bad_request(problem)

    def _delete_input(self, key: str | None) -> None:
        if key is not None:
            self._storage.delete(key)

    def _active_counts(self, owner: str | None) -> tuple[int, int]:
        """(active VideoJobs in the namespace, those of ``owner``): from the watch cache and this replica's own
        creates; unsynced, from the apiserver."""
        counts = self._job_cache.count_active(owner)
        if counts is not None:
            return counts
        # Only the VideoJobs not labelled finished come back (the apiserver filters): the count costs what the
        # active jobs cost, whatever the history. A job that finished a moment ago but is not labelled yet is in the
        # answer, and its status leaves it out here.
        active = [videojob for videojob in self._kube.list_open_videojobs() if is_active(videojob)]
        mine = sum(1 for videojob in active if owner is not None and videojob.metadata.labels.get(LABEL_OWNER) == owner)
        return len(active), mine

    def _check_capacity(self, caller: Caller) -> None:
        total, mine = self._active_counts(caller.owner)
        retry = {"Retry-After": str(self._settings.retry_after_seconds)}
        if total >= self._settings.max_concurrent_jobs:
            raise ApiError(429, TOO_MANY_REQUESTS, retry)
        per_key = self._settings.max_active_jobs_per_key
        if per_key is not None and caller.owner is not None and mine >= per_key:
            raise ApiError(429, f"This API key has {mine} active jobs, its limit; retry later", retry)

    def _resolve_model(self, submission: Submission) -> tuple[str | None, VideoModel | None]:
        """The model for spec.model (None: the operator's default) and its VideoModel when one exists; refuses a model
        that cannot run now.

        The decision is videogen_common.model_choice's, the operator's own: what it would fail (not allowed,
        failed download, wrong mode) is a 400 here, and what it would wait for is a 503, or a download started
        when auto_download is on."""
        model = submission.model or self._policy.default_models.get(submission.mode)
        if model is None:
            # spec.model stays unset: the operator's default for the mode applies, which the API cannot check.
            return None, None
        if (problem := model_reference_problem(model)) is not None:
            raise bad_request(problem)
        videomodels = self._kube.list_videomodels()
        outcome = resolve_model(submission.mode, model, videomodels, self._policy)
        videomodel = find_videomodel(videomodels, model)
        if isinstance(outcome, ResolvedModel):
            return model, videomodel
        if outcome.permanent:
            raise bad_request(outcome.message)
        # Waiting: the VideoModel is missing or not Ready yet.
        if videomodel is None and not is_repo_id(model):
            # A name is not something to download: nobody made that VideoModel.
            if submission.model is None:
                raise ApiError(503, f"{MODEL_NOT_LOADED}: the default model {model!r} has no VideoModel")
            raise bad_request(f"model {model!r} is not a VideoModel here; see GET /api/v1/models")
        if self._settings.auto_download:
            # The job waits in pending (WaitingForModel) while the download runs.
            if videomodel is None:
                videomodel, _ = ensure_videomodel(self._kube, model)
            return model, videomodel
        where = "has no VideoModel" if videomodel is None else f"is {videomodel.status.state or 'Pending'}"
        raise ApiError(503, f"{MODEL_NOT_LOADED}: {model} {where}; download it with POST /api/v1/models/download")
