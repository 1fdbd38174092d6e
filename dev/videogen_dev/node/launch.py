"""A container's launch spec: its mounts, user, env and argv; and where a pod's files live on the host.

Each pod has a folder `<pods dir>/<namespace>_<name>_<uid>/` with `volumes/<volume>/` and
`containers/<container>/` (its log, its termination-message file, its launch spec); `lifecycle` removes it once
the pod is gone.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videogen_dev import images
from videogen_dev.node.env import container_env, expand
from videogen_dev.node.references import ContainerConfigError
from videogen_dev.node.settings import NodeAgentSettings

LOG_FILE_NAME = "output.log"


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool


@dataclass(frozen=True)
class Launch:
    """Everything needed to start one container, whatever starts it (see `runtime`)."""

    argv: list[str]
    env: dict[str, str]
    working_dir: str
    mounts: list[Mount]
    uid: int | None
    gid: int | None
    groups: list[int]
    # The container's own folder: its log, its termination-message file, the runtime's files.
    container_dir: Path
    # The host file mounted at terminationMessagePath.
    termination_file: Path
    termination_policy: str

    @property
    def log_file(self) -> Path:
        return self.container_dir / LOG_FILE_NAME


def pod_dir(pods_dir: Path, pod: Any) -> Path:
    return pods_dir / f"{pod.metadata.namespace}_{pod.metadata.name}_{pod.metadata.uid}"


def find_log_file(pods_dir: Path, namespace: str, pod: str, container: str) -> Path | None:
    """The log of a container of a pod by name (what `kubectl logs` asks for), if the pod has a folder here."""
    for folder in pods_dir.glob(f"{namespace}_{pod}_*"):
        return folder / "containers" / container / LOG_FILE_NAME
    return None


def launch_spec(
    core: Any, settings: NodeAgentSettings, pod: Any, container: Any, volumes: dict[str, Path], pod_dir: Path
) -> Launch:
    try:
        local = images.resolve(container.image)
    except images.UnknownImageError as err:
        raise ContainerConfigError("ErrImagePull", str(err)) from err
    base = pod_dir / "containers" / container.name
    base.mkdir(parents=True, exist_ok=True)
    termination_host = base / "termination-log"
    termination_host.write_text("")
    mounts = []
    for mount in container.volume_mounts or []:
        if mount.name not in volumes:
            raise ContainerConfigError("CreateContainerConfigError", f"volumeMount {mount.name!r} has no volume")
        source = volumes[mount.name]
        if mount.sub_path:
            source = source / mount.sub_path
            source.mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(source, mount.mount_path, bool(mount.read_only)))
    mounts.append(Mount(termination_host, container.termination_message_path or "/dev/termination-log", False))
    # A mount over an ancestor of the checkout (an emptyDir at /tmp, with the checkout under /tmp) would hide
    # the venv the container runs from: the checkout is mounted back over itself, last.
    checkout = settings.venv_bin.parent.parent
    if any(Path(m.target) == checkout or Path(m.target) in checkout.parents for m in mounts):
        mounts.append(Mount(checkout, str(checkout), False))

    uid, gid, groups = _identity(pod, container)
    if uid is not None:
        for path in [
            base,
            *(volumes[m.name] for m in container.volume_mounts or [] if pod_dir in volumes[m.name].parents),
        ]:
            os.chown(path, uid, gid if gid is not None else -1)
            path.chmod(0o775)
        os.chown(termination_host, uid, gid if gid is not None else -1)

    env = {
        "PATH": images.search_path(settings.venv_bin, local),
        "HOSTNAME": pod.metadata.name,
        "HOME": "/root" if uid in (None, 0) else str(base),
        "KUBERNETES_SERVICE_HOST": settings.apiserver_host,
        "KUBERNETES_SERVICE_PORT": str(settings.apiserver_port),
        "PYTHONUNBUFFERED": "1",
        **container_env(core, pod, container),
    }
    command = list(container.command or local.entrypoint)
    args = [expand(a, env) for a in container.args or []]
    return Launch(
        argv=[expand(c, env) for c in command] + args,
        env=env,
        working_dir=container.working_dir or "/",
        mounts=mounts,
        uid=uid,
        gid=gid,
        groups=groups,
        container_dir=base,
        termination_file=termination_host,
        termination_policy=container.termination_message_policy or "File",
    )


def _identity(pod: Any, container: Any) -> tuple[int | None, int | None, list[int]]:
    """runAsUser, runAsGroup (the container's over the pod's) and the supplementary groups (fsGroup first)."""
    pod_sc = pod.spec.security_context
    sc = container.security_context
    uid = (sc.run_as_user if sc and sc.run_as_user is not None else None) or (pod_sc.run_as_user if pod_sc else None)
    gid = (sc.run_as_group if sc and sc.run_as_group is not None else None) or (pod_sc.run_as_group if pod_sc else None)
    groups = []
    if pod_sc and pod_sc.fs_group is not None:
        groups.append(pod_sc.fs_group)
    if pod_sc and pod_sc.supplemental_groups:
        groups.extend(pod_sc.supplemental_groups)
    if uid is not None and gid is None:
        gid = groups[0] if groups else uid
    return uid, gid, groups
