"""The API served for real: uvicorn on a random loopback port, in this process, under its own service account
(bound to helm/videogen/files/rbac/api-rules.yaml) in the test's fresh namespace, against the local SeaweedFS.

Tests play the operator's part with the admin credentials: they write VideoJob/VideoModel status through the
status subresource and put output files in S3.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import uvicorn
import yaml
from kubernetes import client, config

from tests.conftest import S3Endpoint
from videogen_api.app import create_app
from videogen_api.cache import VideoJobCache
from videogen_api.config import ApiSettings
from videogen_api.kube import Kube
from videogen_api.main import server_config
from videogen_common.resources.meta import GROUP, VERSION
from videogen_common.s3 import S3Settings
from videogen_dev.cluster import Cluster
from videogen_dev.kubeconfig import write_token_kubeconfig

REPO = Path(__file__).resolve().parents[2]
API_RULES = REPO / "helm" / "videogen" / "files" / "rbac" / "api-rules.yaml"
DATA = Path(__file__).parent / "data"
SERVICE_ACCOUNT = "videogen-api"


@pytest.fixture(scope="session")
def admin(cluster: Cluster, crds: None) -> client.ApiClient:
    """The admin's Kubernetes client (the operator's and the test's side, never the API's)."""
    api_client: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig)
    )
    return api_client


@pytest.fixture
def api_kubeconfig(cluster: Cluster, admin: client.ApiClient, namespace: str, tmp_path: Path) -> Path:
    """A kubeconfig for the API's service account, bound to exactly the chart's API rules."""
    core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    metadata = client.V1ObjectMeta(name=SERVICE_ACCOUNT)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata=metadata))
    rules = [client.V1PolicyRule(**rule) for rule in yaml.safe_load(API_RULES.read_text())]
    rbac.create_namespaced_role(namespace, client.V1Role(metadata=metadata, rules=rules))
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=metadata,
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=SERVICE_ACCOUNT),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=SERVICE_ACCOUNT, namespace=namespace)],
        ),
    )
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    status = core.create_namespaced_service_account_token(SERVICE_ACCOUNT, namespace, request).status
    assert status is not None
    token = str(status.token)
    user = f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"
    return write_token_kubeconfig(cluster.settings, user, token, tmp_path / "api.kubeconfig")


def s3_settings(s3: S3Endpoint) -> S3Settings:
    return S3Settings(
        endpoint_url=s3.endpoint_url,
        access_key_id=s3.access_key,
        secret_access_key=s3.secret_key,
        region=s3.region,
        max_attempts=1,
    )


@dataclass
class RunningApi:
    url: str
    http: httpx.Client
    settings: ApiSettings
    namespace: str
    inputs_prefix: str
    #: The app's VideoJob cache, for tests that look at (or freeze) it directly.
    cache: VideoJobCache

    def wait_until_cached(self, videojob: dict[str, Any]) -> None:
        """Wait until the cache holds this version of the VideoJob (or a later one). Job reads see another
        writer's change (the operator's) once the watch delivers it, so a test that changes status as the
        operator and then reads it through the API waits for that first."""
        name, version = videojob["metadata"]["name"], int(videojob["metadata"]["resourceVersion"])

        def cached() -> bool:
            seen = self.cache.get(name)
            return seen is not None and int(seen.metadata.resource_version or 0) >= version

        assert wait_until(cached), f"the cache never saw {name} at resourceVersion {version}"


ServeApi = Callable[..., RunningApi]


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own handlers
        pass


@pytest.fixture
def serve_api(api_kubeconfig: Path, namespace: str, s3: S3Endpoint) -> Iterator[Callable[..., RunningApi]]:
    """Start the API with these settings (ApiSettings fields); the default is the chart's defaults for this test's
    namespace, with inputs and outputs under a prefix of its own so tests never see each other's files, and
    authentication off unless the test gives keys."""
    servers: list[tuple[_Server, threading.Thread, httpx.Client]] = []

    def start(
        s3_override: S3Settings | None = None,
        wait_for_cache: bool = True,
        kube: Callable[[ApiSettings], Kube] | None = None,
        **overrides: Any,
    ) -> RunningApi:
        fields: dict[str, Any] = {
            "namespace": namespace,
            "kubeconfig": api_kubeconfig,
            "bucket": s3.bucket,
            "inputs_prefix": f"test-inputs/{namespace}",
            "outputs_prefix": f"test-outputs/{namespace}",
            "auth_disabled": "api_keys" not in overrides and "api_keys_file" not in overrides,
        }
        settings = ApiSettings.model_validate(fields | overrides)
        # ``kube`` wraps the API's own Kubernetes client (its service account), for tests that inject a fault.
        app = create_app(settings, s3_settings=s3_override or s3_settings(s3), kube=kube(settings) if kube else None)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        # Lifespan on: it starts the VideoJob cache, as in production.
        server = _Server(server_config(app, settings, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        url = f"http://127.0.0.1:{port}"
        http = httpx.Client(base_url=url, timeout=30)
        servers.append((server, thread, http))
        cache: VideoJobCache = app.state.services.job_cache
        # Tests start from the steady state, where reads come from the cache (not the apiserver fallback).
        assert not wait_for_cache or cache.wait_synced(10), "the VideoJob cache did not sync"
        return RunningApi(url, http, settings, namespace, settings.inputs_prefix, cache)

    yield start
    for server, thread, http in servers:
        http.close()
        server.should_exit = True
        thread.join(timeout=10)


def wait_until(predicate: Callable[[], object], timeout: float = 10, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass (the cache converges asynchronously)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@pytest.fixture
def api(serve_api: Callable[..., RunningApi]) -> RunningApi:
    """The API with default settings (at most 2 active jobs, no default models)."""
    return serve_api()


class Operator:
    """The operator's part, played by the test with admin credentials."""

    def __init__(self, admin: client.ApiClient, namespace: str, s3: S3Endpoint) -> None:
        self.objects = client.CustomObjectsApi(admin)
        self.namespace = namespace
        self.s3 = s3

    def videojob(self, job_id: str) -> dict[str, Any]:
        result = self.objects.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "videojobs", job_id.replace("_", "-")
        )
        return cast(dict[str, Any], result)

    def videojobs(self) -> list[dict[str, Any]]:
        result = self.objects.list_namespaced_custom_object(GROUP, VERSION, self.namespace, "videojobs")
        return cast(list[dict[str, Any]], cast(dict[str, Any], result)["items"])

    def set_job_status(self, job_id: str, status: dict[str, Any]) -> dict[str, Any]:
        """Merge ``status`` into the VideoJob's status; returns the object the apiserver wrote."""
        result = self.objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, "videojobs", job_id.replace("_", "-"), {"status": status},
            _content_type="application/merge-patch+json",
        )  # fmt: skip
        return cast(dict[str, Any], result)

    def create_model(self, name: str, repo_id: str, state: str | None = "Ready", **status: Any) -> None:
        """A VideoModel with this status (``status`` adds camelCase fields, e.g. ``modes=[...]``)."""
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "VideoModel",
            "metadata": {"name": name},
            "spec": {"repoId": repo_id},
        }
        self.objects.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "videomodels", body)
        if state is not None:
            self.objects.patch_namespaced_custom_object_status(
                GROUP, VERSION, self.namespace, "videomodels", name,
                {"status": {"state": state, "path": f"/models/{name}", **status}},
                _content_type="application/merge-patch+json",
            )  # fmt: skip

    def videomodels(self) -> list[dict[str, Any]]:
        result = self.objects.list_namespaced_custom_object(GROUP, VERSION, self.namespace, "videomodels")
        return cast(list[dict[str, Any]], cast(dict[str, Any], result)["items"])

    def put_output(self, prefix: str, filename: str, data: bytes) -> None:
        self.s3.client().put_object(
            Bucket=self.s3.bucket, Key=f"{prefix}/{filename}", Body=data, ContentType="video/mp4"
        )

    def keys_under(self, prefix: str) -> list[str]:
        listing = self.s3.client().list_objects_v2(Bucket=self.s3.bucket, Prefix=prefix + "/")
        return [item["Key"] for item in listing.get("Contents", [])]


@pytest.fixture
def operator(admin: client.ApiClient, namespace: str, s3: S3Endpoint) -> Operator:
    return Operator(admin, namespace, s3)
