"""The whole system for tests: the Helm chart installed on the local node, as `make up` installs it.

Values are dev/local-values.yaml (videogen_dev.release, the file `make up` uses) with only what must differ per
release merged in: free ports (pods share the host's network), the S3 endpoint and per-namespace prefixes, and the
caller's overrides. The S3 store may be a private SeaweedFS, so a test can stop it without touching the shared one.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import S3Endpoint
from videogen_dev import processes, release, smoke_models, system
from videogen_dev import s3 as local_s3
from videogen_dev.cluster import Cluster
from videogen_dev.settings import DevSettings
from videogen_dev.waiting import wait_for

RELEASE_NAME = "videogen"
#: SeaweedFS listens on each HTTP port and on that port + 10000 (gRPC).
SEAWEEDFS_GRPC_OFFSET = 10000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_seaweedfs_port(taken: set[int]) -> int:
    """A port that is free, as is the port SeaweedFS puts its gRPC beside it; below the kernel's ephemeral range so
    an outgoing connection does not take it between this check and SeaweedFS binding it."""
    for _ in range(200):
        port = random.randrange(20000, 22000)
        pair = {port, port + SEAWEEDFS_GRPC_OFFSET}
        if not pair & taken and all(_bindable(p) for p in pair):
            taken |= pair
            return port
    raise RuntimeError("no free port pair for a private SeaweedFS")


def private_s3_settings(base: DevSettings, state_dir: Path) -> DevSettings:
    """`base` with its own S3 ports and state folder (data, pid file, log): a second SeaweedFS beside the shared one."""
    taken: set[int] = set()
    ports = {
        field: _free_seaweedfs_port(taken) for field in ("s3_port", "s3_master_port", "s3_volume_port", "s3_filer_port")
    }
    return base.model_copy(update={"state_dir": state_dir, **ports})


@contextlib.contextmanager
def private_s3(base: DevSettings) -> Iterator[S3Endpoint]:
    """A SeaweedFS of its own on free ports, removed with its data afterwards."""
    state_dir = Path(tempfile.mkdtemp(prefix="videogen-private-s3-"))
    settings = private_s3_settings(base, state_dir)
    try:
        local_s3.start(settings)
        yield S3Endpoint.of(settings)
    finally:
        # A short grace: its data is deleted next, and SeaweedFS takes its time over SIGTERM.
        processes.stop(settings, local_s3.NAME, grace_seconds=1)
        shutil.rmtree(state_dir, ignore_errors=True)


@dataclass(frozen=True)
class SystemRelease:
    """An installed release: its namespace, where its API answers, its S3 store and the values it was installed with."""

    namespace: str
    api_url: str
    s3: S3Endpoint
    values: dict[str, Any]

    @property
    def outputs_prefix(self) -> str:
        return str(self.values["s3"]["outputsPrefix"])

    def output_keys(self) -> list[str]:
        listed = self.s3.client().list_objects_v2(Bucket=self.s3.bucket, Prefix=f"{self.outputs_prefix}/")
        return sorted(item["Key"] for item in listed.get("Contents", []))


def create_restricted_namespace(cluster: Cluster, prefix: str) -> str:
    """A namespace that enforces Pod Security "restricted", as the chart promises every pod meets it."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl(
        "label",
        "namespace",
        name,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )
    return name


def release_values(
    namespace: str, s3: S3Endpoint, overrides: Mapping[str, Any] | None = None, *, containers: bool
) -> dict[str, Any]:
    """dev/local-values.yaml for a release in `namespace`: free ports, `s3` with per-namespace prefixes, overrides;
    with `containers` (the node runs our images' pods as containers) the chart's own non-root users, as `make up`."""
    prefix = f"system-tests/{namespace}"
    per_release = {
        "api": {"port": free_port()},
        # Metrics on (`make up` leaves them off): tests/e2e/test_monitoring.py scrapes them.
        "operator": {"healthPort": free_port(), "metricsPort": free_port()},
        "s3": {
            "endpoint": s3.endpoint_url,
            "region": s3.region,
            "bucket": s3.bucket,
            "inputsPrefix": f"{prefix}/inputs",
            "outputsPrefix": f"{prefix}/outputs",
            "progressPrefix": prefix,
        },
    }
    users = system.chart_users() if containers else {}
    return release.local_values(release.merged(release.merged(users, per_release), overrides or {}))


def _model_cache_copy(settings: DevSettings, target: Path) -> None:
    """The smoke models, copied from the development model cache (filled once, as `make up` fills it): the release's
    download Jobs then write only into their own copy."""
    source = system.model_cache_dir(settings)
    smoke_models.fill_model_cache(settings, source)
    shutil.copytree(source / "hub", target / "hub", dirs_exist_ok=True)
    if settings.node_containers:
        # The release's pods run as the chart's user and write the cache (locks, refs) as a real model cache's would.
        subprocess.run(["chmod", "-R", "a+rwX", str(target)], check=True)


def _api_status(api_url: str) -> int:
    try:
        return httpx.get(f"{api_url}/readyz", timeout=5).status_code
    except httpx.TransportError:
        return 0


def _model_states(cluster: Cluster, namespace: str) -> dict[str, str]:
    models = cluster.get_json("videomodels", "-n", namespace)["items"]
    return {m["metadata"]["name"]: m.get("status", {}).get("state", "") for m in models}


@contextlib.contextmanager
def installed_release(
    cluster: Cluster, s3: S3Endpoint, prefix: str, overrides: Mapping[str, Any] | None = None
) -> Iterator[SystemRelease]:
    """The chart installed into a fresh namespace; yields once the API is ready and every VideoModel is Ready."""
    namespace = create_restricted_namespace(cluster, prefix)
    cache = Path(tempfile.mkdtemp(prefix=f"videogen-model-cache-{namespace}-"))
    pv_name = f"videogen-model-cache-{namespace}"
    values = release_values(namespace, s3, overrides, containers=cluster.settings.node_containers)
    handle = SystemRelease(namespace, f"http://127.0.0.1:{values['api']['port']}", s3, values)
    try:
        _model_cache_copy(cluster.settings, cache)
        release.apply_prerequisites(cluster, namespace, cache, pv_name, s3.access_key, s3.secret_key)
        release.install(cluster, RELEASE_NAME, namespace, values)
        wait_for(lambda: _api_status(handle.api_url), lambda code: code == 200, 240, f"{handle.api_url}/readyz")
        wait_for(
            lambda: _model_states(cluster, namespace),
            lambda states: bool(states) and all(state == "Ready" for state in states.values()),
            240,
            "the release's VideoModels to be Ready (downloaded offline from the model cache)",
        )
        yield handle
    finally:
        for line in cluster.kubectl(
            "logs", "deploy/videogen-operator", "-n", namespace, "--tail=40", check=False
        ).stdout.splitlines():
            print("operator:", line)
        release.uninstall(cluster, RELEASE_NAME, namespace)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        cluster.kubectl("delete", "persistentvolume", pv_name, "--wait=false", check=False)
        shutil.rmtree(cache, ignore_errors=True)
        with contextlib.suppress(Exception):  # the store may be gone already; its objects then went with it
            client = s3.client()
            listed = client.list_objects_v2(Bucket=s3.bucket, Prefix=f"system-tests/{namespace}/")
            for item in listed.get("Contents", []):
                client.delete_object(Bucket=s3.bucket, Key=item["Key"])
