"""Request and response bodies. Field ranges, defaults and descriptions come from VideoJobSpec (the same types
the CRD is generated from), so the API refuses what the apiserver would refuse, with the same limits."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Final, Literal

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from videogen_common.resources.videojob import Mode, Speed, VideoJobSpec, WebhookURL
from videogen_common.resources.videojob_status import Progress, State, UsedParameters
from videogen_common.resources.videomodel import ModelState
from videogen_common.webhooks import WebhookEvent

# The annotated_types constraints pydantic keeps in a field's metadata; each one's attribute is Field's keyword.
_CONSTRAINTS: Final = (
    annotated_types.Ge, annotated_types.Le, annotated_types.Gt, annotated_types.Lt,
    annotated_types.MinLen, annotated_types.MaxLen,
)  # fmt: skip


def spec_constraints(name: str) -> dict[str, Any]:
    """VideoJobSpec's constraints on ``spec.<name>`` as Field keywords (``{"ge": 1, "le": 128}``)."""
    constraints: dict[str, Any] = {}
    for item in VideoJobSpec.model_fields[name].metadata:
        if isinstance(item, _CONSTRAINTS):
            constraints |= dataclasses.asdict(item)
    return constraints


def spec_field(name: str, *, example: Any, required: bool = False, default: Any = ..., note: str = "") -> Any:
    """A pydantic Field with VideoJobSpec's default, range and description for ``spec.<name>`` (the request field
    has the spec field's Python name: the reference API's snake_case). ``default`` replaces the spec's default;
    ``note`` is added to the description."""
    declared = VideoJobSpec.model_fields[name]
    return Field(
        default=... if required else (declared.default if default is ... else default),
        description=" ".join(f"{declared.description or ''} {note}".split()),
        examples=[example],
        **spec_constraints(name),
    )


class _Request(BaseModel):
    # A misspelt field ("num_frame") is a client mistake, not something to drop silently.
    model_config = ConfigDict(extra="forbid")


class _GenerationParameters(_Request):
    """What every mode shares; the ranges are VideoJobSpec's (the apiserver enforces the same)."""

    negative_prompt: str = spec_field("negative_prompt", example="blurry, low quality, distorted")
    fps: int = spec_field("fps", example=24)
    seed: int = spec_field("seed", example=42)
    guidance_scale: float = spec_field("guidance_scale", example=7.5)
    # The reference documents 25-100 as the useful range; we accept the spec's 1-100 so that quick previews and
    # smoke tests can use a few steps. The API does not add limits the cluster does not have.
    num_inference_steps: int = spec_field("num_inference_steps", example=50)
    # Ours, beyond the reference: the speed preset (quality, the default, is what the reference runs).
    speed: Speed = spec_field("speed", example="quality")
    model: str | None = Field(
        default=None,
        description="VideoModel name or Hugging Face repo id (ours, beyond the reference); "
        "omit it for the configured default model of the mode.",
        examples=["Lightricks/LTX-Video"],
    )
    # Ours, beyond the reference. The URL's form is the spec's type; whether the installation may call it (DNS,
    # the allow-list) is checked at submit, by the operator's own function.
    webhook: WebhookURL | None = spec_field("webhook", example="https://example.com/hooks/videogen", default=None)
    webhook_events_filter: list[WebhookEvent] | None = spec_field(
        "webhook_events_filter",
        example=["completed", "failed"],
        default=None,
        note="A form may send it as one comma-separated field or as the field repeated.",
    )

    @field_validator("webhook_events_filter", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        # A multipart form sends one string ("start,completed") or the field repeated; the spec's list is a set,
        # so a repeated event is dropped rather than refused by the apiserver.
        if value is None:
            return None
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            return value
        events = [part.strip() for item in items for part in (item.split(",") if isinstance(item, str) else [item])]
        events = list(dict.fromkeys(event for event in events if event != ""))
        if not events:
            raise ValueError("name at least one event, or leave the field out for completed, failed and cancelled")
        return events

    @model_validator(mode="after")
    def _events_need_a_webhook(self) -> Any:
        if self.webhook_events_filter is not None and self.webhook is None:
            raise ValueError("webhook_events_filter needs a webhook URL to send the events to")
        return self


class _FramedParameters(_GenerationParameters):
    num_frames: int = spec_field("num_frames", example=64)
    width: int = spec_field("width", example=512)
    height: int = spec_field("height", example=512)


def _prompt_field(required: bool) -> Any:
    return spec_field("prompt", example="A cat playing with a ball of yarn", required=required)


class TextToVideoRequest(_FramedParameters):
    """POST /api/v1/generate/text-to-video (JSON)."""

    prompt: str = _prompt_field(required=True)

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt is required; describe the video to generate")
        return value


class _FormFields(BaseModel):
    """Multipart form fields. FastAPI hands the whole form to the model, file part included, so unknown fields are
    refused here, with the file's own field let through."""

    file_field: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(cls.model_fields) - {cls.file_field})
            if unknown:
                raise ValueError(f"unknown form field(s) {', '.join(unknown)}; see /docs for the accepted fields")
        return data


class ImageToVideoForm(_FramedParameters, _FormFields):
    """POST /api/v1/generate/image-to-video form fields (beside the ``image`` file)."""

    model_config = ConfigDict(extra="ignore")
    file_field = "image"

    prompt: str = _prompt_field(required=False)


class VideoToVideoForm(_GenerationParameters, _FormFields):
    """POST /api/v1/generate/video-to-video form fields (beside the ``video`` file)."""

    model_config = ConfigDict(extra="ignore")
    file_field = "video"

    prompt: str = _prompt_field(required=False)
    strength: float = spec_field("strength", example=0.8)
    # Not in the reference's form, which transforms the given video: left out, they follow the input (its length
    # at the output fps, its size; see input_shape.py). Given, they win.
    num_frames: int | None = spec_field(
        "num_frames", example=9, default=None, note="Left out: the input's duration at the output fps (ours)."
    )
    width: int | None = spec_field(
        "width", example=256, default=None, note="Left out: the input's width, aspect kept (ours)."
    )
    height: int | None = spec_field(
        "height", example=256, default=None, note="Left out: the input's height, aspect kept (ours)."
    )


class GenerateResponse(BaseModel):
    job_id: str = Field(examples=["job_1234567890_abcdef123456"])
    status: State = Field(examples=["pending"])
    message: str = Field(examples=["Video generation started"])


# The reference API's JSON is snake_case; the status types are camelCase on the wire (as in the CRD). These read
# the same fields under their Python names: an alias equal to the name, so FastAPI's by-alias dump and the OpenAPI
# document both show snake_case.
_SNAKE_CASE: Final = ConfigDict(alias_generator=lambda name: name)


class JobProgress(Progress):
    """status.progress, snake_case."""

    model_config = _SNAKE_CASE


class JobUsedParameters(UsedParameters):
    """status.used, snake_case: the parameters the runner actually used, after adjusting to the model's
    constraints."""

    model_config = _SNAKE_CASE


class JobWebhook(BaseModel):
    """The job's webhook (spec.webhook) and its deliveries (status.webhook)."""

    url: str
    events: list[str]
    delivered: int = 0
    dropped: int = 0
    #: Events not delivered yet.
    pending: int = 0
    last_event: str | None = None
    last_attempt_at: str | None = None
    #: The receiver's HTTP status of the latest attempt (2xx: delivered).
    last_status_code: int | None = None
    last_error: str | None = None


class JobResponse(BaseModel):
    """GET /api/v1/job/{id}: the reference fields, then ours."""

    job_id: str = Field(examples=["job_1234567890_abcdef123456"])
    status: State
    message: str = Field(examples=["Generating video..."])
    output_path: str | None = Field(default=None, examples=["./outputs/text2video_20240115_103045_abc123.mp4"])
    created_at: str = Field(examples=["2024-01-15T10:30:00Z"])
    updated_at: str = Field(examples=["2024-01-15T10:30:15Z"])
    mode: Mode
    model: str | None = None
    reason: str | None = None
    cancel_requested: bool = False
    progress: JobProgress | None = None
    output_url: str | None = None
    used: JobUsedParameters | None = None
    #: Present when the job has a webhook: where its events go and how the latest delivery went.
    webhook: JobWebhook | None = None


class JobListResponse(BaseModel):
    jobs: list[JobResponse]
    #: Pass as ?cursor= for the next page; absent on the last page.
    next_cursor: str | None = None


class ModelEntry(BaseModel):
    id: str = Field(examples=["Lightricks/LTX-Video"])
    name: str = Field(examples=["ltx-video"])
    provider: str = "huggingface"
    cache_dir: str = Field(examples=["/models"])
    downloaded: bool
    #: VideoModel status.state (Pending, Downloading, Ready, Failed); None for a catalog entry not yet requested.
    state: ModelState | None = None


class ModelsResponse(BaseModel):
    models: list[ModelEntry]


class ModelDownloadRequest(_Request):
    model_id: str = Field(examples=["Lightricks/LTX-Video"])


class ModelDownloadResponse(BaseModel):
    message: str = Field(examples=["Model download started"])
    model_id: str = Field(examples=["Lightricks/LTX-Video"])


class ModelInfoResponse(BaseModel):
    name: str
    version: str
    provider: str = "huggingface"
    gpu_enabled: bool
    gpu_device_id: int = 0
    cache_dir: str
    #: VideoModel status.state of the default model, None when no VideoModel exists for it.
    state: ModelState | None = None


class HealthResponse(BaseModel):
    status: Literal["healthy"] = "healthy"
    service: str
    version: str


class ReadyResponse(BaseModel):
    #: degraded: serving (HTTP 200) with S3 unreachable, so job reads work and what needs S3 answers 503.
    status: Literal["ready", "degraded", "unavailable"]
    #: "ok" or what failed, per dependency.
    checks: dict[str, str]


class ErrorResponse(BaseModel):
    error: str = Field(examples=["Invalid request: prompt is required"])
