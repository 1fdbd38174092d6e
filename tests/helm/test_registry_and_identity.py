"""What a user pulling from a private registry on a cloud cluster needs: imagePullSecrets on every pod (the runner and
download pods the operator creates too), a runner service account carrying a cloud identity, S3 without a key Secret
when the pods get credentials from that identity, and image references pinned by digest. Each case goes from the
chart's values through the operator's settings (as the rendered Deployment sets them) to the Jobs the operator
builds, and the render is checked by the API server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm.conftest import CHART, Helm
from tests.helm.test_chart_renders import by_kind, container_env, dry_run
from tests.operator.factories import MODEL, videojob, videomodel
from videogen_dev.cluster import Cluster
from videogen_operator.download_job import desired_download_job
from videogen_operator.runner_job import desired_job
from videogen_operator.settings import OperatorSettings

DIGEST = "sha256:" + "0123456789abcdef" * 4
IDENTITY = [
    "--set",
    "s3.existingSecret=",
    "--set",
    "s3.credentialsFromIdentity=true",
    "--set-string",
    "runner.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/videogen-runner",
]
PULL = ["--set", "imagePullSecrets[0].name=registry-a", "--set", "imagePullSecrets[1].name=registry-b"]


def operator_settings(docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> OperatorSettings:
    """The operator's settings as its rendered Deployment sets them (literal values; Secret refs are the kubelet's)."""
    for name, value in container_env(by_kind(docs, "Deployment", "videogen-operator")).items():
        if name.startswith("VIDEOGEN_OPERATOR_") and isinstance(value, str):
            monkeypatch.setenv(name, value)
    return OperatorSettings()


def operator_jobs(settings: OperatorSettings) -> list[dict[str, Any]]:
    """A runner Job and a download Job, as the operator builds them with these settings."""
    return [
        desired_job(videojob(), MODEL, settings, s3_endpoint_url="http://s3:8333"),
        desired_download_job(videomodel("wan-t2v", MODEL.repo_id), settings),
    ]


def pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]


def s3_key_variables(pod: dict[str, Any]) -> list[str]:
    names = [e["name"] for c in pod["containers"] for e in c.get("env", [])]
    return [n for n in names if n in ("VIDEOGEN_S3_ACCESS_KEY_ID", "VIDEOGEN_S3_SECRET_ACCESS_KEY")]


def test_image_pull_secrets_reach_every_pod_the_chart_and_the_operator_make(
    helm: Helm, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = helm.template("ns", *PULL)
    jobs = operator_jobs(operator_settings(docs, monkeypatch))
    pods = pod_specs(docs) + [job["spec"]["template"]["spec"] for job in jobs]
    assert len(pods) == 4  # api, operator, runner Job, download Job
    for pod in pods:
        assert pod["imagePullSecrets"] == [{"name": "registry-a"}, {"name": "registry-b"}]


def test_without_pull_secrets_no_pod_names_any(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = helm.template("ns")
    jobs = operator_jobs(operator_settings(docs, monkeypatch))
    for pod in pod_specs(docs) + [job["spec"]["template"]["spec"] for job in jobs]:
        assert "imagePullSecrets" not in pod


def test_images_are_pinned_by_tag_and_by_digest_when_one_is_given(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = [f"--set=images.{c}.digest={DIGEST}" for c in ("api", "operator", "runner")]
    docs = helm.template("ns", "--set", "images.runner.tag=0.1.0-cuda13", *pinned)
    api, operator = (by_kind(docs, "Deployment", f"videogen-{c}") for c in ("api", "operator"))
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == f"videogen/api:0.1.0@{DIGEST}"
    assert operator["spec"]["template"]["spec"]["containers"][0]["image"] == f"videogen/operator:0.1.0@{DIGEST}"
    runner_job, download_job = operator_jobs(operator_settings(docs, monkeypatch))
    images = [job["spec"]["template"]["spec"]["containers"][0]["image"] for job in (runner_job, download_job)]
    assert images == [f"videogen/runner:0.1.0-cuda13@{DIGEST}", f"videogen/operator:0.1.0@{DIGEST}"]
    # Without a digest, the tag alone (the chart's appVersion by default).
    default_images = [c["image"] for pod in pod_specs(helm.template("ns")) for c in pod["containers"]]
    assert default_images == ["videogen/api:0.1.0", "videogen/operator:0.1.0"]


@pytest.mark.parametrize("digest", ["sha256:abc", "md5:" + "0" * 64, "0" * 64])
def test_a_malformed_digest_fails_the_schema(helm: Helm, digest: str) -> None:
    result = helm.run("template", "videogen", str(CHART), f"--set=images.runner.digest={digest}", check=False)
    assert result.returncode != 0 and "/images/runner/digest" in result.stderr, result.stderr


def test_s3_credentials_from_identity_need_no_key_secret_anywhere(
    helm: Helm, cluster: Cluster, restricted_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = helm.template(restricted_namespace, *IDENTITY)
    runner_account = by_kind(docs, "ServiceAccount", "videogen-runner")
    assert runner_account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/videogen-runner"
    }
    assert runner_account["automountServiceAccountToken"] is False
    settings = operator_settings(docs, monkeypatch)
    assert settings.s3_secret_name is None
    runner_job, _ = operator_jobs(settings)
    runner_pod = runner_job["spec"]["template"]["spec"]
    assert runner_pod["serviceAccountName"] == "videogen-runner"
    for pod in [*pod_specs(docs), runner_pod]:
        assert s3_key_variables(pod) == []
    # Nothing refers to an S3 Secret, and the chart makes none.
    assert not [d for d in docs if d["kind"] == "Secret" and "s3" in d["metadata"]["name"]]
    assert "secretKeyRef" not in str(
        [e for pod in pod_specs(docs) for e in pod["containers"][0]["env"] if "S3" in e["name"]]
    )
    assert "created (server dry run)" in dry_run(cluster, docs)


def test_with_a_key_secret_every_s3_client_reads_its_keys_from_it(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = helm.template("ns", "--set", "s3.existingSecret=my-s3-keys")
    settings = operator_settings(docs, monkeypatch)
    assert settings.s3_secret_name == "my-s3-keys"
    runner_job, _ = operator_jobs(settings)
    for pod in [*pod_specs(docs), runner_job["spec"]["template"]["spec"]]:
        assert s3_key_variables(pod) == ["VIDEOGEN_S3_ACCESS_KEY_ID", "VIDEOGEN_S3_SECRET_ACCESS_KEY"]
        keys = s3_key_variables(pod)
        refs = [e["valueFrom"]["secretKeyRef"]["name"] for e in pod["containers"][0]["env"] if e["name"] in keys]
        assert set(refs) == {"my-s3-keys"}


@pytest.mark.parametrize(
    "extra",
    [
        ["--set", "s3.existingSecret=videogen-s3"],
        ["--set", "s3.existingSecret=", "--set", "seaweedfs.enabled=true"],
    ],
)
def test_identity_with_keys_or_the_bundled_seaweedfs_fails_saying_what_to_set(helm: Helm, extra: list[str]) -> None:
    result = helm.run(
        "template", "videogen", str(CHART), "--set", "s3.credentialsFromIdentity=true", *extra, check=False
    )
    assert result.returncode != 0
    assert "s3.credentialsFromIdentity=true" in result.stderr and 's3.existingSecret=""' in result.stderr
