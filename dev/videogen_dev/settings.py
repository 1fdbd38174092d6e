"""Settings of the local environment, one object read from `VIDEOGEN_DEV_*` variables."""

from functools import cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


def pinned_version(module_dir: str, module: str) -> str:
    """The version a dev/ Go module pins for `module`: its go.mod is the one place versions are written."""
    for line in (REPO_ROOT / "dev" / module_dir / "go.mod").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["require"]:
            parts = parts[1:]
        if len(parts) == 2 and parts[0] == module:
            return parts[1]
    raise LookupError(f"dev/{module_dir}/go.mod does not require {module}")


class DevSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDEOGEN_DEV_")

    #: Runtime state (certificates, etcd and S3 data, logs, pids, kubeconfigs), ignored by git.
    state_dir: Path = REPO_ROOT / ".dev"
    #: Built binaries (control plane, helm) outlive clones: keyed by version under the user's cache folder.
    cache_dir: Path = Path.home() / ".cache" / "videogen"
    #: The venv whose entry points the local node runs for our images in process mode (see node_containers).
    venv_bin: Path = REPO_ROOT / ".venv" / "bin"

    # Loopback ports, chosen away from the usual defaults so a developer's own cluster tools do not clash.
    #: etcd's client port.
    etcd_client_port: int = 22379
    #: etcd's peer port.
    etcd_peer_port: int = 22380
    #: kube-apiserver (https; `.dev/kubeconfig` points here).
    apiserver_port: int = 16443
    #: The controller manager's health and metrics port.
    controller_manager_port: int = 20257
    #: The scheduler's health and metrics port.
    scheduler_port: int = 20259
    #: The local node's `/containerLogs` server (`kubectl logs`).
    node_logs_port: int = 20250
    #: SeaweedFS's S3 gateway (http; what every component's VIDEOGEN_S3_ENDPOINT_URL points at).
    s3_port: int = 18333
    #: SeaweedFS's master server.
    s3_master_port: int = 19333
    #: SeaweedFS's volume server.
    s3_volume_port: int = 18380
    #: SeaweedFS's filer.
    s3_filer_port: int = 18888

    #: The local S3's only identity (it listens on loopback only).
    s3_access_key: str = "videogen-dev"
    #: Its secret key.
    s3_secret_key: str = "videogen-dev-secret"  # noqa: S105 - a loopback-only development store
    #: Its region.
    s3_region: str = "us-east-1"
    #: Buckets created at start.
    s3_buckets: list[str] = ["videogen"]

    #: Where `make up`'s API listens (http, loopback; the chart's api.port).
    api_port: int = 8080
    #: `make up`'s operator health endpoint (the chart's operator.healthPort; pods share the host's network).
    operator_health_port: int = 18081

    #: Name of the local GPU-pool node.
    node_name: str = "gpu-node-0"
    #: The local node runs the pods of our images (videogen/*) as podman containers of the images built from this
    #: checkout (`make up`, `cluster-up` and the tests' cluster build them first; unchanged ones in a second); false
    #: (`--processes`): as processes of the venv, which isolates nothing and builds no image.
    node_containers: bool = True

    @property
    def k8s_bin(self) -> Path:
        return self.cache_dir / f"k8s-{pinned_version('controlplane', 'k8s.io/kubernetes')}" / "bin"

    @property
    def helm(self) -> Path:
        return self.cache_dir / f"helm-{pinned_version('helm', 'helm.sh/helm/v4')}" / "bin" / "helm"

    @property
    def helm3(self) -> Path:
        """Helm 3, only to check the chart stays compatible with the major version many clusters still use."""
        return self.cache_dir / f"helm-{pinned_version('helm3', 'helm.sh/helm/v3')}" / "bin" / "helm"

    @property
    def pki_dir(self) -> Path:
        return self.state_dir / "pki"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def apiserver_url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def s3_endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"


@cache
def dev_settings() -> DevSettings:
    return DevSettings()
