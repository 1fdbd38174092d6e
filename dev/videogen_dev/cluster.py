"""The whole local cluster as one thing to start, check and stop: control plane, local node, S3, CRDs."""

import json
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from videogen_dev import container_images, controlplane, pki, processes, s3
from videogen_dev.kubeconfig import write_kubeconfig
from videogen_dev.settings import REPO_ROOT, DevSettings

NODE_AGENT = "node-agent"


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class Cluster:
    """A handle on the running local cluster for scripts and tests."""

    settings: DevSettings
    #: In container mode the id of each image the node runs (api, operator, runner), as built for this start.
    image_ids: Mapping[str, str] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.settings.admin_kubeconfig

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the project's kubectl as the admin; on failure with check=True the error shows stderr."""
        result = subprocess.run(
            [str(self.settings.venv_bin / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def get_json(self, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)  # type: ignore[no-any-return]


def node_agent_env(
    settings: DevSettings, name: str, state_dir: Path, logs_port: int, containers: bool
) -> dict[str, str]:
    """The environment of a node agent `name` joining this cluster (its credentials issued by the cluster's CA)."""
    kubeconfig = write_kubeconfig(settings, pki.node_identity(name), settings.state_dir / f"node-{name}.kubeconfig")
    serving_cert, serving_key = pki.ensure_node_serving(settings.pki_dir, name)
    env = {
        "VIDEOGEN_NODE_NAME": name,
        "VIDEOGEN_NODE_KUBECONFIG": str(kubeconfig),
        "VIDEOGEN_NODE_STATE_DIR": str(state_dir),
        "VIDEOGEN_NODE_VENV_BIN": str(settings.venv_bin),
        "VIDEOGEN_NODE_APISERVER_PORT": str(settings.apiserver_port),
        "VIDEOGEN_NODE_LOGS_PORT": str(logs_port),
        "VIDEOGEN_NODE_SERVING_CERT": str(serving_cert),
        "VIDEOGEN_NODE_SERVING_KEY": str(serving_key),
        "VIDEOGEN_NODE_CLIENT_CA": str(settings.pki_dir / "ca.crt"),
        "PYTHONUNBUFFERED": "1",
    }
    if containers:
        env |= {
            "VIDEOGEN_NODE_CONTAINERS": "true",
            "VIDEOGEN_NODE_CONTAINERS_CONF": str(container_images.podman_conf()),
        }
    return env


def node_agent_argv(settings: DevSettings) -> list[str]:
    return [str(settings.venv_bin / "python"), "-m", "videogen_dev.node.agent"]


def _node_mode_file(settings: DevSettings) -> Path:
    return settings.run_dir / f"{NODE_AGENT}.mode"


def start_node_agent(settings: DevSettings) -> None:
    """Start the local node's agent, or restart it when it runs in the other mode (containers or processes)."""
    mode = "containers" if settings.node_containers else "processes"
    mode_file = _node_mode_file(settings)
    running_mode = mode_file.read_text() if mode_file.exists() else "processes"
    if processes.running_pid(settings, NODE_AGENT) is not None and running_mode != mode:
        processes.stop(settings, NODE_AGENT)
    env = node_agent_env(
        settings, settings.node_name, settings.state_dir / "node", settings.node_logs_port, settings.node_containers
    )
    processes.start(settings, NODE_AGENT, node_agent_argv(settings), env=env, cwd=REPO_ROOT)
    mode_file.write_text(mode)


def wait_node_ready(cluster: Cluster, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = "not registered"
    while time.monotonic() < deadline:
        result = cluster.kubectl("get", "node", cluster.settings.node_name, "-o", "json", check=False)
        if result.returncode == 0:
            node = json.loads(result.stdout)
            ready = [c for c in node["status"].get("conditions", []) if c["type"] == "Ready"]
            last = json.dumps(ready)
            if ready and ready[0]["status"] == "True":
                return
        if processes.running_pid(cluster.settings, NODE_AGENT) is None:
            raise ClusterError(f"node agent exited:\n{processes.log_tail(cluster.settings, NODE_AGENT)}")
        time.sleep(0.3)
    raise ClusterError(f"node {cluster.settings.node_name} not Ready after {timeout}s; last seen: {last}")


def install_crds(cluster: Cluster) -> None:
    crds = REPO_ROOT / "crds"
    if not any(crds.glob("*.yaml")):
        return
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(crds))


def build_images() -> dict[str, str]:
    """`make images`: what the node's containers run is what this checkout builds (unchanged inputs are not rebuilt).
    The image id per component."""
    started = time.monotonic()
    try:
        engine, built = container_images.build_images(container_images.COMPONENTS)
    except (container_images.ImageBuildError, subprocess.CalledProcessError) as err:
        raise ClusterError(f"make images failed: {err}") from err
    for image in built:
        how = f"{image.seconds:.0f}s" if image.fresh else "unchanged inputs, not rebuilt"
        print(f"{image.tag}: {image.size_bytes / 1e9:.2f} GB, {how} with {engine.command}")
    print(f"images ready in {time.monotonic() - started:.0f}s")
    return {image.component: image.image_id for image in built}


def up(settings: DevSettings) -> Cluster:
    """Start every part that is not running (idempotent) and return once all are healthy. In container mode the
    images are built first, so the node never runs code older than the checkout."""
    image_ids = build_images() if settings.node_containers else {}
    controlplane.start(settings)
    cluster = Cluster(settings, image_ids)
    start_node_agent(settings)
    s3.start(settings)
    wait_node_ready(cluster)
    install_crds(cluster)
    return cluster


def down(settings: DevSettings) -> None:
    # The node agent first: it stops its pods' processes before the API they report to goes away.
    processes.stop(settings, NODE_AGENT)
    s3.stop(settings)
    controlplane.stop(settings)


def status(settings: DevSettings) -> dict[str, int | None]:
    names = (*controlplane.COMPONENTS, NODE_AGENT, s3.NAME)
    return {name: processes.running_pid(settings, name) for name in names}
