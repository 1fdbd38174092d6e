"""VideoJob.status: written only by the operator (status subresource), read by the API and by people.

``State`` is the summary the reference API shows; ``Reason`` says why, and is the catalogue of every reason the
operator writes (the CRD accepts no other). Conditions (``ConditionType``) say the same per aspect.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import Field

from videogen_common.resources.meta import Conditions, Double, Int32, Int64, Message, Timestamp
from videogen_common.resources.schema import WireModel
from videogen_common.resources.videojob import Speed
from videogen_common.webhooks import WebhookEvent

__all__ = [
    "ConditionType",
    "OutputStatus",
    "PendingWebhook",
    "Progress",
    "Reason",
    "State",
    "UsedParameters",
    "VideoJobStatus",
    "WebhookStatus",
]


class State(StrEnum):
    """The summary for people and for the reference API."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Completed, failed or cancelled: nothing will change any more."""
        return self in TERMINAL_STATES


TERMINAL_STATES: Final = frozenset({State.COMPLETED, State.FAILED, State.CANCELLED})


class Reason(StrEnum):
    """Why a VideoJob is in its state (``status.reason`` and the conditions' reasons). ``Reason.X.doc`` says when."""

    doc: str

    def __new__(cls, value: str, doc: str) -> Reason:
        member = str.__new__(cls, value)
        member._value_ = value
        member.doc = doc
        return member

    # pending
    WAITING_FOR_MODEL = "WaitingForModel", "the VideoModel is not Ready yet (missing_model_policy=wait)"
    QUEUED = (
        "Queued",
        "over a cap (GPUs requested or generation Jobs running); admitted first in, first out, priority first",
    )
    JOB_CREATED = "JobCreated", "the Job exists, its pod does not yet"
    WAITING_FOR_GPU = "WaitingForGPU", "the runner pod is unschedulable: no node with a free GPU of the pool"
    STARTING = "Starting", "the pod is scheduled and its container starting"
    SUSPENDED = "Suspended", "the Job is suspended (Kueue has not admitted it)"
    RETRYING = "Retrying", "an attempt failed with a retriable exit code; the Job makes another pod"
    CANCELLING = "Cancelling", "spec.cancel is set: the Job and its pods are being deleted"
    # pending: the runner container waits (the kubelet's reasons, passed through)
    CONTAINER_CREATING = "ContainerCreating", "the kubelet is creating the runner container"
    POD_INITIALIZING = "PodInitializing", "the pod's init containers run"
    ERR_IMAGE_PULL = "ErrImagePull", "the runner image cannot be pulled (images.* values, registry credentials)"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff", "pulling the runner image failed and is retried with back-off"
    ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull", "imagePullPolicy Never and the image is not on the node"
    INVALID_IMAGE_NAME = "InvalidImageName", "the runner image reference is malformed"
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError", "a Secret or ConfigMap the pod needs is missing"
    CREATE_CONTAINER_ERROR = "CreateContainerError", "the container runtime could not create the container"
    RUN_CONTAINER_ERROR = "RunContainerError", "the container runtime could not start the container"
    CONTAINER_WAITING = "ContainerWaiting", "the runner container waits for another reason (named in the message)"
    # processing
    RUNNING = "Running", "the runner pod is generating"
    FINISHING = "Finishing", "the runner succeeded; the Job controller has not marked the Job Complete yet"
    # completed
    SUCCEEDED = "Succeeded", "the MP4, its poster and metadata are in S3"
    # failed
    INVALID_INPUT = "InvalidInput", "runner exit 10: the spec, the input file or the model cannot work; never retried"
    OUT_OF_MEMORY = "OutOfMemory", "runner exit 11: the GPU ran out of memory; never retried"
    TRANSIENT = "Transient", "runner exit 12 (S3 or network trouble) with the retries used up"
    INTERNAL = "Internal", "runner exit 13 (any other error) with the retries used up"
    TERMINATED = "Terminated", "runner exit 143 (SIGTERM) with the retries used up"
    DEADLINE_EXCEEDED = "DeadlineExceeded", "spec.activeDeadlineSeconds passed"
    BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded", "the Job's retries are used up and no attempt left a result"
    JOB_FAILED = "JobFailed", "the Job failed for a reason of its own (named in the message)"
    NO_MODEL = "NoModel", "no spec.model and no default model for the mode"
    MODEL_FAILED = "ModelFailed", "the VideoModel's download failed"
    MODEL_NOT_ALLOWED = "ModelNotAllowed", "the model is not in the installation's model allow-list"
    MODE_NOT_SUPPORTED = "ModeNotSupported", "the model's pipeline cannot run spec.mode"
    JOB_DELETED = "JobDeleted", "someone deleted the Job before it finished"
    JOB_NAME_TAKEN = "JobNameTaken", "a Job of the VideoJob's name exists and belongs to another object; rename it"
    SCHEDULING_NOT_ALLOWED = (
        "SchedulingNotAllowed",
        "spec.scheduling asks for a value outside the allow-lists, spec.priority is above the ceiling without an "
        "allowed PriorityClass, or spec.gpus is more than the GPU cap",
    )
    # cancelled
    CANCELLED = "Cancelled", "spec.cancel was set; the Job is gone and no output is published"
    # the False side of conditions
    PENDING = "Pending", "condition Admitted is False: no Job yet (for a reason not given above)"
    NOT_RUNNING = "NotRunning", "condition Running is False"
    NOT_COMPLETE = "NotComplete", "condition Complete is False"
    NOT_FAILED = "NotFailed", "condition Failed is False"
    NOT_CANCELLED = "NotCancelled", "condition Cancelled is False"


class ConditionType(StrEnum):
    """The conditions of a VideoJob; each is True or False with a Reason."""

    #: The Job exists (False while Queued, WaitingForModel...).
    ADMITTED = "Admitted"
    #: A runner pod is running.
    RUNNING = "Running"
    #: The MP4 and its metadata are in S3.
    COMPLETE = "Complete"
    #: The run failed for good (reason from the runner's exit code, e.g. InvalidInput, OutOfMemory).
    FAILED = "Failed"
    #: spec.cancel was set; the Job is gone and no output is published.
    CANCELLED = "Cancelled"


class Progress(WireModel):
    """Denoising progress, mirrored from the runner's progress report."""

    step: Annotated[Int32, Field(ge=0)] = 0
    total_steps: Annotated[Int32, Field(ge=0)] = 0
    percent: Annotated[Int32, Field(ge=0, le=100)] = 0


class UsedParameters(WireModel):
    """The parameters the runner actually used (after adjusting to the model's constraints)."""

    model: Annotated[str, Field(max_length=200)]
    """Hugging Face repo id of the model used."""
    revision: Annotated[str, Field(max_length=100)] | None = None
    """Commit of the model used."""
    pipeline: Annotated[str, Field(max_length=200)]
    """diffusers pipeline class used."""
    num_frames: Int32
    width: Int32
    height: Int32
    fps: Int32
    seed: Int64
    num_inference_steps: Int32
    guidance_scale: Double
    strength: Double | None = None
    """How much of the schedule ran (video-to-video only; the other modes have no strength)."""
    generated_frames: Int32 | None = None
    """Frames the model generated, at generatedFps: a model trained at another frame rate (Wan: 16 fps) generates
    the requested duration at its own rate; the video is then retimed to numFrames at fps."""
    generated_fps: Int32 | None = None
    """Frame rate the model generated at (see generatedFrames)."""
    negative_prompt_source: Literal["request", "model"] | None = None
    """Where the negative prompt came from: the request's, or the model's standard one (the request had none)."""
    speed: Speed | None = None
    """The speed preset run (spec.speed)."""
    context_parallel: Int32 | None = None
    """Processes (one per GPU) that denoised together, context-parallel (spec.gpus > 1); unset for one."""
    fp8: bool | None = None
    """Whether the transformer's linear layers ran in FP8 (spec.speed balanced or fast, on a GPU with FP8 tensor
    cores); the job's metadata (plan.fp8) says why or why not."""


class OutputStatus(WireModel):
    """Where the result is."""

    uri: Annotated[str, Field(max_length=1100)]
    """s3://<bucket>/<key> of the MP4."""
    file: Annotated[str, Field(max_length=255)]
    """File name, e.g. text2video_20240115_103045_abc123.mp4."""
    path: Annotated[str, Field(max_length=300)]
    """Reference API output_path, e.g. ./outputs/text2video_20240115_103045_abc123.mp4."""
    poster_uri: Annotated[str, Field(max_length=1100)] | None = None
    """s3:// URI of a poster image (first frame), when written."""
    metadata_uri: Annotated[str, Field(max_length=1100)] | None = None
    """s3:// URI of the metadata JSON."""


class PendingWebhook(WireModel):
    """One event not delivered yet: kept in the status so that an operator restart resumes it."""

    id: Annotated[str, Field(max_length=100)]
    """The webhook-id of every attempt of this event (receivers de-duplicate by it)."""
    event: WebhookEvent
    time: Timestamp
    """When the event happened (its first attempt's webhook-timestamp window starts here)."""
    attempts: Annotated[Int32, Field(ge=0)] = 0
    next_attempt_time: Timestamp | None = None
    """Not before this time (back-off after a failed attempt); unset: at once."""


class WebhookStatus(WireModel):
    """Deliveries to spec.webhook: what is still to send, and how the latest attempt went."""

    pending: Annotated[list[PendingWebhook], Field(max_length=8)] = Field(default_factory=list)
    """Events not delivered yet, oldest first (at most one progress event: a newer step replaces it)."""
    queued: Annotated[list[WebhookEvent], Field(max_length=5)] = Field(default_factory=list)
    """Events other than progress that were queued once (each is sent once per VideoJob)."""
    progress_step: Annotated[Int32, Field(ge=0)] | None = None
    """The latest progress step queued."""
    last_event: WebhookEvent | None = None
    """The event of the latest attempt."""
    last_attempt_time: Timestamp | None = None
    last_status_code: Int32 | None = None
    """The receiver's HTTP status of the latest attempt (2xx: delivered)."""
    last_error: Message | None = None
    """Why the latest attempt failed: no answer, a non-2xx status, a redirect (never followed), a refused
    destination, or the retry window used up."""
    delivered: Annotated[Int32, Field(ge=0)] = 0
    """Events delivered."""
    dropped: Annotated[Int32, Field(ge=0)] = 0
    """Events given up on (destination refused, or not delivered within the retry window)."""


class VideoJobStatus(WireModel):
    """Written by the operator (status subresource)."""

    state: State | None = None
    """Summary for people and for the reference API: pending (queued, waiting for the model or a GPU), processing
    (pod running), completed, failed, cancelled."""
    reason: Reason | None = None
    """Why the VideoJob is in its state; one of:"""
    message: Message | None = None
    """Human-readable message for the current state."""
    observed_generation: Annotated[Int64, Field(ge=0)] | None = None
    conditions: Conditions = Field(default_factory=list)
    progress: Progress | None = None
    used: UsedParameters | None = None
    """The parameters the runner actually used (after adjusting to the model's constraints)."""
    output: OutputStatus | None = None
    job_name: Annotated[str, Field(max_length=63)] | None = None
    """Name of the batch/v1 Job running the generation."""
    pod_name: Annotated[str, Field(max_length=253)] | None = None
    """Name of the latest pod of that Job."""
    attempts: Annotated[Int32, Field(ge=0)] | None = None
    queued_time: Timestamp | None = None
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    timings: Annotated[dict[str, Double], Field(max_length=32)] | None = None
    """Durations in seconds by phase (e.g. queued, load, denoise, encode-video, upload)."""
    peak_gpu_memory_bytes: Annotated[Int64, Field(ge=0)] | None = None
    webhook: WebhookStatus | None = None
    """Deliveries to spec.webhook (absent without one)."""

    @property
    def current_state(self) -> State:
        """The state; a VideoJob the operator has not seen yet is pending."""
        return self.state or State.PENDING
