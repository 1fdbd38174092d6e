"""The operator's settings: one pydantic-settings object read from ``VIDEOGEN_OPERATOR_*`` variables.

Structured values (lists, dicts) are JSON in the environment, e.g.
``VIDEOGEN_OPERATOR_NODE_SELECTOR='{"videogen.dev/pool": "gpu"}'``; ``null`` unsets an optional value. The model
allow-list is comma-separated, as the API's is (``VIDEOGEN_OPERATOR_MODEL_ALLOWLIST=a/b,c/d``), so the chart passes
both the same value.
S3 connection settings are the shared ``VIDEOGEN_S3_*`` (:class:`videogen_common.s3.S3Settings`).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from videogen_common.model_choice import ANY_MODEL, ModelPolicy
from videogen_common.resources.videojob import Mode
from videogen_common.runner_contract import RuntimeOptions
from videogen_common.webhooks import Allowlist, IPNetwork, parse_allowlist, parse_networks, sign

GPU_TOLERATION: dict[str, Any] = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


class OperatorSettings(BaseSettings):
    """Everything an installation tunes; the Helm chart sets these from its values."""

    model_config = SettingsConfigDict(env_prefix="VIDEOGEN_OPERATOR_", extra="ignore", env_parse_none_str="null")

    # --- the generation Job's pod -------------------------------------------------------------------------
    #: Image of generation pods (the runner).
    runner_image: str = "videogen/runner:0.1.0"
    #: Command of generation pods; the runner contract's input arrives in env VIDEOGEN_RUNNER_INPUT.
    runner_command: list[str] = ["videogen-runner", "run"]
    #: imagePullPolicy of generation pods.
    runner_image_pull_policy: str = "IfNotPresent"
    #: A service account with no RBAC bindings; its token is never mounted either. It may carry a cloud identity
    #: (IRSA, Workload Identity) through its annotations, for S3 without keys (s3_secret_name null).
    runner_service_account: str = "videogen-runner"
    #: Secrets (names, in each VideoJob's and VideoModel's namespace) for pulling the runner and download images.
    image_pull_secrets: list[str] = Field(default_factory=list)
    #: Restricted pods run as this user; null leaves it to the image's USER (runAsNonRoot still applies).
    runner_run_as_user: int | None = 1000
    #: CPU request of generation pods (the GPU count is per VideoJob, spec.gpus).
    runner_cpu_request: str = "4"
    #: Memory request of generation pods.
    runner_memory_request: str = "32Gi"
    #: Memory limit of generation pods; null for none.
    runner_memory_limit: str | None = "64Gi"
    #: Size of the in-memory /dev/shm (PyTorch data loading and NCCL need more than the default 64Mi).
    shm_size_limit: str = "8Gi"
    #: Size of the scratch emptyDir at /tmp (decoded frames, the MP4 before upload).
    tmp_size_limit: str = "50Gi"
    #: nodeSelector of generation pods: the GPU pool.
    node_selector: dict[str, str] = Field(default_factory=lambda: {"videogen.dev/pool": "gpu"})
    #: Tolerations of generation pods (the GPU pool's taints).
    tolerations: list[dict[str, Any]] = Field(default_factory=lambda: [dict(GPU_TOLERATION)])
    #: Affinity of generation pods; null for none.
    affinity: dict[str, Any] | None = None
    #: runtimeClassName of generation pods (e.g. nvidia); null for the cluster default.
    runtime_class_name: str | None = None
    #: priorityClassName of generation pods; null for none.
    priority_class_name: str | None = None
    #: What a VideoJob may ask for in spec.scheduling, per field; a value not listed fails the VideoJob (reason
    #: SchedulingNotAllowed) before any Job exists. Empty: no per-job override of that field is allowed.
    allowed_priority_classes: list[str] = Field(default_factory=list)
    #: runtimeClassNames a VideoJob may ask for in spec.scheduling.runtimeClassName.
    allowed_runtime_classes: list[str] = Field(default_factory=list)
    #: nodeSelector label -> the values a VideoJob may select (merged over node_selector; the job's value wins).
    allowed_node_selectors: dict[str, list[str]] = Field(default_factory=dict)
    #: Tolerations a VideoJob may add to ``tolerations``: each one it lists must equal one of these.
    allowed_tolerations: list[dict[str, Any]] = Field(default_factory=list)
    #: Extra literal environment for the runner (e.g. VIDEOGEN_RUNNER_* tuning); never credentials.
    runner_env: dict[str, str] = Field(default_factory=dict)
    #: How generation pods use the GPU: the runner contract's RuntimeOptions as camelCase JSON, e.g.
    #: `{"compile": true, "attentionBackend": "_native_cudnn"}` (offload, attentionBackend, compile, vaeTiling, device;
    #: what is left out is automatic).
    runner_runtime: RuntimeOptions = Field(default_factory=RuntimeOptions)
    #: Folder inside the model cache PVC for torch.compile's caches, mounted read-write at /compile-cache in generation
    #: pods (the weights stay read-only), so a node compiles a model once rather than every job; null for none.
    compile_cache_subpath: str | None = None
    #: Seconds a finished Job (and its pods) stays for inspection before the TTL controller deletes it.
    job_ttl_seconds: int = 86400

    # --- model cache --------------------------------------------------------------------------------------
    #: PVC holding the model cache (huggingface_hub layout under ``<mount>/hub``), in each VideoJob's namespace.
    model_cache_pvc: str = "videogen-model-cache"
    #: Where the model cache is mounted (read-only) in generation pods and (read-write) in download pods.
    model_cache_mount_path: str = "/models"
    #: Model per mode when spec.model is empty (a VideoModel name or repo id).
    default_models: dict[Mode, str] = Field(default_factory=dict)
    #: Hugging Face repo ids a VideoJob may run and a VideoModel may download (comma-separated); * allows any, empty
    #: allows none. A VideoJob whose model is not listed fails with reason ModelNotAllowed, whether it names the repo
    #: id or a VideoModel that downloads it; a VideoModel of a repo not listed fails without downloading.
    model_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=lambda: [ANY_MODEL])
    #: What a VideoJob does while its model is not Ready: wait (reason WaitingForModel) or fail at once.
    missing_model_policy: Literal["wait", "fail"] = "wait"

    # --- model download Jobs ------------------------------------------------------------------------------
    #: Image of model download pods (the operator image; no torch).
    download_image: str = "videogen/operator:0.1.0"
    #: Command of model download pods.
    download_command: list[str] = ["python", "-m", "videogen_operator.download"]
    #: Secret (in the VideoModel's namespace) with key HF_TOKEN for gated models; null for none.
    hf_token_secret: str | None = None
    #: Extra literal environment for download pods (e.g. HF_ENDPOINT, or HF_HUB_OFFLINE=1 for a pre-filled cache).
    download_env: dict[str, str] = Field(default_factory=dict)
    #: Where download pods run (any node that can mount the cache PVC; a CPU pool is enough).
    download_node_selector: dict[str, str] = Field(default_factory=dict)
    #: Tolerations of download pods.
    download_tolerations: list[dict[str, Any]] = Field(default_factory=list)
    #: Attempts of a download Job before the VideoModel is Failed.
    download_backoff_limit: int = 3
    #: activeDeadlineSeconds of a download Job.
    download_deadline_seconds: int = 6 * 3600
    #: Largest model download, in bytes: the files a download would fetch, as the hub lists them, are added up
    #: before any weight is fetched and a repo over this fails (InvalidModel); null for no limit.
    download_max_bytes: int | None = Field(default=200 * 2**30, ge=1)
    #: Download Jobs running at once across the watched namespaces; more VideoModels wait (Pending).
    max_concurrent_downloads: int = Field(default=2, ge=1)

    # --- S3 as the runner sees it -------------------------------------------------------------------------
    #: Secret (in the VideoJob's namespace) holding the runner's S3 keys; mounted as env valueFrom, never inline.
    #: null: runner pods get no keys and the S3 client finds credentials itself (IRSA's web identity token, Workload
    #: Identity's metadata server) through the runner service account's identity.
    s3_secret_name: str | None = "videogen-s3"  # noqa: S105 - a Secret's name, not a secret
    #: Key in that Secret holding the access key id.
    s3_secret_access_key_id_key: str = "accessKeyId"  # noqa: S105 - a key name in that Secret
    #: Key in that Secret holding the secret access key.
    s3_secret_secret_access_key_key: str = "secretAccessKey"  # noqa: S105 - a key name in that Secret
    #: S3 endpoint as pods reach it; null means the operator's own VIDEOGEN_S3_ENDPOINT_URL.
    runner_s3_endpoint_url: str | None = None
    #: Bucket of outputs (and progress objects) unless a VideoJob's spec.output names another.
    output_bucket: str = "videogen"
    #: Key prefix of outputs in that bucket (the API serves <prefix>/<file> as /outputs/<file>).
    output_prefix: str = "outputs"
    #: Where runners write their progress objects (in output_bucket); the operator reads them.
    progress_prefix: str = ""
    #: Where the API uploads inputs (in output_bucket; the API's inputs_prefix): an expired VideoJob's input under
    #: <inputs_prefix>/<its name>/ is deleted with it; an input anywhere else is someone else's and stays.
    inputs_prefix: str = "inputs"

    # --- queueing -----------------------------------------------------------------------------------------
    #: Cap on generation Jobs running at once across the watched namespaces; null for no cap. The default is the
    #: API's default 429 limit (max_concurrent_jobs, the reference server's 2), so neither refuses work the other has
    #: room for.
    max_running_jobs: int | None = Field(default=2, ge=1)
    #: Cap on GPUs requested (the spec.gpus of running generation Jobs, summed) across the watched namespaces; null
    #: for no cap. A VideoJob asking for more than this fails (SchedulingNotAllowed): it could never start.
    max_gpus: int | None = Field(default=4, ge=1)
    #: Highest spec.priority a VideoJob may use on its own; above it, only with an allowed
    #: spec.scheduling.priorityClassName (allowed_priority_classes), else it fails (SchedulingNotAllowed). null: no
    #: ceiling.
    max_priority: int | None = 0
    #: Kueue LocalQueue for VideoJobs without spec.queueName; with a queue, Kueue (not this cap) admits the Job.
    default_queue_name: str | None = None

    # --- retention ----------------------------------------------------------------------------------------
    #: Seconds a finished VideoJob is kept (a job's spec.ttlSecondsAfterFinished may ask for less); then it is deleted
    #: with its Job, its uploaded input and its progress object. null keeps finished VideoJobs forever.
    videojob_ttl_seconds: int | None = Field(default=7 * 86400, ge=0)
    #: Seconds an output (MP4, poster, metadata under output_bucket/output_prefix) is kept after it was written; null
    #: keeps outputs forever. Outputs a VideoJob wrote elsewhere (its spec.output) are never deleted by the operator.
    output_ttl_seconds: int | None = Field(default=None, ge=1)
    #: Seconds between retention sweeps (a paged list of finished VideoJobs, and of outputs when output_ttl_seconds
    #: is set).
    retention_sweep_seconds: float = Field(default=300.0, gt=0)
    #: Objects per page of a retention sweep's lists.
    retention_page_size: int = Field(default=500, ge=1, le=1000)

    # --- webhooks (spec.webhook) ---------------------------------------------------------------------------
    #: The Standard Webhooks signing secret, whsec_ + base64 of 24-64 random bytes (the chart passes it from a
    #: Secret). Unset: no webhook is ever sent unsigned; deliveries fail (status.webhook.lastError says why).
    webhook_secret: SecretStr | None = None
    #: Destinations trusted beyond public https (comma-separated host names and CIDRs, e.g.
    #: receiver.example.internal,10.20.0.0/16): they may use http and internal addresses.
    webhook_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: The cluster's service and pod CIDRs (comma-separated), refused as destinations like private ranges are
    #: (they need not be RFC 1918).
    webhook_internal_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Seconds one delivery may take (connect, send, answer) before it counts as failed.
    webhook_timeout_seconds: float = 10.0
    #: Seconds before the first retry of a failed delivery; each later retry waits twice as long.
    webhook_retry_first_seconds: float = 5.0
    #: The longest wait between two retries.
    webhook_retry_max_seconds: float = 600.0
    #: Seconds after an event within which it is retried; after that it is dropped (status.webhook.dropped).
    webhook_retry_window_seconds: float = 86400.0

    # --- operations ---------------------------------------------------------------------------------------
    #: Seconds between progress reads while a pod runs (and re-checks of a queued or just-created VideoJob).
    poll_seconds: float = 2.0
    #: Seconds a woken reconcile waits for the rest of a burst of watch events (a Job and its pod change together),
    #: so that the burst makes one status write rather than one per event. A new VideoJob's Job is created at once.
    settle_seconds: float = 0.25
    #: Seconds between re-checks of an open VideoJob whose pod is not running (watch events wake it at once; this is
    #: only the fallback for a missed one).
    resync_seconds: float = 30.0
    #: Port of the Prometheus metrics server; null turns it off.
    metrics_port: int | None = 9090
    #: Address the metrics server listens on (0.0.0.0 in a pod; loopback where pods share the host's network).
    metrics_host: str = "0.0.0.0"  # noqa: S104 - a pod's own network namespace
    #: kopf's liveness endpoint (the Deployment's livenessProbe); null turns it off.
    liveness_endpoint: str | None = "http://0.0.0.0:8080/healthz"
    #: json (one object per line, for log pipelines) or plain.
    log_format: Literal["json", "plain"] = "json"
    #: Leader election: only the operator holding the Lease reconciles; others watch and wait to take over. Off only
    #: where one operator runs by construction.
    leader_election: bool = True
    #: Name of the coordination.k8s.io Lease.
    lease_name: str = "videogen-operator"
    #: Namespace of the Lease; null: the pod's own namespace (else the one namespace watched).
    lease_namespace: str | None = None
    #: This operator's name in the Lease, unique per running operator; null: the host name (the pod's name, which a
    #: restarted container keeps, so it takes its own Lease back at once).
    leader_identity: str | None = None
    #: Seconds a Lease that stopped changing stays its holder's; a waiting operator takes over after this.
    lease_duration_seconds: int = Field(default=15, ge=2)
    #: Seconds the holder may go without renewing before it exits (less than the duration, so it stops first).
    lease_renew_deadline_seconds: float = Field(default=10.0, gt=0)
    #: Seconds between renewals, and between a waiting operator's looks at the Lease.
    lease_retry_seconds: float = Field(default=2.0, gt=0)
    #: kopf's advice: a server-side watch timeout so a silently dead watch is replaced.
    watch_server_timeout: int = 300
    #: Client-side watch timeout, a little above the server's.
    watch_client_timeout: int = 330
    #: Seconds to connect to the API server.
    watch_connect_timeout: int = 30

    @field_validator("model_allowlist", "webhook_allowlist", "webhook_internal_networks", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        # One string in the environment; a comma list, as the API reads its own allow-list.
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("compile_cache_subpath")
    @classmethod
    def _relative_subpath(cls, value: str | None) -> str | None:
        # Kubernetes refuses an absolute subPath or one with "..", but only when the pod is created: say it at start.
        path = PurePosixPath(value or ".")
        if value is not None and (not value or path.is_absolute() or ".." in path.parts):
            raise ValueError(f"must be a relative folder inside the model cache volume, without '..' (got {value!r})")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # A malformed secret must stop the start, not fail every delivery later.
        if value is not None:
            sign(value.get_secret_value(), "check", 0, b"")
        return value

    @field_validator("webhook_internal_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    @model_validator(mode="after")
    def _lease_timing(self) -> OperatorSettings:
        # The holder must give up before a waiting operator may take over, and renew more than once before that.
        if not self.lease_retry_seconds < self.lease_renew_deadline_seconds < self.lease_duration_seconds:
            raise ValueError(
                "lease timings must be lease_retry_seconds < lease_renew_deadline_seconds < lease_duration_seconds "
                f"(got {self.lease_retry_seconds}, {self.lease_renew_deadline_seconds}, {self.lease_duration_seconds})"
            )
        return self

    def webhook_trusted(self) -> Allowlist:
        """The destinations trusted beyond public https (``webhook_allowlist``)."""
        return parse_allowlist(self.webhook_allowlist)

    def webhook_internal(self) -> list[IPNetwork]:
        """``webhook_internal_networks`` as networks."""
        return parse_networks(self.webhook_internal_networks)

    def model_policy(self) -> ModelPolicy:
        """What :func:`videogen_common.model_choice.resolve_model` decides by: defaults, allow-list, missing models."""
        return ModelPolicy(dict(self.default_models), tuple(self.model_allowlist), self.missing_model_policy)
