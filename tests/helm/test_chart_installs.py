"""The chart installed into the local control plane: RBAC per service account, the installed operator and API running
a text-to-video request end to end (the local node runs our images as the venv's entry points), upgrade and
uninstall keeping what they must keep."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import S3Endpoint
from tests.helm.conftest import Helm, create_namespace, nowhere_args
from videogen_dev import smoke_models
from videogen_dev.cluster import Cluster
from videogen_dev.settings import REPO_ROOT, dev_settings
from videogen_dev.waiting import wait_for

SMOKE_MODEL = "tiny-wan-t2v"
SMOKE_REPO_ID = smoke_models.repo_id(SMOKE_MODEL)
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Release:
    namespace: str
    api_url: str
    s3_prefix: str


def local_node_values(namespace: str, s3: S3Endpoint, api_port: int, health_port: int) -> dict[str, Any]:
    """Values for the local node: one API replica and free ports (pods share the host network), root processes (the
    venv's python lives under /root), small runner requests, the only node carries the GPU taint."""
    prefix = f"helm-tests/{namespace}"
    unset_ids = {"runAsUser": None, "runAsGroup": None, "fsGroup": None}
    placement = {"tolerations": [GPU_TOLERATION]}
    return {
        # Pods share the host's network on the local node: listen on loopback only.
        "bindAddress": "127.0.0.1",
        "podSecurityContext": unset_ids,
        "api": {"replicas": 1, "port": api_port, **placement},
        "operator": {"healthPort": health_port, "metricsPort": None, "logFormat": "plain", **placement},
        "runner": {
            "runAsUser": None,
            "resources": {"cpuRequest": "100m", "memoryRequest": "256Mi", "memoryLimit": ""},
            "shmSize": "64Mi",
            "tmpSize": "1Gi",
        },
        "modelCache": {
            "storageClass": "-",
            "size": "1Gi",
            "downloadEnv": {"HF_HUB_OFFLINE": "1"},
            "downloadTolerations": [GPU_TOLERATION],
        },
        "models": [{"name": "smoke-wan-t2v", "repoId": SMOKE_REPO_ID, "family": "wan"}],
        "defaultModels": {"textToVideo": "smoke-wan-t2v"},
        "s3": {
            "endpoint": s3.endpoint_url,
            "bucket": s3.bucket,
            "region": s3.region,
            "inputsPrefix": f"{prefix}/inputs",
            "outputsPrefix": f"{prefix}/outputs",
            "progressPrefix": prefix,
        },
    }


@pytest.fixture(scope="module")
def release(helm: Helm, cluster: Cluster, crds: None, s3: S3Endpoint) -> Iterator[Release]:
    """The chart installed with the smoke model in its model cache (a hostPath PV), operator and API running."""
    namespace = create_namespace(cluster, "helm-e2e")
    cache = Path(tempfile.mkdtemp(prefix=f"videogen-helm-cache-{namespace}-"))
    pv_name = f"videogen-helm-{namespace}"
    api_port, health_port = free_port(), free_port()
    try:
        smoke_models.fill_model_cache(dev_settings(), cache, (SMOKE_MODEL,))
        pv = smoke_models.model_cache_volume(pv_name, cache, namespace)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "videogen-s3", "namespace": namespace},
            "stringData": {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key},
        }
        cluster.kubectl(
            "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [pv, secret]})
        )
        values = cache.parent / f"{cache.name}-values.yaml"
        values.write_text(yaml.safe_dump(local_node_values(namespace, s3, api_port, health_port)))
        helm.install("videogen", namespace, "-f", str(values))
        yield Release(namespace, f"http://127.0.0.1:{api_port}", f"helm-tests/{namespace}")
    finally:
        for line in cluster.kubectl(
            "logs", "deploy/videogen-operator", "-n", namespace, "--tail=40", check=False
        ).stdout.splitlines():
            print("operator:", line)
        helm.uninstall("videogen", namespace)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        cluster.kubectl("delete", "persistentvolume", pv_name, "--wait=false", check=False)
        shutil.rmtree(cache, ignore_errors=True)
        client = s3.client()
        listed = client.list_objects_v2(Bucket=s3.bucket, Prefix=f"helm-tests/{namespace}/")
        for item in listed.get("Contents", []):
            client.delete_object(Bucket=s3.bucket, Key=item["Key"])


def can_i(cluster: Cluster, account: str, verb: str, resource: str, namespace: str | None) -> bool:
    scope = ["--namespace", namespace] if namespace else []
    # "pods/exec" to kubectl would mean the pod named exec: a subresource goes in --subresource.
    resource, _, subresource = resource.partition("/")
    if subresource:
        scope.append(f"--subresource={subresource}")
    result = cluster.kubectl("auth", "can-i", verb, resource, f"--as={account}", *scope, check=False)
    return result.stdout.strip() == "yes"


# (verb, resource, namespace: "release" | "other" | None for cluster scope, allowed)
API_TABLE = [
    *[(v, "videojobs.videogen.dev", "release", True) for v in ["create", "get", "list", "watch", "patch"]],
    *[(v, "videomodels.videogen.dev", "release", True) for v in ["create", "get", "list"]],
    ("delete", "videojobs.videogen.dev", "release", False),
    ("update", "videojobs.videogen.dev", "release", False),
    ("patch", "videojobs.videogen.dev/status", "release", False),
    ("delete", "videomodels.videogen.dev", "release", False),
    ("get", "secrets", "release", False),
    ("list", "pods", "release", False),
    ("create", "pods/exec", "release", False),
    ("create", "jobs.batch", "release", False),
    ("list", "videojobs.videogen.dev", "other", False),
    ("create", "videojobs.videogen.dev", "other", False),
    ("list", "namespaces", None, False),
]
OPERATOR_TABLE = [
    *[
        (v, r, "release", True)
        for v in ["get", "list", "watch"]
        for r in ["videojobs.videogen.dev", "videomodels.videogen.dev"]
    ],
    ("patch", "videojobs.videogen.dev/status", "release", True),
    ("update", "videomodels.videogen.dev/status", "release", True),
    ("update", "videojobs.videogen.dev/finalizers", "release", True),
    *[(v, "jobs.batch", "release", True) for v in ["get", "list", "watch", "create", "delete"]],
    *[(v, "pods", "release", True) for v in ["get", "list", "watch"]],
    ("create", "events", "release", True),
    ("list", "namespaces", None, True),
    ("list", "customresourcedefinitions.apiextensions.k8s.io", None, True),
    ("create", "videojobs.videogen.dev", "release", False),
    ("delete", "videojobs.videogen.dev", "release", False),
    ("patch", "videojobs.videogen.dev", "release", False),
    ("update", "jobs.batch", "release", False),
    ("create", "pods", "release", False),
    ("delete", "pods", "release", False),
    ("create", "pods/exec", "release", False),
    ("get", "secrets", "release", False),
    ("list", "secrets", None, False),
    ("get", "configmaps", "release", False),
    ("create", "customresourcedefinitions.apiextensions.k8s.io", None, False),
    ("list", "videojobs.videogen.dev", "other", False),
    ("create", "jobs.batch", "other", False),
]
RUNNER_TABLE = [
    ("get", "videojobs.videogen.dev", "release", False),
    ("patch", "videojobs.videogen.dev/status", "release", False),
    ("get", "secrets", "release", False),
    ("list", "pods", "release", False),
    ("create", "pods/exec", "release", False),
    ("get", "configmaps", "release", False),
    ("list", "namespaces", None, False),
]


@pytest.mark.parametrize(
    ("account", "table"),
    [("videogen-api", API_TABLE), ("videogen-operator", OPERATOR_TABLE), ("videogen-runner", RUNNER_TABLE)],
    ids=["api", "operator", "runner"],
)
def test_each_service_account_can_do_exactly_its_rbac_table(
    cluster: Cluster, release: Release, account: str, table: list[tuple[str, str, str | None, bool]]
) -> None:
    user = f"system:serviceaccount:{release.namespace}:{account}"
    namespaces = {"release": release.namespace, "other": "default", None: None}
    wrong = [
        f"{verb} {resource} in {where or 'cluster'}: expected {'allowed' if allowed else 'denied'}"
        for verb, resource, where, allowed in table
        if can_i(cluster, user, verb, resource, namespaces[where]) != allowed
    ]
    assert wrong == []


def test_runner_service_account_mounts_no_token(cluster: Cluster, release: Release) -> None:
    account = cluster.get_json("serviceaccount", "videogen-runner", "-n", release.namespace)
    assert account["automountServiceAccountToken"] is False


def test_installed_operator_and_api_generate_a_text_to_video_request(cluster: Cluster, release: Release) -> None:
    wait_for(
        lambda: cluster.get_json("videomodel", "smoke-wan-t2v", "-n", release.namespace).get("status", {}),
        lambda status: status.get("state") in ("Ready", "Failed"),
        90,
        "the chart's VideoModel to be downloaded by the installed operator",
    )
    with httpx.Client(base_url=release.api_url, timeout=30) as api:
        wait_for(lambda: _status(api, "/readyz"), lambda code: code == 200, 60, "the installed API to be ready")
        submitted = api.post(
            "/api/v1/generate/text-to-video",
            json={
                "prompt": "a lighthouse at dusk",
                "num_frames": 9,
                "width": 64,
                "height": 64,
                "num_inference_steps": 2,
                "fps": 8,
                "seed": 0,
            },
        )
        assert submitted.status_code == 200, submitted.text
        job_id = submitted.json()["job_id"]
        job = wait_for(
            lambda: api.get(f"/api/v1/job/{job_id}").json(),
            lambda j: j["status"] in ("completed", "failed"),
            120,
            f"job {job_id} to finish",
        )
        assert job["status"] == "completed", job
        assert job["model"] == "smoke-wan-t2v"  # the chart's defaultModels.textToVideo
        video = api.get(f"/outputs/{job['output_path'].rsplit('/', 1)[-1]}")
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"


def _status(api: httpx.Client, path: str) -> int:
    try:
        return api.get(path).status_code
    except httpx.TransportError:
        return 0


@pytest.fixture
def idle_release(helm: Helm, cluster: Cluster, crds: None) -> Iterator[str]:
    """An installed release whose pods stay Pending: its objects are what these tests look at."""
    namespace = create_namespace(cluster, "helm-idle")
    helm.install("videogen", namespace, *nowhere_args())
    yield namespace
    helm.uninstall("videogen", namespace)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def videojob(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "videogen.dev/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": "kept", "namespace": namespace},
        "spec": {"mode": "text-to-video", "model": "smoke-wan-t2v", "prompt": "a cat"},
    }


def test_helm_upgrade_keeps_existing_videojobs(helm: Helm, cluster: Cluster, idle_release: str) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(videojob(idle_release)))
    before = cluster.get_json("videojob", "kept", "-n", idle_release)
    crd_uid = cluster.get_json("crd", "videojobs.videogen.dev")["metadata"]["uid"]
    helm.run(
        "upgrade",
        "videogen",
        str(REPO_ROOT / "helm" / "videogen"),
        "--namespace",
        idle_release,
        *nowhere_args(),
        "--set",
        "api.replicas=3",
        "--set",
        "queue.maxRunningJobs=2",
    )
    after = cluster.get_json("videojob", "kept", "-n", idle_release)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["spec"] == before["spec"]
    assert cluster.get_json("deployment", "videogen-api", "-n", idle_release)["spec"]["replicas"] == 3
    assert cluster.get_json("crd", "videojobs.videogen.dev")["metadata"]["uid"] == crd_uid


def test_helm_uninstall_leaves_the_crds_videojobs_and_model_cache(
    helm: Helm, cluster: Cluster, idle_release: str
) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(videojob(idle_release)))
    helm.run("uninstall", "videogen", "--namespace", idle_release)
    for crd in ["videojobs.videogen.dev", "videomodels.videogen.dev"]:
        assert cluster.get_json("crd", crd)["metadata"]["name"] == crd
    assert cluster.get_json("videojob", "kept", "-n", idle_release)["metadata"]["name"] == "kept"
    assert cluster.get_json("pvc", "videogen-model-cache", "-n", idle_release)["metadata"]["name"]
    gone = cluster.kubectl(
        "get",
        "deployment,role,serviceaccount",
        "-n",
        idle_release,
        "-l",
        "app.kubernetes.io/instance=videogen",
        "-o",
        "name",
    ).stdout
    assert gone.strip() == ""
    cluster_roles = cluster.kubectl("get", "clusterrole", "-o", "name").stdout
    assert f"videogen-{idle_release}-operator" not in cluster_roles
