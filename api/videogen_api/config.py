"""The API's settings: one pydantic-settings class read from `VIDEOGEN_API_*` (S3 itself is `VIDEOGEN_S3_*`)."""

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from videogen_common.logs import LogFormat
from videogen_common.model_choice import ANY_MODEL, ModelPolicy, policy_from
from videogen_common.names import MODES
from videogen_common.webhooks import parse_networks

_MIB = 1024 * 1024
#: What storing an arrived upload in S3 and creating its VideoJob may take, on top of the body's arrival.
UPLOAD_STORE_SECONDS = 60.0


class ConfigurationError(Exception):
    """Settings the API cannot start with; the message names the setting."""


class ApiSettings(BaseSettings):
    """`VIDEOGEN_API_*`. Lists are comma-separated (``VIDEOGEN_API_MODEL_CATALOG=a/b,c/d``)."""

    model_config = SettingsConfigDict(env_prefix="VIDEOGEN_API_", extra="ignore")

    # --- where the jobs live --------------------------------------------------------------------------------
    #: Namespace of the VideoJobs and VideoModels this API serves.
    namespace: str = "default"
    #: Kubeconfig file; unset means the pod's service account (in-cluster config).
    kubeconfig: Path | None = None

    # --- models ---------------------------------------------------------------------------------------------
    #: Model per mode when a request names none: a VideoModel name or a Hugging Face repo id. Empty leaves
    #: spec.model unset, so the operator's default applies and the API does not check readiness.
    default_model_text_to_video: str = ""
    #: The same for image-to-video.
    default_model_image_to_video: str = ""
    #: The same for video-to-video.
    default_model_video_to_video: str = ""
    #: With auto-download on, a job for a model that is not Ready waits for it (a VideoModel is created when
    #: none exists) instead of getting 503.
    auto_download: bool = False
    #: Hugging Face repo ids listed by GET /api/v1/models even before anyone downloads them.
    model_catalog: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: The repo ids that may be downloaded or named in a request; * allows any, empty allows none.
    model_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=lambda: [ANY_MODEL])
    #: Shown as cache_dir by the reference's model endpoints (the model cache volume's mount path).
    model_cache_dir: str = "/models"
    #: Shown as gpu_enabled by /api/v1/model/info (whether the generation pods request GPUs).
    gpu_enabled: bool = True

    # --- the VideoJob cache (cache.py) ---------------------------------------------------------------------
    #: Server-side timeout of the cache's watch (jittered up to 1.5x); a watch that ends resumes where it stopped.
    cache_watch_timeout_seconds: int = Field(default=300, ge=10)
    #: Finished VideoJobs the cache keeps besides the open ones (the newest by creation): what GET /api/v1/jobs lists
    #: of the history, and the bound on the cache's memory. Older finished jobs are read one by one (GET job).
    cache_finished_jobs: int = Field(default=500, ge=0)

    # --- admission ------------------------------------------------------------------------------------------
    #: Active (pending + processing) VideoJobs allowed in the namespace; more submits get 429.
    max_concurrent_jobs: int = Field(default=2, ge=1)
    #: Active VideoJobs allowed per API key (admins included); more submits with that key get 429. Unset: only the
    #: namespace's limit applies.
    max_active_jobs_per_key: int | None = Field(default=None, ge=1)
    #: Retry-After seconds sent with 429.
    retry_after_seconds: int = Field(default=10, ge=1)

    # --- job event streams (GET /api/v1/job/{id}/events) ---------------------------------------------------
    #: Event streams open at once on this replica; more get 429.
    events_max_streams: int = Field(default=1000, ge=1)
    #: Event streams open at once per client (its API key, or its address without keys); more get 429.
    events_max_streams_per_client: int = Field(default=20, ge=1)
    #: Seconds between comment lines on an idle stream, so proxies and load balancers do not close it.
    events_heartbeat_seconds: float = Field(default=15.0, gt=0)
    #: Seconds a finished job's events are kept for clients that reconnect with Last-Event-ID.
    events_history_seconds: int = Field(default=600, ge=0)

    # --- uploads --------------------------------------------------------------------------------------------
    #: Largest image upload, in bytes (413 beyond it).
    max_image_bytes: int = Field(default=20 * _MIB, ge=1)
    #: Largest video upload, in bytes (413 beyond it).
    max_video_bytes: int = Field(default=200 * _MIB, ge=1)
    #: Decompression-bomb guard: width x height of an uploaded image.
    max_image_pixels: int = Field(default=4096 * 4096, ge=1)
    #: Longest uploaded video, in seconds.
    max_video_seconds: float = Field(default=120.0, gt=0)
    #: Bytes the uploads in progress may spool to the temporary folder (the chart's /tmp emptyDir) at once. Each
    #: upload holds room for its route's largest file until it is answered; one that does not fit gets 429.
    upload_temp_bytes: int = Field(default=1024 * _MIB, ge=1)
    #: Seconds a request body may take to arrive, in all: a slower one (a slow-drip upload) gets 408.
    body_timeout_seconds: float = Field(default=300.0, gt=0)
    #: Most frames in an uploaded video.
    max_video_frames: int = Field(default=3600, ge=1)
    #: Largest width or height of an uploaded video.
    max_video_dimension: int = Field(default=4096, ge=1)

    # --- S3 layout (the connection is videogen_common.s3.S3Settings) ------------------------------------------
    #: Bucket for uploads and outputs.
    bucket: str = "videogen"
    #: Uploads go to <inputs_prefix>/<videojob name>/<8 hex of the submit>/input.<ext>.
    inputs_prefix: str = "inputs"
    #: The API sets spec.output to <bucket>/<outputs_prefix>, so /outputs/<file> reads <outputs_prefix>/<file>.
    outputs_prefix: str = "outputs"
    #: Answer /outputs/<file> with a redirect to a presigned S3 URL instead of streaming through the API.
    outputs_presigned_redirect: bool = False
    #: The S3 endpoint as clients reach it (e.g. https://s3.example.com), for those presigned URLs; unset: the
    #: endpoint the API itself uses (VIDEOGEN_S3_ENDPOINT_URL), often an in-cluster name clients cannot resolve.
    outputs_public_endpoint_url: str | None = None
    #: Lifetime of those presigned URLs.
    presigned_url_ttl_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)

    # --- access ---------------------------------------------------------------------------------------------
    #: API keys accepted in X-API-Key or Authorization: Bearer: '<key>' for a tenant, who sees only its own jobs,
    #: '<key> admin' for an admin, who sees all. Without keys (here or in the file) the API does not start, unless
    #: auth_disabled is true.
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    #: A file with one key per line, '<key>' or '<key> admin' (a mounted Secret); read at startup, joined with
    #: api_keys. A file that cannot be read or holds no key stops the API at start.
    api_keys_file: Path | None = None
    #: Serve without authentication: every caller is one tenant and sees every job. The only way to turn keys off.
    auth_disabled: bool = False

    # --- webhooks (the operator delivers them; the API refuses at submit a destination it would not call) ------
    #: Host names and CIDRs a webhook may reach although internal or plain http: the operator's allow-list (the
    #: chart sets both from webhooks.allowlist). Any other webhook must be https to a public address.
    webhook_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: The cluster's service and pod CIDRs, refused as webhook destinations (private ranges always are).
    webhook_internal_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- identity (GET /health) -----------------------------------------------------------------------------
    #: Reported as "service" by GET /health.
    service_name: str = "videogen-api"

    # --- serving (videogen-api console script) --------------------------------------------------------------
    #: Listen address of the HTTP server.
    host: str = "0.0.0.0"  # noqa: S104 - a container listens on all its interfaces
    #: Listen port of the HTTP server.
    port: int = 8080
    #: Proxies whose X-Forwarded-Proto and X-Forwarded-For are believed (comma-separated addresses or CIDRs, * for
    #: any; uvicorn's forwarded_allow_ips): behind an ingress, its addresses, so that output URLs say https.
    forwarded_allow_ips: str = "127.0.0.1"
    #: Connections (and requests in progress) at once before the server answers 503 (uvicorn's limit_concurrency).
    max_connections: int = Field(default=256, ge=1)
    #: Seconds a stopping server (SIGTERM: a rollout, a drain) lets the requests in progress finish before it cuts
    #: them (uvicorn's timeout_graceful_shutdown); job event streams end at once (clients reconnect elsewhere). Unset:
    #: body_timeout_seconds + 60, so an upload that began before the stop still arrives and is stored.
    shutdown_grace_seconds: float | None = Field(default=None, gt=0)
    #: json (one object per line with the request id, for log pipelines) or plain.
    log_format: LogFormat = "json"

    @field_validator(
        "model_catalog", "model_allowlist", "api_keys", "webhook_allowlist", "webhook_internal_networks", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        # Environment variables hold one string; a comma list reads better in a Helm values file than JSON.
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("webhook_internal_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    def shutdown_grace(self) -> float:
        """shutdown_grace_seconds, or the upload window when unset."""
        if self.shutdown_grace_seconds is not None:
            return self.shutdown_grace_seconds
        return self.body_timeout_seconds + UPLOAD_STORE_SECONDS

    def default_model(self, mode: str) -> str | None:
        """The configured default model for a mode, or None for the operator's default."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        value: str = getattr(self, "default_model_" + mode.replace("-", "_"))
        return value or None

    def model_policy(self) -> ModelPolicy:
        """The default models and the allow-list, for videogen_common.model_choice (the operator's decision,
        which the API makes ahead of it for a fast 4xx)."""
        defaults = {mode: model for mode in MODES if (model := self.default_model(mode)) is not None}
        # A missing model waits (or is downloaded, with auto_download); the API answers 503 rather than failing it.
        return policy_from(defaults, self.model_allowlist, "wait")
