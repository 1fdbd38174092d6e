"""Fixtures for the operator's integration tests: a namespace set up as the chart would set it up, and the operator
as a subprocess that authenticates as its own service account bound to the chart's RBAC rules.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import S3Endpoint
from videogen_dev import smoke_models
from videogen_dev.cluster import Cluster
from videogen_dev.kubeconfig import write_token_kubeconfig
from videogen_dev.settings import REPO_ROOT
from videogen_dev.waiting import wait_for

RULES = REPO_ROOT / "helm" / "videogen" / "files" / "rbac" / "operator-rules.yaml"
STAND_IN_RUNNER = Path(__file__).with_name("stand_in_runner.py")
CLUSTER_ROLE = "videogen-operator-test"


@dataclass
class Namespace:
    """A test namespace with the runner's service account, the S3 Secret and a model cache PVC."""

    name: str
    cluster: Cluster
    s3: S3Endpoint
    model_cache: Path
    kubeconfig: Path

    def apply(self, doc: dict[str, Any]) -> None:
        doc.setdefault("metadata", {})["namespace"] = self.name
        self.cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))

    def get(self, *args: str) -> Any:
        return self.cluster.get_json(*args, "-n", self.name)

    def videojob(self, name: str, **spec: Any) -> dict[str, Any]:
        doc = {
            "apiVersion": "videogen.dev/v1alpha1",
            "kind": "VideoJob",
            "metadata": {"name": name, "namespace": self.name},
            "spec": {"mode": "text-to-video", "model": "smoke", "prompt": "a cat", "numInferenceSteps": 3} | spec,
        }
        self.apply(doc)
        return doc

    def status(self, name: str) -> dict[str, Any]:
        got: dict[str, Any] = self.get("videojob", name).get("status", {})
        return got

    def wait_state(self, name: str, states: set[str], timeout: float = 40) -> dict[str, Any]:
        return wait_for(
            lambda: self.status(name),
            lambda s: s.get("state") in states,
            timeout,
            f"VideoJob {name} to reach {sorted(states)}",
        )

    def jobs(self, selector: str = "app.kubernetes.io/managed-by=videogen-operator") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("jobs", "-l", selector)["items"]
        return items

    def pods(self, selector: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("pods", "-l", selector)["items"]
        return items

    @property
    def s3_prefix(self) -> str:
        """Where this test's operator puts outputs and progress (the bucket is shared)."""
        return f"operator-tests/{self.name}"

    def s3_keys(self, prefix: str = "") -> list[str]:
        """Keys under this test's prefix (``prefix`` is relative to it)."""
        listed = self.s3.client().list_objects_v2(Bucket=self.s3.bucket, Prefix=f"{self.s3_prefix}/{prefix}")
        return [o["Key"] for o in listed.get("Contents", [])]


@dataclass
class OperatorProcess:
    """The operator, run as ``python -m videogen_operator.main --namespace NS``."""

    namespace: Namespace
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "the operator is already running"
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "videogen_operator.main", "--namespace", self.namespace.name],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as in a crashed or OOM-killed pod."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def wait_for_log(self, marker: str, since: int, timeout: float = 30) -> None:
        """Wait until ``marker`` appears in the log after byte offset ``since``."""
        wait_for(
            lambda: self.log.read_bytes()[since:].decode(errors="replace"),
            lambda text: marker in text,
            timeout,
            f"{marker!r} in the operator log",
            interval=0.05,
        )

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def operator_cluster_role(cluster: Cluster, crds: None) -> str:
    rules = yaml.safe_load(RULES.read_text())
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CLUSTER_ROLE},
        "rules": rules,
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(role))
    return CLUSTER_ROLE


@pytest.fixture
def ns(
    cluster: Cluster, crds: None, s3: S3Endpoint, namespace: str, operator_cluster_role: str, tmp_path: Path
) -> Iterator[Namespace]:
    cache = Path(tempfile.mkdtemp(prefix=f"videogen-model-cache-{namespace}-"))
    pv_name = f"model-cache-{namespace}"
    binding = f"videogen-operator-{namespace}"
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "videogen-runner", "namespace": namespace}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "videogen-operator", "namespace": namespace},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "videogen-s3", "namespace": namespace},
            "stringData": {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": binding},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": operator_cluster_role},
            "subjects": [{"kind": "ServiceAccount", "name": "videogen-operator", "namespace": namespace}],
        },
        smoke_models.model_cache_volume(pv_name, cache, namespace),
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "videogen-model-cache", "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "volumeName": pv_name,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    ]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
    token = cluster.kubectl("create", "token", "videogen-operator", "-n", namespace, "--duration", "2h").stdout.strip()
    kubeconfig = write_token_kubeconfig(
        cluster.settings,
        f"system:serviceaccount:{namespace}:videogen-operator",
        token,
        tmp_path / "operator.kubeconfig",
    )
    yield Namespace(namespace, cluster, s3, cache, kubeconfig)
    cluster.kubectl("delete", "clusterrolebinding", binding, "--wait=false", check=False)
    cluster.kubectl("delete", "persistentvolume", pv_name, "--wait=false", check=False)
    shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture
def start_operator(ns: Namespace) -> Iterator[Callable[..., OperatorProcess]]:
    """Start the operator with test settings (stand-in runner, small requests); every one is stopped at the end."""
    started: list[OperatorProcess] = []
    # Outside pytest's tmp_path: other sessions sharing this machine prune those folders.
    logs = Path(tempfile.mkdtemp(prefix=f"videogen-operator-{ns.name}-"))

    def start(**settings: Any) -> OperatorProcess:
        values: dict[str, Any] = {
            "runner_image": "python:3.11",
            "runner_command": ["python", str(STAND_IN_RUNNER)],
            # The local node runs pods as local processes and the venv's python lives under /root.
            "runner_run_as_user": None,
            "runner_cpu_request": "10m",
            "runner_memory_request": "16Mi",
            "runner_memory_limit": None,
            "shm_size_limit": "64Mi",
            "tmp_size_limit": "1Gi",
            "download_image": "python:3.11",
            "download_env": {"HF_HUB_OFFLINE": "1"},
            # The local node is the only node, and it carries the GPU taint.
            "download_tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "poll_seconds": 0.5,
            "metrics_port": None,
            "liveness_endpoint": None,
            "log_format": "plain",
            "max_running_jobs": 4,
            "output_bucket": ns.s3.bucket,
            "output_prefix": f"{ns.s3_prefix}/outputs",
            "progress_prefix": ns.s3_prefix,
        } | settings
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOGEN_OPERATOR_", "KUBECONFIG"))}
        env |= {
            f"VIDEOGEN_OPERATOR_{k.upper()}": "null" if v is None else (v if isinstance(v, str) else json.dumps(v))
            for k, v in values.items()
        }
        env |= {
            "KUBECONFIG": str(ns.kubeconfig),
            "VIDEOGEN_S3_ENDPOINT_URL": ns.s3.endpoint_url,
            "VIDEOGEN_S3_ACCESS_KEY_ID": ns.s3.access_key,
            "VIDEOGEN_S3_SECRET_ACCESS_KEY": ns.s3.secret_key,
            "VIDEOGEN_S3_REGION": ns.s3.region,
        }
        process = OperatorProcess(ns, env, logs / f"operator-{len(started)}.log")
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
        # Shown by pytest only when the test failed.
        print(f"--- {process.log} (last lines) ---\n{process.tail()}")
    # Delete the VideoJobs' children while nothing can recreate them; the namespace fixture deletes the rest.
    ns.cluster.kubectl("delete", "videojobs,videomodels", "--all", "-n", ns.name, "--wait=false", check=False)
    s3 = ns.s3.client()
    for key in ns.s3_keys():
        s3.delete_object(Bucket=ns.s3.bucket, Key=key)


def fill_model_cache(cache: Path, repo_id: str, pipeline_class: str = "WanPipeline") -> tuple[Path, str]:
    """A tiny model in huggingface_hub's cache layout, as ``make up`` places the smoke models."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    (snapshot / "transformer").mkdir(parents=True)
    (snapshot / "model_index.json").write_text(json.dumps({"_class_name": pipeline_class}))
    (snapshot / "transformer" / "config.json").write_text("{}")
    (snapshot / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 1000)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot, commit


def until(seconds: float) -> float:
    return time.monotonic() + seconds
