"""VideoJob.spec: what to generate. Ranges, defaults and rules are declared here, next to each field.

Defaults equal the reference API's (num_frames 64, fps 24, 512x512, seed -1, guidance_scale 7.5,
num_inference_steps 50, strength 0.8). The spec is immutable once created, except ``cancel``, which can only go
from false to true; to change anything else, create a new VideoJob.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Final, Literal

from pydantic import Field

from videogen_common.resources.meta import Double, Int32, Int64
from videogen_common.resources.schema import Immutable, ListSet, Pattern, Rule, WireModel
from videogen_common.webhooks import WebhookEvent

__all__ = [
    "DNS_LABEL",
    "DNS_SUBDOMAIN",
    "REPO_ID",
    "REPO_ID_RULES",
    "InputRef",
    "Mode",
    "ModelReference",
    "OutputSpec",
    "Scheduling",
    "Speed",
    "Toleration",
    "VideoJobSpec",
    "WebhookURL",
]


class Mode(StrEnum):
    """What kind of generation a VideoJob is."""

    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"
    VIDEO_TO_VIDEO = "video-to-video"


class Speed(StrEnum):
    """How much quality a VideoJob trades for speed (``spec.speed``)."""

    #: Every step computed in full, bf16.
    QUALITY = "quality"
    #: A conservative step cache (diffusers' FirstBlockCache, low threshold), FP8 linear layers where the GPU has them.
    BALANCED = "balanced"
    #: A stronger step cache, FP8 where available, and a distilled schedule for models that ship one.
    FAST = "fast"


# Hugging Face repo ids: namespace/name, each part 1-96 of letters, digits, '-', '_', '.', starting with a letter or
# digit and ending with a letter, digit or '_'; no '--' or '..'; not ending in '.git' (the last two are CEL rules).
_REPO_PART: Final = r"[A-Za-z0-9]([A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
REPO_ID: Final = f"^{_REPO_PART}/{_REPO_PART}$"
_DNS_SUBDOMAIN_BODY: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS_SUBDOMAIN: Final = f"^{_DNS_SUBDOMAIN_BODY}$"
DNS_LABEL: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_BUCKET: Final = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"


def repo_id_rules(field: str, *, only_repo_ids: bool) -> tuple[Rule, ...]:
    """The CEL rules a repo id obeys beyond its pattern, for a field that holds one (``only_repo_ids``) or that
    holds either a repo id or a VideoModel name (the rules then apply only when the value has a '/')."""
    no_double = "!self.contains('--') && !self.contains('..')"
    cel = no_double if only_repo_ids else f"!self.contains('/') || ({no_double})"
    guard = "" if only_repo_ids else "!self.contains('/') || "

    def applies(value: str) -> bool:
        return only_repo_ids or "/" in value

    return (
        Rule(
            cel=cel,
            message=f"{field} must not contain '--' or '..' (Hugging Face repo id rules); use the id shown on the "
            "model's Hugging Face page (namespace/name)",
            check=lambda v: not applies(v) or ("--" not in v and ".." not in v),
        ),
        Rule(
            cel=guard + "!self.endsWith('.git')",
            message=f"{field} must not end with '.git'; use the repo id (namespace/name), not a git URL",
            check=lambda v: not applies(v) or not v.endswith(".git"),
        ),
    )


REPO_ID_RULES: Final = repo_id_rules("spec.repoId", only_repo_ids=True)


class InputRef(WireModel):
    """The input image (image-to-video) or video (video-to-video), already in S3."""

    uri: Annotated[
        str,
        Field(max_length=1100),
        Pattern(f"^s3://{_BUCKET}/.+", "spec.input.uri must be an s3://<bucket>/<key> URI"),
    ]
    """s3://<bucket>/<key> of the input file."""
    content_type: (
        Annotated[
            str,
            Field(max_length=255),
            Pattern(
                r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$",
                "spec.input.contentType must be a MIME type (type/subtype), e.g. image/png",
            ),
        ]
        | None
    ) = None
    """MIME type of the input (type/subtype without parameters), e.g. image/png or video/mp4."""

    @property
    def bucket(self) -> str:
        return self.uri.removeprefix("s3://").split("/", 1)[0]

    @property
    def key(self) -> str:
        return self.uri.removeprefix("s3://").split("/", 1)[1]


class Toleration(WireModel):
    """A toleration (core/v1), as a VideoJob may add one."""

    key: Annotated[str, Field(max_length=317)] | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: Annotated[str, Field(max_length=63)] | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: Int64 | None = None


_CLASS_NAME = Pattern(DNS_SUBDOMAIN, "must be a Kubernetes object name (lowercase letters, digits, '-' and '.')")


class Scheduling(WireModel):
    """Per-job placement of the generation pod, over the operator's settings. Each value must be in the operator's
    allow-list for its field (settings allowed_priority_classes, allowed_runtime_classes, allowed_node_selectors,
    allowed_tolerations); a value outside it fails the VideoJob with reason SchedulingNotAllowed, naming the values
    allowed. Affinity comes from the settings only."""

    priority_class_name: Annotated[str, Field(max_length=253), _CLASS_NAME] | None = None
    """PriorityClass of the generation pod, instead of the operator's default."""
    runtime_class_name: Annotated[str, Field(max_length=253), _CLASS_NAME] | None = None
    """RuntimeClass of the generation pod (e.g. nvidia), instead of the operator's default."""
    node_selector: Annotated[dict[str, Annotated[str, Field(max_length=63)]], Field(max_length=16)] | None = None
    """Node labels the pod must match, merged over the operator's nodeSelector."""
    tolerations: Annotated[list[Toleration], Field(max_length=8)] | None = None
    """Tolerations added to the operator's (e.g. for a tainted pool chosen above)."""


class OutputSpec(WireModel):
    """Where to write the MP4 and its metadata; omit for the operator's default bucket and prefix."""

    bucket: (
        Annotated[
            str,
            Field(min_length=3, max_length=63),
            Pattern(f"^{_BUCKET}$", "spec.output.bucket must be an S3 bucket name"),
            Rule(
                cel="!self.contains('..')",
                message="spec.output.bucket must not contain '..' (S3 bucket naming rules)",
                check=lambda v: ".." not in v,
            ),
        ]
        | None
    ) = None
    """S3 bucket name (3-63 characters, lowercase letters, digits, '.' and '-')."""
    prefix: (
        Annotated[
            str,
            Field(max_length=512),
            Rule(
                cel="!self.startsWith('/')",
                message="spec.output.prefix must not start with '/'; S3 keys are relative to the bucket",
                check=lambda v: not v.startswith("/"),
            ),
            Rule(
                cel="!self.contains('..')",
                message="spec.output.prefix must not contain '..'",
                check=lambda v: ".." not in v,
            ),
        ]
        | None
    ) = None
    """Key prefix inside the bucket, without a leading '/'."""


_MODEL = Pattern(
    f"^({_DNS_SUBDOMAIN_BODY}|{_REPO_PART}/{_REPO_PART})$",
    "spec.model must be a VideoModel name (lowercase letters, digits, '-', '.') or a Hugging Face repo id "
    "(namespace/name), not a URL or a path",
)
#: A webhook destination as a URL: http(s), a host, no credentials (user:password@), no whitespace. Whether the
#: installation may call it (https only, no internal addresses unless allow-listed) is decided when the job is
#: submitted and again at each delivery (``videogen_common.webhooks.destination_problem``): that needs DNS.
WebhookURL = Annotated[
    str,
    Field(max_length=2048),
    Pattern(
        r"^[hH][tT][tT][pP][sS]?://[^\s/?#@\\]+([/?#][^\s]*)?$",
        "spec.webhook must be an http(s) URL without credentials, e.g. https://example.com/hooks/videogen",
    ),
]
_TEXT = Mode.TEXT_TO_VIDEO.value
#: ``spec.model``: a VideoModel name or a repo id.
ModelReference = Annotated[
    str, Field(min_length=1, max_length=200), _MODEL, *repo_id_rules("spec.model", only_repo_ids=False)
]


class VideoJobSpec(WireModel):
    """What to generate. Immutable once created except cancel; create a new VideoJob to change anything else."""

    crd_immutable: ClassVar[Immutable | None] = Immutable(remedy="create a new VideoJob", mutable=("cancel",))
    crd_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel=f"self.mode != '{_TEXT}' || size(self.prompt.trim()) > 0",
            message=f"spec.prompt is required for mode {_TEXT}; set a non-empty prompt",
            field_path=".prompt",
            reason="FieldValueRequired",
            check=lambda spec: spec.mode != Mode.TEXT_TO_VIDEO or bool(spec.prompt.strip()),
        ),
        Rule(
            cel=f"self.mode == '{_TEXT}' || has(self.input)",
            message_expression="'spec.input.uri is required for mode ' + self.mode + "
            "'; upload the input to S3 and set spec.input.uri to its s3:// URI'",
            field_path=".input",
            reason="FieldValueRequired",
            check=lambda spec: spec.mode == Mode.TEXT_TO_VIDEO or spec.input is not None,
            explain=lambda spec: (
                f"spec.input.uri is required for mode {spec.mode}; "
                "upload the input to S3 and set spec.input.uri to its s3:// URI"
            ),
        ),
        Rule(
            cel=f"self.mode != '{_TEXT}' || !has(self.input)",
            message=f"spec.input must not be set for mode {_TEXT}; remove spec.input or use mode image-to-video or "
            "video-to-video",
            field_path=".input",
            reason="FieldValueForbidden",
            check=lambda spec: spec.mode != Mode.TEXT_TO_VIDEO or spec.input is None,
        ),
    )

    mode: Mode
    """What kind of generation this is."""
    model: ModelReference | None = None
    """A VideoModel name in the same namespace, or a Hugging Face repo id (namespace/name). Omit it for the operator's
    default model for the mode."""
    prompt: Annotated[str, Field(max_length=4000)] = ""
    """Text description of the video (required for text-to-video)."""
    negative_prompt: Annotated[str, Field(max_length=4000)] = ""
    """Things to avoid in the generation."""
    num_frames: Annotated[Int32, Field(ge=1, le=128)] = 64
    """Number of frames; the runner may adjust it to the model's constraints (see status.used)."""
    fps: Annotated[Int32, Field(ge=1, le=60)] = 24
    """Frames per second of the output video."""
    width: Annotated[Int32, Field(ge=64, le=2048)] = 512
    """Video width in pixels; the runner may round it to the model's multiple (see status.used)."""
    height: Annotated[Int32, Field(ge=64, le=2048)] = 512
    """Video height in pixels; the runner may round it to the model's multiple (see status.used)."""
    seed: Annotated[Int64, Field(ge=-1, le=4294967295)] = -1
    """Random seed; -1 picks one at random (the seed used is in status.used.seed). 0 is a valid seed."""
    guidance_scale: Annotated[Double, Field(ge=1, le=20)] = 7.5
    """How closely to follow the prompt (classifier-free guidance scale)."""
    num_inference_steps: Annotated[Int32, Field(ge=1, le=100)] = 50
    """Denoising steps (quality vs speed)."""
    strength: Annotated[Double, Field(ge=0, le=1)] = 0.8
    """How much to transform the input video (video-to-video); 0 keeps it, 1 ignores it."""
    speed: Speed = Speed.QUALITY
    """Speed preset: quality (every step in full), balanced (a conservative step cache; FP8 where the GPU supports
    it), fast (a stronger step cache). status.used.speed says what ran; the job's metadata says how."""
    input: InputRef | None = None
    """The input image (image-to-video) or video (video-to-video), already in S3."""
    gpus: Annotated[Int32, Field(ge=0, le=8)] = 1
    """GPUs for the generation pod (nvidia.com/gpu); 0 runs on CPU. Above 1 the runner denoises context-parallel
    across them (one process per GPU under torchrun, Ulysses attention); models whose attention is masked (LTX-Video)
    run on one GPU only and fail with InvalidInput when given more."""
    active_deadline_seconds: Annotated[Int64, Field(ge=60, le=86400)] = 3600
    """Wall-clock limit for the whole generation, retries included."""
    max_retries: Annotated[Int32, Field(ge=0, le=10)] = 2
    """Retries after transient failures (invalid input is never retried)."""
    priority: Annotated[Int32, Field(ge=-1000, le=1000)] = 0
    """Queue ordering; higher runs first. Above the installation's ceiling (chart value queue.maxPriority) only
    together with an allowed spec.scheduling.priorityClassName; otherwise the VideoJob fails (SchedulingNotAllowed)."""
    ttl_seconds_after_finished: Annotated[Int64, Field(ge=0, le=31536000)] | None = None
    """Seconds this VideoJob is kept after it finished (completed, failed or cancelled); then the operator deletes it
    with its Job, its uploaded input and its progress object (the MP4, poster and metadata stay under their own
    lifetime). Omit it for the installation's retention (chart value retention.jobTTLSeconds); a value above that is
    cut to it: a job may ask to go sooner, not to stay longer. 0 deletes it as soon as it is finished."""
    queue_name: (
        Annotated[str, Field(max_length=63), Pattern(DNS_LABEL, "spec.queueName must be a Kueue LocalQueue name")]
        | None
    ) = None
    """Kueue LocalQueue to submit the generation Job to; omit for the operator's default."""
    scheduling: Scheduling | None = None
    """Per-job placement of the generation pod, over the operator's settings. Each value must be in the operator's
    allow-list for its field (settings allowed_priority_classes, allowed_runtime_classes, allowed_node_selectors,
    allowed_tolerations); a value outside it fails the VideoJob with reason SchedulingNotAllowed, naming the values
    allowed. Affinity comes from the settings only."""
    output: OutputSpec | None = None
    """Where to write the MP4 and its metadata; omit for the operator's default bucket and prefix."""
    webhook: WebhookURL | None = None
    """URL the operator POSTs the job's events to (the REST job view as JSON, signed per Standard Webhooks:
    webhook-id, webhook-timestamp, webhook-signature headers). https only, to a public address, unless the
    installation's allow-list (chart value webhooks.allowlist) names the host or its network; redirects are not
    followed. Delivery is at least once: retried with back-off (status.webhook shows the latest outcome)."""
    webhook_events_filter: Annotated[list[WebhookEvent], Field(min_length=1, max_length=5), ListSet()] | None = None
    """Which events go to spec.webhook: start (the pod started generating), progress (each denoising step),
    completed, failed, cancelled. Omit it for the terminal ones (completed, failed, cancelled)."""
    cancel: Annotated[
        bool,
        Rule(
            cel="!oldSelf || self",
            message="spec.cancel cannot be set back to false once it is true; a cancelled VideoJob stays cancelled, "
            "create a new VideoJob to run it again",
        ),
    ] = False
    """Set to true to cancel the generation (the only field that may change after creation; it cannot go back to
    false)."""
