"""Names every component shares (API group, kinds, labels, annotations) and the object parts every kind has."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field

from videogen_common.resources.schema import Format, ListMap, Pattern, WireModel

GROUP: Final = "videogen.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
#: The ``kubectl get videogen`` category both kinds belong to.
CATEGORY: Final = "videogen"

# --- labels and annotations ----------------------------------------------------------------------------------
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
#: ``app.kubernetes.io/managed-by`` of VideoJobs and VideoModels the API creates.
MANAGED_BY_API: Final = "videogen-api"
#: ``app.kubernetes.io/managed-by`` of the Jobs and pods the operator creates.
MANAGED_BY_OPERATOR: Final = "videogen-operator"
#: On the operator's Jobs and pods: which VideoJob (name, uid) or VideoModel they run for.
LABEL_VIDEOJOB: Final = "videogen.dev/videojob"
LABEL_VIDEOJOB_UID: Final = "videogen.dev/videojob-uid"
LABEL_VIDEOMODEL: Final = "videogen.dev/videomodel"
LABEL_VIDEOMODEL_UID: Final = "videogen.dev/videomodel-uid"
#: Kueue's queue label on a Job.
LABEL_KUEUE_QUEUE: Final = "kueue.x-k8s.io/queue-name"
#: On a VideoJob made through REST with an Idempotency-Key: a hash of the key (label values are not free text).
LABEL_IDEMPOTENCY_KEY: Final = "videogen.dev/idempotency-key"
#: On a VideoJob made through REST with an API key: a hash of the key (never the key), which only that key (and admin
#: keys) may read, cancel and download.
LABEL_OWNER: Final = "videogen.dev/owner"
#: On a VideoJob in a terminal state (Completed, Failed, Cancelled): ``"true"``, set by the operator right after the
#: terminal status, so the API and the operator select open jobs with ``!videogen.dev/finished`` instead of listing
#: every VideoJob ever made. Absent means open (or finished a moment ago and not yet labelled: counted as open).
LABEL_FINISHED: Final = "videogen.dev/finished"
#: On a VideoModel the API creates: a hash of its repo id, to find it without listing every VideoModel's spec.
LABEL_REPO_ID_HASH: Final = "videogen.dev/repo-id-hash"
#: On a VideoJob made through REST: a hash of what was asked (mode, fields, model, uploaded bytes), so a replayed
#: Idempotency-Key with a different request is told apart.
ANNOTATION_REQUEST_FINGERPRINT: Final = "videogen.dev/request-fingerprint"
#: On a VideoJob made through REST: the request id of the call that made it (the client's X-Request-ID when safe,
#: else one the API made), logged by the API, the operator and the runner (videogen_common.logs).
ANNOTATION_REQUEST_ID: Final = "videogen.dev/request-id"
#: On a VideoJob made through REST while tracing is on: the W3C traceparent of the API's submit span, which the
#: operator's span continues (videogen_common.tracing). Anyone who may edit the VideoJob may write it, so it is parsed
#: by the W3C rules and a malformed one is ignored.
ANNOTATION_TRACEPARENT: Final = "videogen.dev/traceparent"
#: On a VideoModel: raising this number retries a Failed download (POST /api/v1/models/download does; so may
#: ``kubectl annotate --overwrite``). Each attempt has its own download Job.
ANNOTATION_DOWNLOAD_ATTEMPT: Final = "videogen.dev/download-attempt"

#: metav1.Condition's rules, as the Kubernetes API documents them.
CONDITION_TYPE_PATTERN: Final = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN: Final = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
#: The longest status message kept (metav1.Condition's limit).
MESSAGE_MAX_LENGTH: Final = 32768

Int32 = Annotated[int, Format("int32")]
Int64 = Annotated[int, Format("int64")]
Double = Annotated[float, Format("double")]
#: RFC 3339 time as Kubernetes writes it (``2024-01-15T10:30:00Z``), kept as text so it round-trips unchanged.
Timestamp = Annotated[str, Format("date-time"), Field(max_length=64)]
Message = Annotated[str, Field(max_length=MESSAGE_MAX_LENGTH)]


class ManagedFieldsEntry(WireModel):
    """The part of a managedFields entry anyone reads: when that manager last wrote."""

    time: str | None = None


class ObjectMeta(WireModel):
    """The metadata fields the components read or set (the CRDs leave metadata to the apiserver)."""

    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    managed_fields: list[ManagedFieldsEntry] = Field(default_factory=list)


class Condition(WireModel):
    """metav1.Condition: one aspect of the object's state, keyed by type."""

    type: Annotated[
        str, Field(max_length=316), Pattern(CONDITION_TYPE_PATTERN, "condition type must be a CamelCase word")
    ]
    status: Literal["True", "False", "Unknown"]
    reason: Annotated[
        str,
        Field(min_length=1, max_length=1024),
        Pattern(CONDITION_REASON_PATTERN, "condition reason must be a CamelCase word"),
    ]
    message: Message
    last_transition_time: Timestamp
    observed_generation: Annotated[Int64, Field(ge=0)] | None = None

    @property
    def is_true(self) -> bool:
        return self.status == "True"


#: A status's conditions: one per type (listType=map), at most 16.
Conditions = Annotated[list[Condition], Field(max_length=16), ListMap(("type",))]
