"""The chart survives drains and rollouts: a disruption budget that never blocks a drain, spread API pods, startup
probes, a termination grace sized to the API's upload window, priority and placement, service accounts of your own;
aggregated view/edit roles for VideoJobs and VideoModels; and a `helm test` that passes on the installed release."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm.conftest import Helm
from tests.helm.test_chart_renders import by_kind, container_env
from tests.rbac import can_i
from tests.system_release import RELEASE_NAME, SystemRelease
from videogen_api.config import ApiSettings
from videogen_dev.cluster import Cluster

KEYS = ["--set", "s3.existingSecret=videogen-s3"]


def pod_spec(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    return by_kind(docs, "Deployment", f"videogen-{component}")["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_the_api_budget_lets_a_drain_evict_one_pod_at_a_time_even_with_one_replica(helm: Helm) -> None:
    docs = helm.template("ns", *KEYS, "--set", "api.replicas=1")
    budget = by_kind(docs, "PodDisruptionBudget", "videogen-api")["spec"]
    assert budget["maxUnavailable"] == 1 and "minAvailable" not in budget
    assert budget["selector"]["matchLabels"].items() <= pod_labels(docs, "api").items()
    # One budget only: the operator's single pod would block every drain with one.
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"] == ["videogen-api"]
    assert not [
        d
        for d in helm.template("ns", *KEYS, "--set", "api.podDisruptionBudget.enabled=false")
        if d["kind"] == "PodDisruptionBudget"
    ]


def pod_labels(docs: list[dict[str, Any]], component: str) -> dict[str, str]:
    return by_kind(docs, "Deployment", f"videogen-{component}")["spec"]["template"]["metadata"]["labels"]  # type: ignore[no-any-return]


def test_api_pods_spread_over_nodes_and_zones_as_a_preference(helm: Helm) -> None:
    docs = helm.template("ns", *KEYS)
    constraints = pod_spec(docs, "api")["topologySpreadConstraints"]
    assert [(c["topologyKey"], c["whenUnsatisfiable"]) for c in constraints] == [
        ("kubernetes.io/hostname", "ScheduleAnyway"),
        ("topology.kubernetes.io/zone", "ScheduleAnyway"),
    ]
    assert all(c["labelSelector"]["matchLabels"].items() <= pod_labels(docs, "api").items() for c in constraints)


def test_api_and_operator_have_startup_probes_and_liveness_waits_for_them(helm: Helm) -> None:
    docs = helm.template("ns", *KEYS)
    for component in ("api", "operator"):
        (container,) = pod_spec(docs, component)["containers"]
        startup, liveness = container["startupProbe"], container["livenessProbe"]
        assert startup["httpGet"] == liveness["httpGet"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
        assert "initialDelaySeconds" not in liveness


def test_api_and_operator_are_not_pid_1_so_a_sigterm_during_their_start_stops_them(helm: Helm) -> None:
    # As PID 1 a Python process ignores a SIGTERM that comes before it installed its handlers: a rollout that
    # deletes a pod in its first seconds would leave it holding the port until the grace period ends.
    docs = helm.template("ns", *KEYS)
    for component in ("api", "operator"):
        spec = pod_spec(docs, component)
        assert spec["shareProcessNamespace"] is True and len(spec["containers"]) == 1, component


@pytest.mark.parametrize(
    ("values", "upload", "grace"),
    [
        ([], 300, 360),
        (["--set", "api.uploadTimeoutSeconds=600"], 600, 660),
        (["--set", "api.shutdownGraceSeconds=90"], 300, 90),
    ],
    ids=["defaults", "longer-uploads", "explicit-grace"],
)
def test_termination_grace_covers_the_prestop_and_the_apis_upload_window(
    helm: Helm, values: list[str], upload: int, grace: int
) -> None:
    docs = helm.template("ns", *KEYS, *values)
    spec = pod_spec(docs, "api")
    env = container_env(by_kind(docs, "Deployment", "videogen-api"))
    assert (env["VIDEOGEN_API_BODY_TIMEOUT_SECONDS"], env["VIDEOGEN_API_SHUTDOWN_GRACE_SECONDS"]) == (
        str(upload),
        str(grace),
    )
    # The chart's default grace is the API's own rule for an unset one.
    if not values or "uploadTimeoutSeconds" in values[1]:
        assert ApiSettings(body_timeout_seconds=upload).shutdown_grace() == grace
    (container,) = spec["containers"]
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert spec["terminationGracePeriodSeconds"] == 5 + grace + 10


def test_priority_resources_and_placement_reach_the_api_and_operator_pods(helm: Helm) -> None:
    placement = {
        "nodeSelector": {"pool": "system"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "system", "effect": "NoSchedule"}],
    }
    args = [*KEYS]
    for component in ("api", "operator"):
        args += ["--set", f"{component}.priorityClassName={component}-critical"]
        args += ["--set", f"{component}.nodeSelector.pool=system"]
        args += ["--set-json", f"{component}.tolerations={placement['tolerations']}".replace("'", '"')]
        args += ["--set", f"{component}.resources.requests.cpu=123m"]
    docs = helm.template("ns", *args)
    for component in ("api", "operator"):
        spec = pod_spec(docs, component)
        assert spec["priorityClassName"] == f"{component}-critical"
        assert (spec["nodeSelector"], spec["tolerations"]) == (placement["nodeSelector"], placement["tolerations"])
        assert spec["containers"][0]["resources"]["requests"]["cpu"] == "123m"


def test_existing_service_accounts_are_used_and_none_created(helm: Helm) -> None:
    args = [*KEYS]
    for component in ("api", "operator", "runner"):
        args += [
            "--set",
            f"{component}.serviceAccount.create=false",
            "--set",
            f"{component}.serviceAccount.name=my-{component}",
        ]
    docs = helm.template("ns", *args)
    assert not [d for d in docs if d["kind"] == "ServiceAccount"]
    assert pod_spec(docs, "api")["serviceAccountName"] == "my-api"
    assert pod_spec(docs, "operator")["serviceAccountName"] == "my-operator"
    assert (
        container_env(by_kind(docs, "Deployment", "videogen-operator"))["VIDEOGEN_OPERATOR_RUNNER_SERVICE_ACCOUNT"]
        == "my-runner"
    )
    # The chart still binds the accounts it runs as.
    assert by_kind(docs, "RoleBinding", "videogen-api")["subjects"][0]["name"] == "my-api"


def test_not_creating_a_service_account_without_naming_one_fails_saying_what_to_set(helm: Helm) -> None:
    result = helm.run(
        "template", "videogen", "helm/videogen", *KEYS, "--set", "api.serviceAccount.create=false", check=False
    )
    assert result.returncode != 0
    assert "set api.serviceAccount.name" in result.stderr


def test_namespace_editors_may_apply_videojobs_and_viewers_only_read_them(
    cluster: Cluster, system_release: SystemRelease
) -> None:
    namespace = system_release.namespace
    for role, user in (("edit", "p5-editor"), ("view", "p5-viewer")):
        cluster.kubectl(
            "create", "rolebinding", f"p5-{role}", f"--clusterrole={role}", f"--user={user}", "-n", namespace
        )
    try:
        for resource in ("videojobs.videogen.dev", "videomodels.videogen.dev"):
            for verb in ("get", "list", "watch", "create", "patch", "delete"):
                assert can_i(cluster, verb, resource, "--as=p5-editor", "-n", namespace), (verb, resource)
            for verb in ("get", "list", "watch"):
                assert can_i(cluster, verb, resource, "--as=p5-viewer", "-n", namespace), (verb, resource)
            for verb in ("create", "patch", "delete"):
                assert not can_i(cluster, verb, resource, "--as=p5-viewer", "-n", namespace), (verb, resource)
        # Status is the operator's to write.
        assert not can_i(cluster, "patch", "videojobs.videogen.dev/status", "--as=p5-editor", "-n", namespace)
        # Only where the binding is.
        assert not can_i(cluster, "create", "videojobs.videogen.dev", "--as=p5-editor", "-n", "default")
    finally:
        for role in ("edit", "view"):
            cluster.kubectl("delete", "rolebinding", f"p5-{role}", "-n", namespace, check=False)


def test_helm_test_submits_a_tiny_job_reads_it_back_and_cancels_it(
    helm: Helm, cluster: Cluster, system_release: SystemRelease
) -> None:
    namespace = system_release.namespace
    # helm fails (and so does helm.run) unless the test pod succeeded.
    result = helm.run("test", RELEASE_NAME, "--namespace", namespace, "--logs", "--timeout", "3m")
    assert "read back job_" in result.stdout and "cancelled job_" in result.stdout, result.stdout
    (job_id,) = {line.split()[-1] for line in result.stdout.splitlines() if line.startswith("submitted job_")}
    videojob = cluster.get_json("videojob", job_id.replace("_", "-"), "-n", namespace)
    assert videojob["spec"]["model"] == system_release.values["defaultModels"]["textToVideo"]
    assert videojob["spec"].get("cancel") is True
