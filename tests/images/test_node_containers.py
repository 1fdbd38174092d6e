"""The local node in container mode: pods of our images run as podman containers of the images built here.

A second node agent joins the test cluster in container mode (its own name, state folder and logs port, and a taint
that keeps every other pod off it; the shared node is left alone); pods are bound to it by nodeName. A probe pod in
the operator image shows what the agent gives a container: the pod's user and groups, a read-only root, no
capabilities, the working dir, command and args with $(VAR) expansion, env from a Secret, the pod's volumes at their
mount paths, its termination message and exit code, `kubectl logs`, and `podman ps` while it runs. Then the runner
Job the operator builds for a VideoJob (the chart's user, read-only root and mounts) runs in the runner image and
writes its MP4 to S3 for the tiny LTX smoke model.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import S3Endpoint
from tests.operator.factories import videojob
from videogen_common.model_choice import ResolvedModel
from videogen_dev import container_images, smoke_models
from videogen_dev.cluster import Cluster, node_agent_argv, node_agent_env
from videogen_dev.settings import REPO_ROOT, DevSettings
from videogen_operator import naming
from videogen_operator.runner_job import desired_job
from videogen_operator.settings import OperatorSettings

CHART_VALUES = yaml.safe_load((REPO_ROOT / "helm" / "videogen" / "values.yaml").read_text())
CHART_USER = CHART_VALUES["podSecurityContext"]["runAsUser"]
CHART_CONTAINER_SECURITY = CHART_VALUES["containerSecurityContext"]
CHART_POD_SECURITY = CHART_VALUES["podSecurityContext"]

# A cold machine builds the runner image (about 8 minutes); warm, podman checks its cache in about a minute.
pytestmark = pytest.mark.timeout(1500)


@dataclass(frozen=True)
class ContainerNode:
    name: str
    state_dir: Path
    engine: container_images.Engine

    def podman_ps(self) -> list[dict[str, Any]]:
        listed = self.engine.run(
            "ps", "--format=json", f"--filter=label=videogen.dev/node={self.name}", capture=True
        ).stdout
        return json.loads(listed or "[]")  # type: ignore[no-any-return]

    def volume_dir(self, namespace: str, pod: str, volume: str) -> Path:
        (folder,) = (self.state_dir / "pods").glob(f"{namespace}_{pod}_*")
        return folder / "volumes" / volume


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(component: str) -> container_images.Engine:
    """The image as `make images` builds it (layer-cached: seconds, or a minute for the runner, when unchanged)."""
    eng, built = container_images.build_images((component,))
    assert [b.tag for b in built] == [container_images.image_tag(component)]
    return eng


@pytest.fixture(scope="module")
def images() -> container_images.Engine:
    return build("operator")


@pytest.fixture(scope="module")
def runner_image() -> str:
    build("runner")
    return container_images.image_tag("runner")


@pytest.fixture(scope="module")
def container_node(
    cluster: Cluster, settings: DevSettings, images: container_images.Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ContainerNode]:
    name = f"container-node-{uuid.uuid4().hex[:6]}"
    state_dir = tmp_path_factory.mktemp("container-node")
    env = node_agent_env(settings, name, state_dir, free_port(), containers=True) | {
        # Only pods bound to it by name run here: no label the GPU pool selects, a taint nothing else tolerates.
        "VIDEOGEN_NODE_LABELS": json.dumps({"videogen.dev/container-test": name}),
        "VIDEOGEN_NODE_TAINTS": json.dumps([f"videogen.dev/container-test={name}:NoSchedule"]),
    }
    log = (state_dir / "agent.log").open("ab")
    agent = subprocess.Popen(
        node_agent_argv(settings), env=os.environ | env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while cluster.kubectl("get", "node", name, check=False).returncode != 0:
            assert agent.poll() is None and time.monotonic() < deadline, (state_dir / "agent.log").read_text()
            time.sleep(0.5)
        cluster.kubectl("wait", "--for=condition=Ready", f"node/{name}", "--timeout=60s", timeout=90)
        yield ContainerNode(name, state_dir, images)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        log.close()
        print((state_dir / "agent.log").read_text()[-4000:])
        cluster.kubectl("delete", "node", name, "--wait=false", check=False)


def pod_status(cluster: Cluster, namespace: str, pod: str) -> dict[str, Any]:
    return cluster.get_json("pod", pod, "-n", namespace).get("status", {})  # type: ignore[no-any-return]


def wait_pod(cluster: Cluster, namespace: str, pod: str, phases: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = pod_status(cluster, namespace, pod)
        if status.get("phase") in phases:
            return status
        time.sleep(0.5)
    raise AssertionError(f"pod {pod} not {phases} in {timeout}s: {json.dumps(status)[:2000]}")


def wait_log(cluster: Cluster, namespace: str, pod: str, marker: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = cluster.kubectl("logs", pod, "-n", namespace, check=False).stdout
        if marker in out:
            return out
        time.sleep(0.5)
    raise AssertionError(f"no {marker!r} in the logs of {pod}: {out[-2000:]}")


PROBE = """
import json, os, pathlib, sys, time
status = pathlib.Path("/proc/self/status").read_text()
caps = [line.split()[1] for line in status.splitlines() if line.startswith(("CapEff", "NoNewPrivs"))]
try:
    pathlib.Path("/written-to-root").write_text("x")
    root_writable = True
except OSError:
    root_writable = False
pathlib.Path("/tmp/scratch").write_text("the emptyDir is writable")
facts = {
    "uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups()), "cwd": os.getcwd(),
    "argv": sys.argv[1:], "python": sys.executable, "greeting": os.environ.get("GREETING_TWICE"),
    "config": pathlib.Path("/etc/probe/setting").read_text(), "caps": caps, "root_writable": root_writable,
}
print("probe facts", json.dumps(facts), flush=True)
while not pathlib.Path("/tmp/go").exists():
    time.sleep(0.2)
pathlib.Path("/dev/termination-log").write_text("probe done")
sys.exit(3)
"""


def test_a_pod_of_our_image_runs_as_a_podman_container_with_the_pods_identity_volumes_status_and_logs(
    cluster: Cluster, container_node: ContainerNode, namespace: str
) -> None:
    image = container_images.image_tag("operator")
    pod = "probe"
    objects = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "probe"}, "stringData": {"greeting": "hello"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"}, "data": {"setting": "from-cm"}},
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod},
            "spec": {
                "nodeName": container_node.name,
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "securityContext": CHART_POD_SECURITY,
                "containers": [
                    {
                        "name": "probe",
                        "image": image,
                        "command": ["python", "-c", PROBE],
                        "args": ["one", "$(GREETING)"],
                        "workingDir": "/tmp",
                        "env": [
                            {"name": "GREETING", "valueFrom": {"secretKeyRef": {"name": "probe", "key": "greeting"}}},
                            {"name": "GREETING_TWICE", "value": "$(GREETING) $(GREETING)"},
                        ],
                        "securityContext": CHART_CONTAINER_SECURITY,
                        "volumeMounts": [
                            {"name": "tmp", "mountPath": "/tmp"},
                            {"name": "config", "mountPath": "/etc/probe", "readOnly": True},
                        ],
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "config", "configMap": {"name": "probe"}}],
            },
        },
    ]
    cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=json.dumps({"kind": "List", "apiVersion": "v1", "items": objects})
    )

    wait_pod(cluster, namespace, pod, {"Running"}, timeout=120)
    logs = wait_log(cluster, namespace, pod, "probe facts")
    facts = json.loads(logs.split("probe facts", 1)[1].strip().splitlines()[0])
    assert facts["python"] == "/opt/venv/bin/python"  # the image's interpreter, not the checkout's venv
    assert (facts["uid"], facts["gid"]) == (CHART_USER, CHART_VALUES["podSecurityContext"]["runAsGroup"])
    assert CHART_VALUES["podSecurityContext"]["fsGroup"] in facts["groups"]
    assert facts["root_writable"] is False
    assert facts["caps"] == ["0000000000000000", "1"]  # every capability dropped, no privilege escalation
    assert (facts["cwd"], facts["argv"], facts["greeting"]) == ("/tmp", ["one", "hello"], "hello hello")
    assert facts["config"] == "from-cm"

    (running,) = container_node.podman_ps()
    assert running["Image"].endswith(image) and f"{namespace}_{pod}_" in running["Names"][0]
    status = pod_status(cluster, namespace, pod)
    assert status["containerStatuses"][0]["containerID"] == f"podman://{running['Names'][0]}"

    # The emptyDir is the host folder the agent made: what the container wrote is there, and it ends the probe.
    tmp = container_node.volume_dir(namespace, pod, "tmp")
    assert (tmp / "scratch").read_text() == "the emptyDir is writable"
    (tmp / "go").write_text("")
    status = wait_pod(cluster, namespace, pod, {"Failed", "Succeeded"}, timeout=60)
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert (status["phase"], terminated["exitCode"], terminated["reason"]) == ("Failed", 3, "Error")
    assert terminated["message"] == "probe done"
    assert "probe facts" in cluster.kubectl("logs", pod, "-n", namespace).stdout
    assert container_node.podman_ps() == []  # removed once it ended


GRACEFUL = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", flush=True)
time.sleep(600)
"""


def test_deleting_a_pod_stops_its_container_with_sigterm_within_the_grace_period(
    cluster: Cluster, container_node: ContainerNode, namespace: str
) -> None:
    grace = 30
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "graceful", "namespace": namespace},
        "spec": {
            "nodeName": container_node.name,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": grace,
            "automountServiceAccountToken": False,
            "containers": [
                {"name": "main", "image": container_images.image_tag("operator"), "command": ["python", "-c", GRACEFUL]}
            ],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    wait_log(cluster, namespace, "graceful", "ready")
    assert len(container_node.podman_ps()) == 1
    started = time.monotonic()
    cluster.kubectl("delete", "pod", "graceful", "-n", namespace, "--wait=true", timeout=grace + 30)
    # SIGTERM reached the process in the container (it exits at once); a SIGKILL would wait out the grace period.
    assert time.monotonic() - started < grace / 2
    assert container_node.podman_ps() == []


NO_HANDLER = """
import os, time
print("ready pid", os.getpid(), flush=True)
time.sleep(600)
"""


def test_a_process_without_a_sigterm_handler_is_pid_1_unless_the_pod_shares_its_process_namespace(
    cluster: Cluster, container_node: ContainerNode, namespace: str
) -> None:
    """As on a kubelet: the entrypoint is PID 1 and the kernel drops a SIGTERM it has no handler for, so deleting
    the pod waits out the grace period; with shareProcessNamespace (what all our pods ask for) pause is PID 1 and the
    SIGTERM's default action ends the process at once."""
    grace = 8
    for name, shared in (("alone", False), ("shared", True)):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "nodeName": container_node.name,
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": grace,
                "automountServiceAccountToken": False,
                "shareProcessNamespace": shared,
                "containers": [
                    {
                        "name": "main",
                        "image": container_images.image_tag("operator"),
                        "command": ["python", "-c", NO_HANDLER],
                    }
                ],
            },
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    pids = {
        name: wait_log(cluster, namespace, name, "ready pid").split("ready pid", 1)[1].split()[0]
        for name in ("alone", "shared")
    }
    assert pids["alone"] == "1" and pids["shared"] != "1", pids
    took = {}
    for name in ("alone", "shared"):
        started = time.monotonic()
        cluster.kubectl("delete", "pod", name, "-n", namespace, "--wait=true", timeout=grace + 30)
        took[name] = time.monotonic() - started
    assert took["shared"] < grace / 2 <= took["alone"], took


def test_the_operators_runner_job_runs_in_the_runner_image_and_writes_its_mp4_to_s3(
    runner_image: str,
    cluster: Cluster,
    settings: DevSettings,
    container_node: ContainerNode,
    namespace: str,
    s3: S3Endpoint,
    tmp_path: Path,
) -> None:
    cache = tmp_path / "model-cache"
    smoke_models.fill_model_cache(settings, cache, ("tiny-ltx",))
    subprocess.run(["chmod", "-R", "a+rX", str(cache)], check=True)
    operator = OperatorSettings(
        runner_image=runner_image,
        runner_run_as_user=CHART_VALUES["runner"]["runAsUser"],
        runner_cpu_request="100m",
        runner_memory_request="256Mi",
        runner_memory_limit=None,
        shm_size_limit="64Mi",
        tmp_size_limit="1Gi",
        output_bucket=s3.bucket,
        output_prefix=f"node-containers-{namespace}",
        runner_env={"VIDEOGEN_RUNNER_MP4_PRESET": "veryfast"},
    )
    snapshot = (
        f"{operator.model_cache_mount_path}/hub/models--videogen-smoke--tiny-ltx/snapshots/{smoke_models.REVISION}"
    )
    model = ResolvedModel(
        repo_id=smoke_models.repo_id("tiny-ltx"), path=snapshot, revision=smoke_models.REVISION, videomodel="smoke-ltx"
    )
    vj = videojob(model="smoke-ltx", num_frames=9, width=64, height=64, num_inference_steps=2, fps=8)
    output = naming.output_location(vj, operator)
    job = desired_job(
        vj,
        model,
        operator,
        s3_endpoint_url=s3.endpoint_url,
        s3_region=s3.region,
    )
    # No VideoJob owns it here (the garbage collector would delete an orphan), and it runs on the container node.
    job["metadata"] = {"name": "runner", "namespace": namespace, "labels": job["metadata"]["labels"]}
    pod_spec = job["spec"]["template"]["spec"]
    pod_spec["nodeName"] = container_node.name
    # The chart's runner: its non-root user and read-only root (the operator asks for the rest of restricted).
    pod_spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = True
    pv = smoke_models.model_cache_volume(f"container-node-{namespace}", cache, namespace, operator.model_cache_pvc)
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": operator.model_cache_pvc, "namespace": namespace},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "",
            "volumeName": pv["metadata"]["name"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": operator.s3_secret_name, "namespace": namespace},
        "stringData": {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key},
    }
    # The chart's runner service account: no RBAC, no token.
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": operator.runner_service_account, "namespace": namespace},
        "automountServiceAccountToken": False,
    }
    try:
        for doc in (pv, claim, secret, account, job):
            cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))
        cluster.kubectl(
            "wait",
            "--for=condition=Complete",
            "job/runner",
            "-n",
            namespace,
            "--timeout=180s",
            check=False,
            timeout=200,
        )
        (pod,) = cluster.get_json("pods", "-n", namespace, "-l", "job-name=runner")["items"]
        name = pod["metadata"]["name"]
        logs = cluster.kubectl("logs", name, "-n", namespace, check=False).stdout
        (container,) = pod["status"]["containerStatuses"]
        terminated = container["state"].get("terminated", {})
        assert pod["status"]["phase"] == "Succeeded", f"{json.dumps(pod['status'])[:3000]}\n{logs[-3000:]}"
        assert terminated["exitCode"] == 0 and container["containerID"].startswith("podman://")
        result = json.loads(terminated["message"])
        assert (result["exitCode"], result["videoUri"]) == (0, output.uri(output.video_key))
        body = s3.client().get_object(Bucket=s3.bucket, Key=output.video_key)["Body"].read()
        assert body[4:8] == b"ftyp" and len(body) > 1000
        assert logs.strip(), "kubectl logs of the runner pod is empty"
    finally:
        cluster.kubectl("delete", "pv", pv["metadata"]["name"], "--wait=false", check=False)
