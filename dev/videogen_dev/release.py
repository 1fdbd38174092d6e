"""The chart installed on the local node: its values, its prerequisites, helm install and uninstall.

`make up` (system.py) and the tests that install the chart (tests/system_release.py) both go through here, so the
values for the local node are written once, in dev/local-values.yaml; a caller only overrides what must differ
(namespace-specific ports, S3 endpoint and prefixes, the queue cap, ...).
"""

import json
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from videogen_dev import smoke_models
from videogen_dev.cluster import Cluster
from videogen_dev.settings import REPO_ROOT

CHART = REPO_ROOT / "helm" / "videogen"
LOCAL_VALUES = REPO_ROOT / "dev" / "local-values.yaml"
S3_SECRET = "videogen-s3"  # noqa: S105 - the Secret's name, not a secret


class ReleaseError(RuntimeError):
    pass


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` merged in as Helm merges values files: maps key by key, anything else replaced."""
    result = dict(base)
    for key, value in overrides.items():
        current = result.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[key] = merged(current, value)
        else:
            result[key] = value
    return result


def local_values(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """dev/local-values.yaml with `overrides` merged in."""
    values: dict[str, Any] = yaml.safe_load(LOCAL_VALUES.read_text())
    return merged(values, overrides or {})


def apply_prerequisites(
    cluster: Cluster, namespace: str, model_cache: Path, pv_name: str, access_key: str, secret_key: str
) -> None:
    """What the chart expects to exist: the S3 Secret, and a hostPath volume over `model_cache` reserved for the
    release's model cache claim."""
    pv = smoke_models.model_cache_volume(pv_name, model_cache, namespace)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": S3_SECRET, "namespace": namespace},
        "stringData": {"accessKeyId": access_key, "secretAccessKey": secret_key},
    }
    items = {"apiVersion": "v1", "kind": "List", "items": [pv, secret]}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(items))


def helm(cluster: Cluster, *args: str, timeout: float = 330) -> subprocess.CompletedProcess[str]:
    """The pinned helm binary as the cluster's admin; ReleaseError with helm's stderr when it fails."""
    result = subprocess.run(
        [str(cluster.settings.helm), "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise ReleaseError(f"helm {' '.join(args[:2])} failed ({result.returncode}):\n{result.stderr}")
    return result


def install(
    cluster: Cluster, release: str, namespace: str, values: Mapping[str, Any], *extra: str, timeout: float = 330
) -> None:
    """`helm upgrade --install` of the chart with `values` (idempotent); `extra` are further helm flags."""
    # A values file rather than --set: nulls (which drop a chart default) and lists survive as written.
    with tempfile.NamedTemporaryFile("w", prefix="videogen-values-", suffix=".yaml") as file:
        yaml.safe_dump(dict(values), file)
        file.flush()
        helm(
            cluster,
            *("upgrade", "--install", release, str(CHART)),
            *("--namespace", namespace, "-f", file.name),
            *extra,
            timeout=timeout,
        )


def uninstall(cluster: Cluster, release: str, namespace: str) -> None:
    """`helm uninstall`; a release that is not there is not an error."""
    helm(cluster, "uninstall", release, "--namespace", namespace, "--ignore-not-found", timeout=120)
