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

    # Runtime state (certs, etcd data, logs, pids, kubeconfigs) lives in the checkout, ignored by git.
    state_dir: Path = REPO_ROOT / ".dev"
    # Built binaries outlive clones: keyed by version under the user's cache folder.
    cache_dir: Path = Path.home() / ".cache" / "videogen"
    venv_bin: Path = REPO_ROOT / ".venv" / "bin"

    # Loopback ports, chosen away from the usual defaults so a developer's own cluster tools do not clash.
    etcd_client_port: int = 22379
    etcd_peer_port: int = 22380
    apiserver_port: int = 16443
    controller_manager_port: int = 20257
    scheduler_port: int = 20259
    node_logs_port: int = 20250
    s3_port: int = 18333
    s3_master_port: int = 19333
    s3_volume_port: int = 18380
    s3_filer_port: int = 18888

    s3_access_key: str = "videogen-dev"
    s3_secret_key: str = "videogen-dev-secret"  # noqa: S105 - a loopback-only development store
    s3_region: str = "us-east-1"
    s3_buckets: list[str] = ["videogen"]

    node_name: str = "gpu-node-0"

    @property
    def k8s_bin(self) -> Path:
        return self.cache_dir / f"k8s-{pinned_version('controlplane', 'k8s.io/kubernetes')}" / "bin"

    @property
    def helm(self) -> Path:
        return self.cache_dir / f"helm-{pinned_version('helm', 'helm.sh/helm/v4')}" / "bin" / "helm"

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
