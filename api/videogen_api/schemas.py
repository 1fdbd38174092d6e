"""Request and response bodies. Field ranges and defaults come from the VideoJob CRD (see crd.py)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from videogen_api.crd import FieldRule, videojob_field

JobState = Literal["pending", "processing", "completed", "failed", "cancelled"]


def crd_field(crd_name: str, *, example: Any = None) -> Any:
    """A pydantic Field with the CRD's default, range and description for ``VideoJob.spec.<crd_name>``."""
    rule: FieldRule = videojob_field(crd_name)
    return Field(
        default=rule.default,
        ge=rule.minimum,
        le=rule.maximum,
        max_length=rule.max_length,
        description=rule.description,
        examples=None if example is None else [example],
    )


class _Request(BaseModel):
    # A misspelt field ("num_frame") is a client mistake, not something to drop silently.
    model_config = ConfigDict(extra="forbid")


class _GenerationParameters(_Request):
    """What every mode shares; the ranges are the VideoJob CRD's (the apiserver enforces the same)."""

    negative_prompt: str = crd_field("negativePrompt", example="blurry, low quality, distorted")
    fps: int = crd_field("fps", example=24)
    seed: int = crd_field("seed", example=42)
    guidance_scale: float = crd_field("guidanceScale", example=7.5)
    # The reference documents 25-100 as the useful range; we accept the CRD's 1-100 so that quick previews and
    # smoke tests can use a few steps. The API does not add limits the cluster does not have.
    num_inference_steps: int = crd_field("numInferenceSteps", example=50)
    model: str | None = Field(
        default=None,
        description="VideoModel name or Hugging Face repo id (ours, beyond the reference); "
        "omit it for the configured default model of the mode.",
        examples=["Lightricks/LTX-Video"],
    )


class _FramedParameters(_GenerationParameters):
    num_frames: int = crd_field("numFrames", example=64)
    width: int = crd_field("width", example=512)
    height: int = crd_field("height", example=512)


def _prompt_field(required: bool) -> Any:
    rule = videojob_field("prompt")
    return Field(
        default=... if required else "",
        max_length=rule.max_length,
        description=rule.description,
        examples=["A cat playing with a ball of yarn"],
    )


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
    strength: float = crd_field("strength", example=0.8)


class GenerateResponse(BaseModel):
    job_id: str = Field(examples=["job_1234567890_abcdef123456"])
    status: JobState = Field(examples=["pending"])
    message: str = Field(examples=["Video generation started"])


class Progress(BaseModel):
    step: int = 0
    total_steps: int = 0
    percent: int = 0


class UsedParameters(BaseModel):
    """The parameters the runner actually used (status.used), after adjusting to the model's constraints."""

    model: str | None = None
    revision: str | None = None
    pipeline: str | None = None
    num_frames: int | None = None
    width: int | None = None
    height: int | None = None
    fps: int | None = None
    seed: int | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    strength: float | None = None


class JobResponse(BaseModel):
    """GET /api/v1/job/{id}: the reference fields, then ours."""

    job_id: str = Field(examples=["job_1234567890_abcdef123456"])
    status: JobState
    message: str = Field(examples=["Generating video..."])
    output_path: str | None = Field(default=None, examples=["./outputs/text2video_20240115_103045_abc123.mp4"])
    created_at: str = Field(examples=["2024-01-15T10:30:00Z"])
    updated_at: str = Field(examples=["2024-01-15T10:30:15Z"])
    mode: str
    model: str | None = None
    reason: str | None = None
    cancel_requested: bool = False
    progress: Progress | None = None
    output_url: str | None = None
    used: UsedParameters | None = None


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
    state: str | None = None


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
    state: str | None = None


class HealthResponse(BaseModel):
    status: Literal["healthy"] = "healthy"
    service: str
    version: str


class ReadyResponse(BaseModel):
    status: Literal["ready", "unavailable"]
    #: "ok" or what failed, per dependency.
    checks: dict[str, str]


class ErrorResponse(BaseModel):
    error: str = Field(examples=["Invalid request: prompt is required"])
