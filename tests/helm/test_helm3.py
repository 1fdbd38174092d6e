"""The chart under Helm 3 (v3 is still what many clusters' tooling runs): it lints, renders exactly what Helm 4
renders (which the other tests check against the API server), enforces the schema, and installs, upgrades and
uninstalls with the same guarantees (CRDs and VideoJobs kept)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.helm.conftest import CHART, GPU_POOL_VALUES, Helm, create_namespace, nowhere_args
from videogen_dev.cluster import Cluster


@pytest.fixture(scope="module")
def helm3(cluster: Cluster) -> Helm:
    helm = Helm(cluster.settings.helm3, cluster.kubeconfig)
    version = helm.run("version", "--short").stdout
    assert version.startswith("v3."), version
    return helm


@pytest.fixture
def helm3_namespace(cluster: Cluster, crds: None) -> Iterator[str]:
    name = create_namespace(cluster, "helm3")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def without_random_secrets(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents with the generated webhook signing secret and API key (new at every render) blanked."""
    for doc in docs:
        if doc["kind"] == "Secret" and doc["metadata"]["name"].endswith(("-webhooks", "-api-keys")):
            doc["stringData"] = dict.fromkeys(doc["stringData"], "generated")
    return docs


@pytest.mark.parametrize("values", [[], ["-f", str(GPU_POOL_VALUES)]], ids=["defaults", "gpu-pool"])
def test_helm3_lints_and_renders_what_helm4_renders(helm3: Helm, helm: Helm, values: list[str]) -> None:
    lint = helm3.run("lint", str(CHART), "--strict", *values)
    assert "1 chart(s) linted, 0 chart(s) failed" in lint.stdout
    # Parsed documents, so formatting differences (Helm 4 adds blank lines between documents) do not count.
    assert without_random_secrets(helm3.template("ns", *values)) == without_random_secrets(helm.template("ns", *values))


def test_helm3_refuses_values_that_violate_the_schema_naming_the_value(helm3: Helm) -> None:
    result = helm3.run("template", "videogen", str(CHART), "--set", "api.replicas=0", check=False)
    assert result.returncode != 0
    assert "/api/replicas" in result.stderr and "minimum" in result.stderr


def test_helm3_install_upgrade_uninstall_keep_crds_and_videojobs(
    helm3: Helm, cluster: Cluster, helm3_namespace: str
) -> None:
    ns = helm3_namespace
    crd_uid = cluster.get_json("crd", "videojobs.videogen.dev")["metadata"]["uid"]
    helm3.install("videogen", ns, *nowhere_args())
    try:
        # Leader election lets the operator roll over: the new pod waits for the Lease the old one releases.
        assert (
            cluster.get_json("deployment", "videogen-operator", "-n", ns)["spec"]["strategy"]["type"] == "RollingUpdate"
        )
        videojob = {
            "apiVersion": "videogen.dev/v1alpha1",
            "kind": "VideoJob",
            "metadata": {"name": "kept", "namespace": ns},
            "spec": {"mode": "text-to-video", "model": "smoke-wan-t2v", "prompt": "a cat"},
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(videojob))
        before = cluster.get_json("videojob", "kept", "-n", ns)["metadata"]["uid"]

        helm3.run("upgrade", "videogen", str(CHART), "--namespace", ns, *nowhere_args(), "--set", "api.replicas=2")
        assert cluster.get_json("deployment", "videogen-api", "-n", ns)["spec"]["replicas"] == 2
        assert cluster.get_json("videojob", "kept", "-n", ns)["metadata"]["uid"] == before
        history = yaml.safe_load(helm3.run("history", "videogen", "--namespace", ns, "-o", "yaml").stdout)
        assert [entry["revision"] for entry in history] == [1, 2]
    finally:
        helm3.uninstall("videogen", ns)
    # Uninstall removes the release's objects but never the CRDs (helm does not delete crds/) or the VideoJobs.
    assert cluster.get_json("crd", "videojobs.videogen.dev")["metadata"]["uid"] == crd_uid
    assert cluster.get_json("videojob", "kept", "-n", ns)["metadata"]["uid"] == before
    left = cluster.kubectl(
        "get", "deployment,serviceaccount", "-n", ns, "-l", "app.kubernetes.io/instance=videogen", "-o", "name"
    ).stdout
    assert left.strip() == ""
