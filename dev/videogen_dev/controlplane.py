"""Start and stop the local control plane: etcd, kube-apiserver (client certs, service-account tokens,
Node+RBAC authorization), kube-controller-manager and kube-scheduler, all on loopback.

The apiserver flags follow controller-runtime's envtest; unlike envtest the controllers and the scheduler
run too, so Jobs, garbage collection and scheduling are real.
"""

import ssl
import time
import urllib.error
import urllib.request

from videogen_dev import pki, processes
from videogen_dev.kubeconfig import write_kubeconfig
from videogen_dev.settings import DevSettings

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
SERVICE_CIDR = "10.96.0.0/12"


class ControlPlaneError(RuntimeError):
    pass


def _binary(settings: DevSettings, name: str) -> str:
    path = settings.k8s_bin / name
    if not path.exists():
        raise ControlPlaneError(f"{path} is missing: run `make controlplane` (dev/build-control-plane.sh) first")
    return str(path)


def _etcd_argv(settings: DevSettings) -> list[str]:
    client = f"http://127.0.0.1:{settings.etcd_client_port}"
    peer = f"http://127.0.0.1:{settings.etcd_peer_port}"
    return [
        _binary(settings, "etcd"),
        "--name=videogen-dev",
        f"--data-dir={settings.state_dir / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=videogen-dev={peer}",
        # A throwaway development store: durability is not worth the fsync latency on a shared disk.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def _apiserver_argv(settings: DevSettings) -> list[str]:
    p = settings.pki_dir
    return [
        _binary(settings, "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{settings.etcd_client_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={settings.apiserver_port}",
        f"--cert-dir={p}",
        f"--tls-cert-file={p / 'apiserver.crt'}",
        f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={p / 'ca.crt'}",
        f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
        # `kubectl logs` reaches the local node on 127.0.0.1; its hostname resolves nowhere.
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-key-file={p / 'sa.pub'}",
        f"--service-account-signing-key-file={p / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--api-audiences=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        # No kubelet serves the node's address and the `kubernetes` Endpoints may not hold a loopback IP.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        "-v=1",
    ]


def _controller_manager_argv(settings: DevSettings) -> list[str]:
    p = settings.pki_dir
    kubeconfig = settings.state_dir / "controller-manager.kubeconfig"
    return [
        _binary(settings, "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={settings.controller_manager_port}",
        f"--cert-dir={settings.state_dir / 'controller-manager-certs'}",
        "--leader-elect=false",
        # Each controller acts as its own service account, as in kubeadm clusters: RBAC stays meaningful.
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={p / 'sa.key'}",
        f"--root-ca-file={p / 'ca.crt'}",
        f"--cluster-signing-cert-file={p / 'ca.crt'}",
        f"--cluster-signing-key-file={p / 'ca.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--controllers=*",
        "--profiling=false",
        "-v=1",
    ]


def _scheduler_argv(settings: DevSettings) -> list[str]:
    kubeconfig = settings.state_dir / "scheduler.kubeconfig"
    return [
        _binary(settings, "kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={settings.scheduler_port}",
        f"--cert-dir={settings.state_dir / 'scheduler-certs'}",
        "--leader-elect=false",
        "--profiling=false",
        "-v=1",
    ]


def _https_ok(settings: DevSettings, url: str) -> bool:
    context = ssl.create_default_context(cafile=str(settings.pki_dir / "ca.crt"))
    cert, key = pki.ensure_client(settings.pki_dir, pki.ADMIN)
    context.load_cert_chain(str(cert), str(key))
    if "127.0.0.1:" + str(settings.apiserver_port) not in url:
        # The controllers' health ports serve self-signed certificates.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:  # noqa: S310 - loopback
            return bool(response.status == 200 and response.read().strip() == b"ok")
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def _wait(settings: DevSettings, name: str, check_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _https_ok(settings, check_url):
            return
        if processes.running_pid(settings, name) is None:
            raise ControlPlaneError(f"{name} exited; last log lines:\n{processes.log_tail(settings, name)}")
        time.sleep(0.25)
    raise ControlPlaneError(
        f"{name} not healthy at {check_url} after {timeout}s:\n{processes.log_tail(settings, name)}"
    )


def _wait_etcd(settings: DevSettings, timeout: float) -> None:
    url = f"http://127.0.0.1:{settings.etcd_client_port}/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if b'"health":"true"' in response.read():
                    return
        except (urllib.error.URLError, OSError):
            pass
        if processes.running_pid(settings, "etcd") is None:
            raise ControlPlaneError(f"etcd exited; last log lines:\n{processes.log_tail(settings, 'etcd')}")
        time.sleep(0.1)
    raise ControlPlaneError(f"etcd not healthy after {timeout}s:\n{processes.log_tail(settings, 'etcd')}")


def is_ready(settings: DevSettings) -> bool:
    return _https_ok(settings, f"{settings.apiserver_url}/readyz")


def start(settings: DevSettings) -> None:
    """Start whatever part of the control plane is not running; returns once all of it is healthy."""
    pki.ensure_pki(settings.pki_dir)
    write_kubeconfig(settings, pki.ADMIN, settings.admin_kubeconfig)
    write_kubeconfig(settings, pki.CONTROLLER_MANAGER, settings.state_dir / "controller-manager.kubeconfig")
    write_kubeconfig(settings, pki.SCHEDULER, settings.state_dir / "scheduler.kubeconfig")

    processes.start(settings, "etcd", _etcd_argv(settings))
    _wait_etcd(settings, timeout=30)
    processes.start(settings, "kube-apiserver", _apiserver_argv(settings))
    _wait(settings, "kube-apiserver", f"{settings.apiserver_url}/readyz", timeout=90)
    processes.start(settings, "kube-controller-manager", _controller_manager_argv(settings))
    processes.start(settings, "kube-scheduler", _scheduler_argv(settings))
    _wait(
        settings,
        "kube-controller-manager",
        f"https://127.0.0.1:{settings.controller_manager_port}/healthz",
        timeout=60,
    )
    _wait(settings, "kube-scheduler", f"https://127.0.0.1:{settings.scheduler_port}/healthz", timeout=60)


def stop(settings: DevSettings) -> None:
    # Reverse order: clients before the store they write to.
    for name in reversed(COMPONENTS):
        processes.stop(settings, name)
