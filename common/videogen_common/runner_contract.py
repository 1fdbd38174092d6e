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
:data:`S3_ENV`), normally from the chart's Secret, never from the input document. ``VIDEOGEN_REQUEST_ID``
(:data:`videogen_common.logs.REQUEST_ID_ENV`), when set, is the request id the runner's log lines carry.
``TRACEPARENT`` (:data:`videogen_common.tracing.TRACEPARENT_ENV`), when set, is the W3C trace context of the
operator's span that created the Job: the runner's ``run`` span (and a child span per phase, named as the phases in
``timings``) continues it. Spans are exported only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, e.g. through the operator's ``runner_env``.

What the runner gives back
--------------------------
- The MP4 (H.264, yuv420p, faststart), a metadata JSON (:class:`ResultMetadata`) and a poster JPEG, at the keys
  given in :class:`OutputLocation`. The metadata is uploaded last (then its copy at ``record_key``, the job record
  the API reads once the VideoJob is deleted): its presence means the set is complete. On failure the runner
  deletes what it had uploaded, so nothing half-written stays.
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

from datetime import datetime
from enum import IntEnum
from typing import Any, Final, Literal

from pydantic import AliasChoices, Field

from videogen_common.resources.schema import WireModel
from videogen_common.resources.videojob import Mode, VideoJobSpec
from videogen_common.resources.videojob_status import Reason, UsedParameters
from videogen_common.resources.videomodel import ModelOverrides
from videogen_common.termination import TERMINATION_LOG_ENV, TERMINATION_MESSAGE_LIMIT, termination_message

__all__ = [
    "INPUT_ENV",
    "S3_ENV",
    "TERMINATION_LOG_ENV",
    "TERMINATION_MESSAGE_LIMIT",
    "ExitCode",
    "ModelRef",
    "OutputLocation",
    "ProgressLocation",
    "ProgressPhase",
    "ProgressReport",
    "ResultMetadata",
    "RunResult",
    "RunnerInput",
    "RuntimeOptions",
    "VideoJobRef",
    "job_record_key",
]

#: Environment variable holding the RunnerInput JSON (used when ``run`` gets no ``--input``).
INPUT_ENV: Final = "VIDEOGEN_RUNNER_INPUT"
#: Environment variables the runner reads its S3 settings from.
S3_ENV: Final[tuple[str, ...]] = (
    "VIDEOGEN_S3_ENDPOINT_URL",
    "VIDEOGEN_S3_ACCESS_KEY_ID",
    "VIDEOGEN_S3_SECRET_ACCESS_KEY",
    "VIDEOGEN_S3_REGION",
    "VIDEOGEN_S3_FORCE_PATH_STYLE",
)


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
    def reason(self) -> Reason:
        """The reason used in the result document and in the VideoJob's status."""
        return _REASONS[self]

    @property
    def retriable(self) -> bool:
        """Whether the Job should try again (podFailurePolicy Count) rather than fail at once (FailJob)."""
        return self in (ExitCode.TRANSIENT, ExitCode.INTERNAL, ExitCode.TERMINATED)


_REASONS: Final[dict[ExitCode, Reason]] = {
    ExitCode.SUCCEEDED: Reason.SUCCEEDED,
    ExitCode.INVALID_INPUT: Reason.INVALID_INPUT,
    ExitCode.OUT_OF_MEMORY: Reason.OUT_OF_MEMORY,
    ExitCode.TRANSIENT: Reason.TRANSIENT,
    ExitCode.INTERNAL: Reason.INTERNAL,
    ExitCode.TERMINATED: Reason.TERMINATED,
}


class VideoJobRef(WireModel):
    """Which VideoJob this run is for (for logs, metadata and the progress object; the runner never calls K8s)."""

    name: str
    namespace: str = "default"
    uid: str = ""
    #: The VideoJob's ``videogen.dev/owner`` label (a hash of the API key that made it), copied into the metadata so
    #: that the API keeps its access rule for the output and the job record after the VideoJob is deleted (TTL).
    owner: str | None = None
    #: The VideoJob's creationTimestamp (RFC 3339), for the job view the API rebuilds from the job record.
    created_at: str | None = None


class ModelRef(WireModel):
    """The resolved model: a diffusers folder (with model_index.json) on the model cache volume."""

    path: str
    #: The Hugging Face repo id it was downloaded from (what ``used.model`` reports, whatever spec.model said).
    repo_id: str
    revision: str | None = None
    #: The VideoModel's ``spec.overrides``: replace the model-family table's knowledge of the checkpoint (native
    #: fps, recommendations, standard negative prompt, flow_shift, limits) in the runner's plan.
    overrides: ModelOverrides | None = None


class OutputLocation(WireModel):
    """Where the results go; the operator picks the keys (see :meth:`for_video`)."""

    bucket: str
    video_key: str
    metadata_key: str
    poster_key: str
    #: A copy of the metadata under the VideoJob's name (:func:`job_record_key`), written last: how the API finds a
    #: finished job by its id once the VideoJob is gone (TTL), without listing the outputs. None: not written.
    record_key: str | None = None

    @classmethod
    def for_video(cls, bucket: str, prefix: str, filename: str, videojob: VideoJobRef | None = None) -> OutputLocation:
        """Keys for ``<prefix>/<filename>`` and its ``.json`` metadata and ``.jpg`` poster beside it, and with
        ``videojob`` the job record's."""
        stem = filename.removesuffix(".mp4")
        base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        return cls(
            bucket=bucket,
            video_key=f"{base}{stem}.mp4",
            metadata_key=f"{base}{stem}.json",
            poster_key=f"{base}{stem}.jpg",
            record_key=job_record_key(prefix, videojob.namespace, videojob.name) if videojob is not None else None,
        )

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def job_record_key(prefix: str, namespace: str, name: str) -> str:
    """``<prefix>/.jobs/<namespace>/<videojob name>.json``: the job record, under the outputs' prefix so that it
    lives as long as the outputs do (an S3 lifecycle rule on the prefix covers it)."""
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return f"{base}.jobs/{namespace}/{name}.json"


class ProgressLocation(WireModel):
    """Where the runner keeps its progress object."""

    bucket: str
    key: str

    @classmethod
    def for_videojob(cls, bucket: str, prefix: str, videojob: VideoJobRef) -> ProgressLocation:
        """The conventional key: ``<prefix>/.progress/<namespace>/<name>-<uid>.json``."""
        base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        return cls(bucket=bucket, key=f"{base}.progress/{videojob.namespace}/{videojob.name}-{videojob.uid}.json")


class RuntimeOptions(WireModel):
    """How to run on the node's hardware; every field has a sensible automatic default."""

    #: ``auto`` offloads only when the weights do not fit the GPU with room to spare.
    offload: Literal["auto", "none", "model", "group", "sequential"] = "auto"
    #: ``auto`` is PyTorch SDPA, or FlashAttention 3 on Hopper where diffusers accepts it; a masked-attention model
    #: (LTX) always runs on a backend that takes masks.
    attention_backend: str = "auto"
    #: torch.compile the transformer's repeated blocks; ``auto``: on GPUs when nothing is offloaded (never over
    #: offload or step-cache hooks, whatever is asked).
    compile: bool | Literal["auto"] = "auto"
    #: Persistent folder (e.g. on the model cache volume) for the inductor/triton caches, so a node pays once.
    compile_cache_dir: str | None = None
    #: ``auto`` tiles the VAE for large frames or small GPUs.
    vae_tiling: Literal["auto", "on", "off"] = "auto"
    #: ``auto`` is CUDA when present, else CPU (float32).
    device: Literal["auto", "cuda", "cpu"] = "auto"


class RunnerInput(WireModel):
    """The one document the runner reads (see the module docstring for how it is passed)."""

    version: Literal[1] = 1
    videojob: VideoJobRef
    spec: VideoJobSpec
    model: ModelRef
    output: OutputLocation
    progress: ProgressLocation | None = None
    runtime: RuntimeOptions = Field(default_factory=RuntimeOptions)


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


class ProgressReport(WireModel):
    """The progress object's JSON; the operator mirrors step/totalSteps/percent into ``status.progress``."""

    videojob_uid: str = ""
    phase: ProgressPhase
    step: int = 0
    total_steps: int = 0
    percent: float = 0.0
    updated_at: datetime = Field(validation_alias=AliasChoices("updatedAt", "updated_at"))
    message: str = ""


class ResultMetadata(WireModel):
    """The metadata JSON uploaded beside the MP4."""

    videojob: VideoJobRef
    mode: Mode
    #: spec.model as the VideoJob named it (a VideoModel name or a repo id; None: the operator's default).
    model: str | None = None
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
    #: Every decision the run took (``videogen-runner plan``'s JSON: pipeline, dtypes, scheduler, attention, offload,
    #: compile, step cache, FP8, memory estimate, each with its reason).
    plan: dict[str, Any] | None = None
    created_at: datetime


class RunResult(WireModel):
    """The termination message: one compact JSON document of at most 4096 bytes."""

    exit_code: int
    reason: Reason
    message: str = ""
    used: UsedParameters | None = None
    video_uri: str | None = None
    metadata_uri: str | None = None
    poster_uri: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    peak_gpu_memory_bytes: int | None = None

    def to_termination_message(self) -> str:
        """Compact JSON within :data:`TERMINATION_MESSAGE_LIMIT` (timings go first, then the message is shortened)."""
        return termination_message(self.model_dump(by_alias=True, exclude_none=True, mode="json"))
