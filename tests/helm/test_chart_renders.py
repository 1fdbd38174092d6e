"""The chart without installing it: lint, renders the API server accepts, schema failures that name the value, CRDs
equal to the repository's, and values that reach the operator's and the API's settings under their real names."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm.conftest import CHART, GPU_POOL_VALUES, Helm
from videogen_api.config import ApiSettings
from videogen_common.runner_contract import RuntimeOptions
from videogen_dev.cluster import Cluster
from videogen_dev.settings import REPO_ROOT
from videogen_operator.settings import OperatorSettings

REPOSITORY_CRDS = sorted((REPO_ROOT / "crds").glob("*.yaml"))
DEMO_S3 = [
    "--set",
    "seaweedfs.enabled=true",
    "--set",
    "s3.existingSecret=",
    "--set",
    "s3.demoCredentials.accessKeyId=demo-key",
    "--set",
    "s3.demoCredentials.secretAccessKey=demo-secret",
]


def by_kind(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def container_env(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def dry_run(cluster: Cluster, docs: list[dict[str, Any]]) -> str:
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs))
    return result.stdout + result.stderr


def test_packaged_chart_carries_the_crds(helm: Helm, tmp_path: Path) -> None:
    helm.run("package", str(CHART), "--destination", str(tmp_path))
    (package,) = tmp_path.glob("videogen-*.tgz")
    with tarfile.open(package) as archive:
        for source in REPOSITORY_CRDS:
            member = archive.extractfile(f"videogen/crds/{source.name}")
            assert member is not None and member.read() == source.read_bytes()


@pytest.mark.parametrize("values", [[], ["-f", str(GPU_POOL_VALUES)], DEMO_S3], ids=["defaults", "gpu-pool", "demo"])
def test_helm_lint_is_clean(helm: Helm, values: list[str]) -> None:
    result = helm.run("lint", str(CHART), "--strict", *values)
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


def test_default_render_is_accepted_by_the_api_server(helm: Helm, cluster: Cluster, restricted_namespace: str) -> None:
    output = dry_run(cluster, helm.template(restricted_namespace))
    assert "deployment.apps/videogen-operator created (server dry run)" in output
    assert "deployment.apps/videogen-api created (server dry run)" in output
    assert "PodSecurity" not in output


def test_gpu_pool_render_is_accepted_by_the_api_server(
    helm: Helm, cluster: Cluster, restricted_namespace: str, other_namespace: str
) -> None:
    docs = helm.template(
        restricted_namespace, "-f", str(GPU_POOL_VALUES), "--set", f"operator.watchNamespaces={{{other_namespace}}}"
    )
    output = dry_run(cluster, docs)
    for created in [
        "ingress.networking.k8s.io/videogen-api",
        "networkpolicy.networking.k8s.io/videogen-runner",
        "networkpolicy.networking.k8s.io/videogen-model-download",
    ]:
        assert f"{created} created (server dry run)" in output
    assert output.count("videomodel.videogen.dev/") == 3
    assert "PodSecurity" not in output
    # The operator's rules are granted in the release namespace and in the extra watched one, nowhere else.
    bindings = [d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["kind"] == "ClusterRole"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted([restricted_namespace, other_namespace])
    assert not [d for d in docs if d["kind"] == "ClusterRoleBinding" and d["roleRef"]["name"].endswith("-operator")]


def test_bundled_seaweedfs_demo_render_is_accepted_by_the_api_server(
    helm: Helm, cluster: Cluster, restricted_namespace: str
) -> None:
    docs = helm.template(restricted_namespace, *DEMO_S3, "--set", "networkPolicy.enabled=true")
    output = dry_run(cluster, docs)
    assert "deployment.apps/videogen-seaweedfs created (server dry run)" in output
    assert "PodSecurity" not in output
    secret = by_kind(docs, "Secret", "videogen-s3")
    assert secret["stringData"]["accessKeyId"] == "demo-key"
    env = container_env(by_kind(docs, "Deployment", "videogen-api"))
    assert env["VIDEOGEN_S3_ENDPOINT_URL"] == f"http://videogen-seaweedfs.{restricted_namespace}.svc:8333"


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("api.replicas=0", "/api/replicas"),
        ("api.replicas=two", "/api/replicas"),
        ("gpuPool.tolerations[0].operator=Sometimes", "/gpuPool/tolerations/0/operator"),
        ("modelCache.size=lots", "/modelCache/size"),
        ("modelCache.accessModes={ReadWriteSometimes}", "/modelCache/accessModes/0"),
        ("podSecurityContext.runAsUser=0", "/podSecurityContext/runAsUser"),
        (
            "containerSecurityContext.allowPrivilegeEscalation=true",
            "/containerSecurityContext/allowPrivilegeEscalation",
        ),
        ("queue.maxRunningJobs=0", "/queue/maxRunningJobs"),
        ("s3.endpoint=minio:9000", "/s3/endpoint"),
        ("models[0].name=Not_A_Name", "/models/0/name"),
        ("operator.logFormat=xml", "/operator/logFormat"),
        ("gpuPools.nodeSelector.pool=gpu", "'gpuPools' not allowed"),
        ("runner.runtime.offload=always", "/runner/runtime/offload"),
        ("runner.runtime.compile=yes", "/runner/runtime/compile"),
        ("runner.runtime.torchCompile=true", "'torchCompile' not allowed"),
        ("runner.compileCacheSubPath=../outside", "/runner/compileCacheSubPath"),
        ("runner.compileCacheSubPath=/abs", "/runner/compileCacheSubPath"),
    ],
)
def test_values_violating_the_schema_fail_naming_the_value(helm: Helm, setting: str, named: str) -> None:
    result = helm.run("template", "videogen", str(CHART), "--set", setting, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert named in result.stderr, result.stderr


def test_no_s3_secret_and_no_demo_keys_fails_saying_what_to_set(helm: Helm) -> None:
    for extra in [[], ["--set", "seaweedfs.enabled=true"]]:
        result = helm.run("template", "videogen", str(CHART), "--set", "s3.existingSecret=", *extra, check=False)
        assert result.returncode != 0
        assert "s3.existingSecret is empty" in result.stderr and "s3.demoCredentials" in result.stderr


def test_every_operator_and_api_variable_is_a_setting_they_read(helm: Helm) -> None:
    docs = helm.template("ns", "-f", str(GPU_POOL_VALUES))
    operator_env = container_env(by_kind(docs, "Deployment", "videogen-operator"))
    api_env = container_env(by_kind(docs, "Deployment", "videogen-api"))
    for env, prefix, fields in [
        (operator_env, "VIDEOGEN_OPERATOR_", OperatorSettings.model_fields),
        (api_env, "VIDEOGEN_API_", ApiSettings.model_fields),
    ]:
        unknown = [n for n in env if n.startswith(prefix) and n.removeprefix(prefix).lower() not in fields]
        assert unknown == [], f"the chart sets variables no setting reads: {unknown}"


def test_gpu_pool_values_reach_the_operator_settings(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = helm.template("ns", "-f", str(GPU_POOL_VALUES))
    for name, value in container_env(by_kind(docs, "Deployment", "videogen-operator")).items():
        # Literal values only: a secretKeyRef (the webhook signing secret) is the kubelet's to resolve.
        if name.startswith("VIDEOGEN_OPERATOR_") and isinstance(value, str):
            monkeypatch.setenv(name, value)
    settings = OperatorSettings()
    assert settings.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    assert settings.tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert settings.affinity is not None and "nodeAffinity" in settings.affinity
    assert (settings.runtime_class_name, settings.priority_class_name) == ("nvidia", "video-generation")
    assert settings.allowed_priority_classes == ["video-generation", "video-generation-low"]
    assert settings.allowed_runtime_classes == []
    assert settings.allowed_node_selectors == {
        "cloud.google.com/gke-accelerator": ["nvidia-h100-80gb", "nvidia-h200-141gb"]
    }
    assert settings.allowed_tolerations == [
        {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    assert (settings.max_running_jobs, settings.default_queue_name) == (8, "gpu-video")
    assert (settings.runner_cpu_request, settings.runner_memory_request, settings.runner_memory_limit) == (
        "8",
        "64Gi",
        "120Gi",
    )
    assert settings.runner_image == "videogen/runner:0.1.0"
    assert settings.runner_command == ["videogen-runner", "run"]
    assert settings.runner_service_account == "videogen-runner"
    assert settings.runner_runtime.compile is True and settings.runner_runtime.attention_backend == "auto"
    assert settings.compile_cache_subpath == ".compile-cache"
    assert settings.model_cache_pvc == "videogen-model-cache"
    assert settings.default_models == {
        "text-to-video": "wan2-1-t2v-1-3b",
        "image-to-video": "wan2-1-i2v-14b-480p",
        "video-to-video": "ltx-video",
    }
    assert (settings.s3_secret_name, settings.output_bucket, settings.hf_token_secret) == (
        "videogen-s3-hmac",
        "my-videogen-outputs",
        "hf-token",
    )


def test_default_values_unset_optional_operator_settings(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = helm.template("ns")
    for name, value in container_env(by_kind(docs, "Deployment", "videogen-operator")).items():
        # Literal values only: a secretKeyRef (the webhook signing secret) is the kubelet's to resolve.
        if name.startswith("VIDEOGEN_OPERATOR_") and isinstance(value, str):
            monkeypatch.setenv(name, value)
    settings = OperatorSettings()
    assert settings.affinity == {} and settings.runtime_class_name is None and settings.priority_class_name is None
    assert settings.default_queue_name is None and settings.hf_token_secret is None
    assert settings.runner_s3_endpoint_url is None and settings.runner_run_as_user == 10001
    assert settings.compile_cache_subpath is None and settings.runner_runtime == RuntimeOptions()
    assert settings.default_models == {}


def test_every_pod_template_is_pod_security_restricted(helm: Helm) -> None:
    docs = helm.template("ns", *DEMO_S3)
    templates = [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]
    assert len(templates) == 4  # api, operator, seaweedfs, bucket Job
    for pod in templates:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
