"""The node agent's settings: `VIDEOGEN_NODE_*` variables, set by `videogen_dev.cluster` when it starts the agent."""

import os
import sys
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class NodeAgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDEOGEN_NODE_")

    name: str = "gpu-node-0"
    kubeconfig: Path
    state_dir: Path
    venv_bin: Path = Path(sys.executable).parent
    apiserver_host: str = "127.0.0.1"
    apiserver_port: int = 16443
    # Like an 8-GPU node: room for the test suite's two pytest processes to schedule GPU pods side by side.
    gpus: int = 8
    cpu: str = str(os.cpu_count() or 2)
    memory: str = "16Gi"
    max_pods: int = 110
    labels: dict[str, str] = {
        "videogen.dev/pool": "gpu",
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": "local-cpu-stand-in",
    }
    # key=value:Effect, as kubelet's --register-with-taints.
    taints: list[str] = ["nvidia.com/gpu=present:NoSchedule"]
    heartbeat_seconds: float = 10.0
    # kubelet's port for `kubectl logs`; serving cert and the CA that signs the apiserver's client cert.
    logs_port: int = 20250
    serving_cert: Path | None = None
    serving_key: Path | None = None
    client_ca: Path | None = None
    resync_seconds: float = 15.0
    # Run the containers of our images (videogen/*) that podman's store holds as podman containers of them, rather
    # than as local processes of the venv (see `image_store`).
    containers: bool = False
    # The containers.conf podman runs with (`make images` writes it: runc, rlimits within the machine's).
    containers_conf: Path | None = None

    @property
    def serves_logs(self) -> bool:
        return self.serving_cert is not None and self.serving_key is not None and self.client_ca is not None

    @property
    def pods_dir(self) -> Path:
        return self.state_dir / "pods"
