"""Admitting a generation request: model readiness, idempotency, the concurrency limit, then one VideoJob.

The concurrency limit counts active VideoJobs in the namespace (a quorum list from the apiserver), never an
in-memory counter, so it survives restarts and is shared by every replica. Within one replica the count and the
create happen under one lock, so the limit is exact however many requests arrive at once. Across N replicas each
replica can pass its count at the same moment, so up to ``max_concurrent_jobs + N - 1`` jobs can be active;
run one replica where the limit must be exact.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO

from videogen_api.config import ApiSettings
from videogen_api.errors import MODEL_NOT_LOADED, TOO_MANY_REQUESTS, ApiError, bad_request
from videogen_api.kube import Kube
from videogen_api.media import MediaType, VideoFacts
from videogen_api.references import model_reference_problem
from videogen_api.storage import Storage
from videogen_api.videojobs import FINGERPRINT_ANNOTATION, IDEMPOTENCY_LABEL, build_videojob, is_active
from videogen_api.videomodels import ensure_videomodel, find_videomodel
from videogen_common.model_choice import ResolvedModel, is_repo_id, resolve_model
from videogen_common.names import job_id_to_videojob_name, new_job_id
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob import Mode
from videogen_common.webhooks import destination_problem, parse_allowlist

_MAX_IDEMPOTENCY_KEY_LENGTH = 255


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
    if not key or len(key) > _MAX_IDEMPOTENCY_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise bad_request(f"Idempotency-Key must be 1-{_MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters")
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def fingerprint(submission: Submission, upload: Upload | None) -> str:
    """What makes two submits the same request: mode, fields, model and the uploaded bytes."""
    parts = [submission.mode, repr(sorted(submission.parameters.items())), submission.model or ""]
    parts.append(upload.sha256 if upload else "")
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class Admission:
    def __init__(self, settings: ApiSettings, kube: Kube, storage: Storage) -> None:
        self._settings = settings
        self._kube = kube
        self._storage = storage
        self._policy = settings.model_policy()
        self._webhook_allowlist = parse_allowlist(settings.webhook_allowlist)
        self._lock = threading.Lock()

    def submit(self, submission: Submission, upload: Upload | None) -> Admitted:
        self._check_webhook(submission)
        model = self._resolve_model(submission)
        key_hash = idempotency_key_hash(submission.idempotency_key) if submission.idempotency_key is not None else None
        request_fingerprint = fingerprint(submission, upload)
        if key_hash is not None and (earlier := self._idempotent_match(key_hash, request_fingerprint)) is not None:
            return Admitted(earlier, created=False)
        # Checked once before the upload so a full cluster costs the client no upload; again under the lock below.
        self._check_capacity()

        name = job_id_to_videojob_name(new_job_id())
        input_key = (
            f"{self._settings.inputs_prefix.strip('/')}/{name}/input.{upload.media.extension}" if upload else None
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
            labels={IDEMPOTENCY_LABEL: key_hash} if key_hash else {},
            annotations={FINGERPRINT_ANNOTATION: request_fingerprint},
        )
        if upload is not None and input_key is not None:
            self._storage.upload(input_key, upload.file, upload.media.content_type)
        try:
            with self._lock:
                if key_hash is not None and (earlier := self._idempotent_match(key_hash, request_fingerprint)):
                    self._delete_input(input_key)
                    return Admitted(earlier, created=False)
                self._check_capacity()
                return Admitted(self._kube.create_videojob(videojob), created=True)
        except BaseException:
            # No VideoJob refers to the upload: remove it, whatever went wrong.
            self._delete_input(input_key)
            raise

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

    def _check_capacity(self) -> None:
        active = sum(1 for videojob in self._kube.list_videojobs() if is_active(videojob))
        if active >= self._settings.max_concurrent_jobs:
            raise ApiError(429, TOO_MANY_REQUESTS, {"Retry-After": str(self._settings.retry_after_seconds)})

    def _idempotent_match(self, key_hash: str, request_fingerprint: str) -> VideoJob | None:
        matches = self._kube.list_videojobs(label_selector=f"{IDEMPOTENCY_LABEL}={key_hash}")
        if not matches:
            return None
        earlier = matches[0]
        if earlier.metadata.annotations.get(FINGERPRINT_ANNOTATION) != request_fingerprint:
            raise bad_request("this Idempotency-Key was already used for a different request; use a new key")
        return earlier

    def _resolve_model(self, submission: Submission) -> str | None:
        """The model for spec.model (None: the operator's default); refuses one that cannot run now.

        The decision is videogen_common.model_choice's, the operator's own: what it would fail (not allowed,
        failed download, wrong mode) is a 400 here, and what it would wait for is a 503, or a download started
        when auto_download is on."""
        model = submission.model or self._policy.default_models.get(submission.mode)
        if model is None:
            # spec.model stays unset: the operator's default for the mode applies, which the API cannot check.
            return None
        if (problem := model_reference_problem(model)) is not None:
            raise bad_request(problem)
        videomodels = self._kube.list_videomodels()
        outcome = resolve_model(submission.mode, model, videomodels, self._policy)
        if isinstance(outcome, ResolvedModel):
            return model
        if outcome.permanent:
            raise bad_request(outcome.message)
        # Waiting: the VideoModel is missing or not Ready yet.
        videomodel = find_videomodel(videomodels, model)
        if videomodel is None and not is_repo_id(model):
            # A name is not something to download: nobody made that VideoModel.
            if submission.model is None:
                raise ApiError(503, f"{MODEL_NOT_LOADED}: the default model {model!r} has no VideoModel")
            raise bad_request(f"model {model!r} is not a VideoModel here; see GET /api/v1/models")
        if self._settings.auto_download:
            # The job waits in pending (WaitingForModel) while the download runs.
            if videomodel is None:
                ensure_videomodel(self._kube, model)
            return model
        where = "has no VideoModel" if videomodel is None else f"is {videomodel.status.state or 'Pending'}"
        raise ApiError(503, f"{MODEL_NOT_LOADED}: {model} {where}; download it with POST /api/v1/models/download")
