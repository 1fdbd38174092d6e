"""The chart installed into the local control plane: RBAC per service account, the installed operator and API running
a text-to-video request end to end (the local node runs our images as the venv's entry points), upgrade and
uninstall keeping what they must keep.

The running release is the session's `system_release` (tests/system_release.py: dev/local-values.yaml, as `make up`
installs it), shared with tests/e2e."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helm.conftest import Helm, create_namespace, nowhere_args
from tests.rbac import can_i
from tests.system_release import SystemRelease
from videogen_dev.cluster import Cluster
from videogen_dev.settings import REPO_ROOT
from videogen_dev.waiting import wait_for

# (verb, resource, namespace: "release" | "other" | None for cluster scope, allowed)
API_TABLE = [
    *[(v, "videojobs.videogen.dev", "release", True) for v in ["create", "get", "list", "watch", "patch"]],
    *[(v, "videomodels.videogen.dev", "release", True) for v in ["create", "get", "list", "patch"]],
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
    # The finished label and retention's deletes; never creating or replacing a VideoJob.
    *[(v, "videojobs.videogen.dev", "release", True) for v in ["patch", "delete"]],
    ("create", "videojobs.videogen.dev", "release", False),
    ("update", "videojobs.videogen.dev", "release", False),
    ("delete", "videomodels.videogen.dev", "release", False),
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
    # The control: granted to every authenticated user, so a yes is reachable for this account string.
    ("create", "selfsubjectaccessreviews.authorization.k8s.io", None, True),
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
    cluster: Cluster, system_release: SystemRelease, account: str, table: list[tuple[str, str, str | None, bool]]
) -> None:
    # Impersonation does not check that the account exists: a wrong name would be denied everything.
    cluster.get_json("serviceaccount", account, "-n", system_release.namespace)
    user = f"--as=system:serviceaccount:{system_release.namespace}:{account}"
    namespaces = {"release": system_release.namespace, "other": "default"}
    wrong = [
        f"{verb} {resource} in {where or 'cluster'}: expected {'allowed' if allowed else 'denied'}"
        for verb, resource, where, allowed in table
        if can_i(cluster, verb, resource, user, *([f"--namespace={namespaces[where]}"] if where else [])) != allowed
    ]
    assert wrong == []


def test_runner_service_account_mounts_no_token(cluster: Cluster, system_release: SystemRelease) -> None:
    account = cluster.get_json("serviceaccount", "videogen-runner", "-n", system_release.namespace)
    assert account["automountServiceAccountToken"] is False


def test_installed_operator_and_api_generate_a_text_to_video_request(
    cluster: Cluster, system_release: SystemRelease
) -> None:
    default_model = system_release.values["defaultModels"]["textToVideo"]
    wait_for(
        lambda: cluster.get_json("videomodel", default_model, "-n", system_release.namespace).get("status", {}),
        lambda status: status.get("state") in ("Ready", "Failed"),
        90,
        "the chart's VideoModel to be downloaded by the installed operator",
    )
    with httpx.Client(base_url=system_release.api_url, timeout=30) as api:
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
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job_id"]
        job = wait_for(
            lambda: api.get(f"/api/v1/job/{job_id}").json(),
            lambda j: j["status"] in ("completed", "failed"),
            120,
            f"job {job_id} to finish",
        )
        assert job["status"] == "completed", job
        assert job["model"] == default_model  # the chart's defaultModels.textToVideo
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
    signing = cluster.get_json("secret", "videogen-webhooks", "-n", idle_release)["data"]["signingSecret"]
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
    # The generated webhook signing secret survives upgrades: receivers keep verifying with it.
    assert cluster.get_json("secret", "videogen-webhooks", "-n", idle_release)["data"]["signingSecret"] == signing


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
