"""POST /api/v1/generate/{text,image,video}-to-video: each request becomes one VideoJob."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile

from videogen_api.admission import Admitted, Submission, Upload
from videogen_api.deps import AdmissionDep, ApiKeyRequired, CallerDep, IdempotencyKeyHeader, ServicesDep
from videogen_api.errors import ApiError
from videogen_api.gate import accepts_body, image_upload, json_body, video_upload
from videogen_api.input_shape import keep_input_shape
from videogen_api.media import MediaError, MediaKind, MediaType, VideoFacts, check_image, inspect_video, sniff
from videogen_api.routes import error_responses
from videogen_api.schemas import GenerateResponse, ImageToVideoForm, TextToVideoRequest, VideoToVideoForm
from videogen_common.names import videojob_name_to_job_id
from videogen_common.resources.videojob import Mode

router = APIRouter(prefix="/api/v1/generate", tags=["generate"], dependencies=[ApiKeyRequired])

# 202 Accepted, as the reference server answers (a replay of an Idempotency-Key too): the job runs later, and the
# reference's own web client treats any other success code as an error.
_RESPONSES = error_responses(400, 401, 413, 415, 429, 500, 503)
_STARTED = "Video generation started"
_ACCEPTED_TYPES: dict[MediaKind, str] = {"image": "a JPEG or PNG image", "video": "an MP4, MOV, AVI or WebM video"}


def _respond(admitted: Admitted, response: Response) -> GenerateResponse:
    if not admitted.created:
        response.headers["Idempotent-Replayed"] = "true"
    return GenerateResponse(
        job_id=videojob_name_to_job_id(admitted.videojob.name),
        status=admitted.videojob.status.current_state,
        message=_STARTED if admitted.created else "Job already submitted with this Idempotency-Key",
    )


@router.post("/text-to-video", response_model=GenerateResponse, status_code=202, responses=_RESPONSES)
@accepts_body(json_body)
def text_to_video(
    request: TextToVideoRequest,
    admission: AdmissionDep,
    caller: CallerDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerateResponse:
    """Generate a video from a text prompt."""
    submission = Submission(
        mode=Mode.TEXT_TO_VIDEO,
        # Unset optional fields (a webhook) stay out: the spec's defaults, and the same fingerprint as before them.
        parameters=request.model_dump(exclude={"model"}, exclude_none=True),
        model=request.model,
        idempotency_key=idempotency_key,
    )
    return _respond(admission.submit(submission, None, caller), response)


@router.post("/image-to-video", response_model=GenerateResponse, status_code=202, responses=_RESPONSES)
@accepts_body(image_upload)
def image_to_video(
    form: Annotated[ImageToVideoForm, Form()],
    image: Annotated[UploadFile, File(description="Input image (JPEG or PNG).")],
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerateResponse:
    """Generate a video from an input image and an optional prompt."""
    upload = _checked_upload(services, Mode.IMAGE_TO_VIDEO, "image", image)
    parameters = form.model_dump(exclude={"model"}, exclude_none=True)
    submission = Submission(Mode.IMAGE_TO_VIDEO, parameters, form.model, idempotency_key)
    return _respond(services.admission.submit(submission, upload, caller), response)


@router.post("/video-to-video", response_model=GenerateResponse, status_code=202, responses=_RESPONSES)
@accepts_body(video_upload)
def video_to_video(
    form: Annotated[VideoToVideoForm, Form()],
    video: Annotated[UploadFile, File(description="Input video (MP4, MOV, AVI or WebM).")],
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerateResponse:
    """Transform an input video following a prompt. Without num_frames, width and height (the reference's form has
    none), the output keeps the input's length at the output fps and its size; the runner rounds them to the
    model's grid (see the job's ``used``)."""
    upload = _checked_upload(services, Mode.VIDEO_TO_VIDEO, "video", video)
    parameters = keep_input_shape(form.model_dump(exclude={"model"}), upload.video)
    submission = Submission(Mode.VIDEO_TO_VIDEO, parameters, form.model, idempotency_key)
    return _respond(services.admission.submit(submission, upload, caller), response)


def _checked_upload(services: ServicesDep, mode: Mode, field: MediaKind, file: UploadFile) -> Upload:
    """Size, magic bytes and a decode check, all before anything is stored; the outcome is counted."""
    try:
        upload = _check(services, field, file)
    except ApiError as exc:
        outcome = {413: "too_large", 415: "unsupported_type"}.get(exc.status_code, "invalid")
        services.metrics.uploads.labels(mode, outcome).inc()
        raise
    services.metrics.uploads.labels(mode, "accepted").inc()
    services.metrics.upload_bytes.labels(mode).inc(file.size or 0)
    return upload


def _check(services: ServicesDep, field: MediaKind, file: UploadFile) -> Upload:
    settings = services.settings
    data = file.file
    data.seek(0, 2)
    size = data.tell()
    limit = settings.max_image_bytes if field == "image" else settings.max_video_bytes
    if size > limit:
        raise ApiError(413, f"{field} must be at most {limit} bytes; it is {size} bytes")
    if size == 0:
        raise ApiError(400, f"Invalid request: {field} is empty; upload {_ACCEPTED_TYPES[field]}")
    data.seek(0)
    media = sniff(data.read(64))
    if media is None or media.kind != field:
        # The bytes decide, not the client's Content-Type or file name.
        raise ApiError(415, f"{field} must be {_ACCEPTED_TYPES[field]}; the uploaded file is not")
    facts = None
    try:
        if field == "image":
            check_image(data, media, settings.max_image_pixels)
        else:
            facts = inspect_video(data, media)
            _check_video_caps(facts, media, services)
    except MediaError as exc:
        raise ApiError(400, f"Invalid request: {exc}") from exc
    digest = hashlib.sha256()
    data.seek(0)
    while chunk := data.read(1024 * 1024):
        digest.update(chunk)
    return Upload(file=data, media=media, sha256=digest.hexdigest(), video=facts)


def _check_video_caps(facts: VideoFacts, media: MediaType, services: ServicesDep) -> None:
    settings = services.settings
    if max(facts.width, facts.height) > settings.max_video_dimension:
        raise MediaError(
            f"video is {facts.width}x{facts.height}; width and height must be at most {settings.max_video_dimension}"
        )
    if facts.duration_seconds is not None and facts.duration_seconds > settings.max_video_seconds:
        raise MediaError(
            f"video is {facts.duration_seconds:.1f} s long; at most {settings.max_video_seconds:g} s are accepted"
        )
    if facts.frames is not None and facts.frames > settings.max_video_frames:
        raise MediaError(f"video has {facts.frames} frames; at most {settings.max_video_frames} are accepted")
    if facts.duration_seconds is None and facts.frames is None:
        raise MediaError(f"the {media.label} video records neither its duration nor its frame count")
