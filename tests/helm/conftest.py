"""Fixtures for the chart's tests: the helm binary against the local control plane, and fresh namespaces."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.system_release import create_restricted_namespace
from videogen_dev.cluster import Cluster
from videogen_dev.settings import REPO_ROOT

CHART = REPO_ROOT / "helm" / "videogen"
GPU_POOL_VALUES = CHART / "ci" / "gpu-pool-values.yaml"
#: Pods of releases that only check objects are pinned here, so no operator or API process starts for them.
NOWHERE = {"videogen.dev/helm-test": "no-such-node"}


@dataclass(frozen=True)
class Helm:
    """The pinned helm binary, talking to the local control plane as admin."""

    binary: Path
    kubeconfig: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def template(self, namespace: str, *args: str) -> list[dict]:  # type: ignore[type-arg]
        rendered = self.run("template", "videogen", str(CHART), "--namespace", namespace, *args).stdout
        return [doc for doc in yaml.safe_load_all(rendered) if doc]

    def install(self, release: str, namespace: str, *args: str) -> None:
        self.run("install", release, str(CHART), "--namespace", namespace, *args)

    def uninstall(self, release: str, namespace: str) -> None:
        self.run("uninstall", release, "--namespace", namespace, check=False)


@pytest.fixture(scope="session")
def helm(cluster: Cluster) -> Helm:
    return Helm(cluster.settings.helm, cluster.kubeconfig)


def create_namespace(cluster: Cluster, prefix: str) -> str:
    """A namespace that enforces Pod Security "restricted", as the chart promises every pod meets it."""
    return create_restricted_namespace(cluster, prefix)


@pytest.fixture
def restricted_namespace(cluster: Cluster, crds: None) -> Iterator[str]:
    name = create_namespace(cluster, "helm")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def other_namespace(cluster: Cluster) -> Iterator[str]:
    name = create_namespace(cluster, "helm-other")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def nowhere_args() -> list[str]:
    """--set arguments that keep the release's pods Pending (objects are checked, nothing runs)."""
    ((key, value),) = NOWHERE.items()
    escaped = key.replace(".", "\\.")
    return ["--set", f"api.nodeSelector.{escaped}={value}", "--set", f"operator.nodeSelector.{escaped}={value}"]
