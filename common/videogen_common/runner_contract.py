"""The contract between the operator (which builds the runner's Job) and the runner (one generation).

No torch and no Kubernetes imports: the operator and the API import this module.

How the runner gets its work
----------------------------
The operator serialises one :class:`RunnerInput` to JSON (camelCase keys, ``RunnerInput.model_dump_json(
by_alias=True)``) and passes it to ``videogen-runner run`` in one of two ways (the first one present wins):

1. ``--input PATH``: a file holding the JSON (e.g. a mounted ConfigMap, or a hand run);
2. the environment variable ``VIDEOGEN_RUNNER_INPUT`` (:data:`INPUT_ENV`) holding the JSON itself. This is what
   the operator uses: the Job's pod template then carries everything and needs no extra object.

S3 settings come from the environment (``VIDEOGEN_S3_ENDPOINT_URL``, ``VIDEOGEN_S3_ACCESS_KEY_ID``,
``VIDEOGEN_S3_SECRET_ACCESS_KEY``, ``VIDEOGEN_S3_REGION``, ``VIDEOGEN_S3_FORCE_PATH_STYLE``; see
:data:`S3_ENV`), normally from the chart's Secret, never from the input document.

What the runner gives back
--------------------------
- The MP4 (H.264, yuv420p, faststart), a metadata JSON (:class:`ResultMetadata`) and a poster JPEG, at the keys
  given in :class:`OutputLocation`. The metadata is uploaded last: its presence means the set is complete. On
  failure the runner deletes what it had uploaded, so nothing half-written stays.
- A progress object (:class:`ProgressReport`) at :class:`ProgressLocation`, rewritten at every phase change and
  every denoising step. The runner's pod has no Kubernetes token, so the operator reads this object and mirrors it
  into ``VideoJob.status.progress``. ``videojobUid`` tells the operator the report is for this VideoJob and not an
  older one of the same name.
- The container termination message (``/dev/termination-log``, overridable by ``VIDEOGEN_TERMINATION_LOG``):
  one compact :class:`RunResult` JSON, at most 4096 bytes (:data:`TERMINATION_MESSAGE_LIMIT`).
- The exit code (:class:`ExitCode`), for the Job's ``podFailurePolicy``:

  ====  ============  ==========================================================  ====================
  code  reason        meaning                                                     policy
  ====  ============  ==========================================================  ====================
  0     Succeeded     the MP4, poster and metadata are in S3                      -
  10    InvalidInput  the spec, the input file or the model cannot work (found    FailJob (never retry)
                      before the weights load where possible)
  11    OutOfMemory   CUDA out of memory; the message suggests fewer frames or a  FailJob
                      smaller size (the same spec would fail again)
  12    Transient     S3 or network trouble; the same spec may work next time     Count (retry)
  13    Internal      any other error (a bug, a broken install)                   Count (retry)
  143   Terminated    SIGTERM (Job deleted, pod evicted); outputs rolled back     Count / Ignore
  ====  ============  ==========================================================  ====================
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Final, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "INPUT_ENV",
    "MODEL_MODES",
    "S3_ENV",
    "TERMINATION_LOG_ENV",
    "TERMINATION_MESSAGE_LIMIT",
    "ExitCode",
    "InputRef",
    "ModelRef",
    "OutputLocation",
    "OutputSpec",
    "ProgressLocation",
    "ProgressPhase",
    "ProgressReport",
    "ResultMetadata",
    "RunResult",
    "RunnerInput",
    "RuntimeOptions",
    "UsedParameters",
    "VideoJobRef",
    "VideoJobSpec",
]

#: Environment variable holding the RunnerInput JSON (used when ``run`` gets no ``--input``).
INPUT_ENV: Final = "VIDEOGEN_RUNNER_INPUT"
#: Environment variable overriding the termination message path (tests write elsewhere).
TERMINATION_LOG_ENV: Final = "VIDEOGEN_TERMINATION_LOG"
#: Kubernetes keeps at most this many bytes of a termination message.
TERMINATION_MESSAGE_LIMIT: Final = 4096
#: Environment variables the runner reads its S3 settings from.
S3_ENV: Final[tuple[str, ...]] = (
    "VIDEOGEN_S3_ENDPOINT_URL",
    "VIDEOGEN_S3_ACCESS_KEY_ID",
    "VIDEOGEN_S3_SECRET_ACCESS_KEY",
    "VIDEOGEN_S3_REGION",
    "VIDEOGEN_S3_FORCE_PATH_STYLE",
)

Mode = Literal["text-to-video", "image-to-video", "video-to-video"]

#: What each model_index.json ``_class_name`` can do; any other class is not a model the runner runs.
MODEL_MODES: Final[dict[str, tuple[str, ...]]] = {
    "WanPipeline": ("text-to-video", "video-to-video"),
    "WanImageToVideoPipeline": ("image-to-video",),
    "LTXPipeline": ("text-to-video", "image-to-video", "video-to-video"),
    "LTXImageToVideoPipeline": ("text-to-video", "image-to-video", "video-to-video"),
    "LTXConditionPipeline": ("text-to-video", "image-to-video", "video-to-video"),
}


class ExitCode(IntEnum):
    """The runner's exit codes; the operator's podFailurePolicy matches on them (see the module docstring)."""

    SUCCEEDED = 0
    INVALID_INPUT = 10
    OUT_OF_MEMORY = 11
    TRANSIENT = 12
    INTERNAL = 13
    #: SIGTERM (128 + 15): the Job was deleted or the pod evicted; outputs were rolled back.
    TERMINATED = 143

    @property
    def reason(self) -> str:
        """The CamelCase reason used in the result document and in VideoJob conditions."""
        return _REASONS[self]

    @property
    def retriable(self) -> bool:
        """Whether the Job should try again (podFailurePolicy Count) rather than fail at once (FailJob)."""
        return self in (ExitCode.TRANSIENT, ExitCode.INTERNAL, ExitCode.TERMINATED)


_REASONS: Final[dict[ExitCode, str]] = {
    ExitCode.SUCCEEDED: "Succeeded",
    ExitCode.INVALID_INPUT: "InvalidInput",
    ExitCode.OUT_OF_MEMORY: "OutOfMemory",
    ExitCode.TRANSIENT: "Transient",
    ExitCode.INTERNAL: "Internal",
    ExitCode.TERMINATED: "Terminated",
}


class _CamelModel(BaseModel):
    """camelCase on the wire (as in the CRD), snake_case in Python; unknown keys ignored for forward compat."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


class InputRef(_CamelModel):
    """``spec.input``: the image or video a job starts from."""

    uri: Annotated[str, Field(pattern=r"^s3://[^/]+/.+$")]
    content_type: str | None = None

    @property
    def bucket(self) -> str:
        return self.uri.removeprefix("s3://").split("/", 1)[0]

    @property
    def key(self) -> str:
        return self.uri.removeprefix("s3://").split("/", 1)[1]


class OutputSpec(_CamelModel):
    """``spec.output``."""

    bucket: str | None = None
    prefix: str | None = None


class VideoJobSpec(_CamelModel):
    """``VideoJob.spec`` as the runner reads it.

    The CRD (``crds/``) owns defaults and ranges and the apiserver applies them; the defaults here only make a hand
    run with a short document work, and the ranges are the hard limits past which the runner cannot do anything
    sensible. ``tests/runner`` checks the defaults against the CRD.
    """

    mode: Mode
    model: str
    prompt: str = ""
    negative_prompt: str = ""
    num_frames: Annotated[int, Field(ge=1, le=1024)] = 64
    fps: Annotated[int, Field(ge=1, le=240)] = 24
    width: Annotated[int, Field(ge=16, le=8192)] = 512
    height: Annotated[int, Field(ge=16, le=8192)] = 512
    seed: Annotated[int, Field(ge=-1, le=2**63 - 1)] = -1
    guidance_scale: Annotated[float, Field(ge=0.0, le=100.0)] = 7.5
    num_inference_steps: Annotated[int, Field(ge=1, le=1000)] = 50
    strength: Annotated[float, Field(ge=0.0, le=1.0)] = 0.8
    input: InputRef | None = None
    gpus: int = 1
    output: OutputSpec | None = None
    cancel: bool = False


class VideoJobRef(_CamelModel):
    """Which VideoJob this run is for (for logs, metadata and the progress object; the runner never calls K8s)."""

    name: str
    namespace: str = "default"
    uid: str = ""


class ModelRef(_CamelModel):
    """The resolved model: a diffusers folder (with model_index.json) on the model cache volume."""

    path: str
    revision: str | None = None


class OutputLocation(_CamelModel):
    """Where the results go; the operator picks the keys (see :meth:`for_video`)."""

    bucket: str
    video_key: str
    metadata_key: str
    poster_key: str

    @classmethod
    def for_video(cls, bucket: str, prefix: str, filename: str) -> OutputLocation:
        """Keys for ``<prefix>/<filename>`` and its ``.json`` metadata and ``.jpg`` poster beside it."""
        stem = filename.removesuffix(".mp4")
        base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        return cls(
            bucket=bucket,
            video_key=f"{base}{stem}.mp4",
            metadata_key=f"{base}{stem}.json",
            poster_key=f"{base}{stem}.jpg",
        )

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


class ProgressLocation(_CamelModel):
    """Where the runner keeps its progress object."""

    bucket: str
    key: str

    @classmethod
    def for_videojob(cls, bucket: str, prefix: str, videojob: VideoJobRef) -> ProgressLocation:
        """The conventional key: ``<prefix>/.progress/<namespace>/<name>-<uid>.json``."""
        base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        return cls(bucket=bucket, key=f"{base}.progress/{videojob.namespace}/{videojob.name}-{videojob.uid}.json")


class RuntimeOptions(_CamelModel):
    """How to run on the node's hardware; every field has a sensible automatic default."""

    #: ``auto`` offloads only when the weights do not fit the GPU with room to spare.
    offload: Literal["auto", "none", "model", "group", "sequential"] = "auto"
    #: ``auto`` picks the fastest attention kernel installed (FlashAttention 3, then 2, then PyTorch SDPA).
    attention_backend: str = "auto"
    #: torch.compile the transformer's repeated blocks (worth it for long jobs once the cache is warm).
    compile: bool = False
    #: Persistent folder (e.g. on the model cache volume) for the inductor/triton caches, so a node pays once.
    compile_cache_dir: str | None = None
    #: ``auto`` tiles the VAE for large frames or small GPUs.
    vae_tiling: Literal["auto", "on", "off"] = "auto"
    #: ``auto`` is CUDA when present, else CPU (float32).
    device: Literal["auto", "cuda", "cpu"] = "auto"


class RunnerInput(_CamelModel):
    """The one document the runner reads (see the module docstring for how it is passed)."""

    version: Literal[1] = 1
    videojob: VideoJobRef
    spec: VideoJobSpec
    model: ModelRef
    output: OutputLocation
    progress: ProgressLocation | None = None
    runtime: RuntimeOptions = Field(default_factory=RuntimeOptions)


class UsedParameters(_CamelModel):
    """What was actually run (``VideoJob.status.used``): frames and size adjusted to the model, the seed drawn."""

    model: str
    revision: str | None = None
    pipeline: str
    num_frames: int
    width: int
    height: int
    fps: int
    seed: int
    num_inference_steps: int
    guidance_scale: float
    #: Only video-to-video has a strength (how much of the schedule runs); null for the other modes.
    strength: float | None = None


ProgressPhase = Literal[
    "starting",
    "downloading-input",
    "loading",
    "encoding-prompt",
    "denoising",
    "decoding",
    "encoding-video",
    "uploading",
    "succeeded",
    "failed",
]


class ProgressReport(_CamelModel):
    """The progress object's JSON; the operator mirrors step/totalSteps/percent into ``status.progress``."""

    videojob_uid: str = ""
    phase: ProgressPhase
    step: int = 0
    total_steps: int = 0
    percent: float = 0.0
    updated_at: datetime = Field(validation_alias=AliasChoices("updatedAt", "updated_at"))
    message: str = ""


class ResultMetadata(_CamelModel):
    """The metadata JSON uploaded beside the MP4."""

    videojob: VideoJobRef
    mode: Mode
    prompt: str
    negative_prompt: str
    used: UsedParameters
    video_uri: str
    poster_uri: str
    input_uri: str | None = None
    #: Seconds per phase: download-input, import (torch, diffusers, the pipeline's modules), load (weights),
    #: encode-prompt, denoise, decode, encode-video, upload, total.
    timings: dict[str, float]
    #: Median seconds per denoising step (with classifier-free guidance when on).
    step_seconds_median: float | None = None
    peak_gpu_memory_bytes: int | None = None
    device: str
    dtype: str
    attention_backend: str
    offload: str
    compiled: bool
    created_at: datetime


class RunResult(_CamelModel):
    """The termination message: one compact JSON document of at most 4096 bytes."""

    exit_code: int
    reason: str
    message: str = ""
    used: UsedParameters | None = None
    video_uri: str | None = None
    metadata_uri: str | None = None
    poster_uri: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    peak_gpu_memory_bytes: int | None = None

    def to_termination_message(self) -> str:
        """Compact JSON within :data:`TERMINATION_MESSAGE_LIMIT`: timings go first, then the message is shortened."""
        doc: dict[str, Any] = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        text = _compact(doc)
        if len(text.encode()) <= TERMINATION_MESSAGE_LIMIT:
            return text
        doc.pop("timings", None)
        raw = str(doc.get("message", "")).encode()

        def with_message(n: int) -> str:
            return _compact({**doc, "message": raw[:n].decode(errors="ignore") + "..."})

        # Keep the longest start of the message that fits (JSON escaping makes the size non-linear, so search).
        lo, hi = 0, len(raw)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(with_message(mid).encode()) <= TERMINATION_MESSAGE_LIMIT:
                lo = mid
            else:
                hi = mid - 1
        return with_message(lo)


def _compact(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
