"""A container's launch spec: its mounts, user, env and argv; and where a pod's files live on the host.

Each pod has a folder `<pods dir>/<namespace>_<name>_<uid>/` with `volumes/<volume>/` and
`containers/<container>/` (its log, its termination-message file, its launch spec); `lifecycle` removes it once
the pod is gone.

A container of one of our images that the node's podman store holds (with container mode on) is run from that image
(`ImageRun`: the image's own entrypoint, PATH and HOME); any other runs as a local process of the image table's
stand-in (`videogen_dev.images`).
"""

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videogen_dev import images
from videogen_dev.node import image_store
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
class ImageRun:
    """What running a container from its image adds to a launch: the image, and the container's securityContext as
    a runtime applies it."""

    image: str
    # command replaces the image's ENTRYPOINT (and its CMD with it); args replace the CMD. None: the image's own.
    command: list[str] | None
    args: list[str] | None
    read_only_root: bool
    drop_capabilities: list[str]
    add_capabilities: list[str]
    no_new_privileges: bool
    # The pod's shareProcessNamespace: the sandbox's pause is PID 1 there, so the container's process is not and a
    # SIGTERM without a handler yet stops it (a runtime's init process stands in for pause).
    shared_process_namespace: bool = False


@dataclass(frozen=True)
class Launch:
    """Everything needed to start one container, whatever starts it (see `runtime`)."""

    # The local process's argv (command and args, or the image table's entrypoint); for an image run, informative.
    argv: list[str]
    env: dict[str, str]
    # None: the image's (a local process starts in /).
    working_dir: str | None
    mounts: list[Mount]
    uid: int | None
    gid: int | None
    groups: list[int]
    # The container's own folder: its log, its termination-message file, the runtime's files.
    container_dir: Path
    # The host file mounted at terminationMessagePath.
    termination_file: Path
    termination_policy: str
    # Set when the container runs from its image (podman); None: a local process.
    image_run: ImageRun | None = None

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
    from_image = settings.containers and image_store.holds(settings, container.image)
    try:
        local = images.resolve(container.image)
    except images.UnknownImageError as err:
        if not from_image:
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
    # the venv a local process runs from: the checkout is mounted back over itself, last.
    checkout = settings.venv_bin.parent.parent
    if not from_image and any(Path(m.target) == checkout or Path(m.target) in checkout.parents for m in mounts):
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

    # What the kubelet adds to every container (the apiserver is on loopback: pods share the host's network).
    env = {
        "HOSTNAME": pod.metadata.name,
        "KUBERNETES_SERVICE_HOST": settings.apiserver_host,
        "KUBERNETES_SERVICE_PORT": str(settings.apiserver_port),
        **container_env(core, pod, container),
    }
    command = [expand(c, env) for c in container.command] if container.command else None
    args = [expand(a, env) for a in container.args] if container.args is not None else None
    # As an image runs it (the image gives PATH, HOME and the working dir when the pod does not).
    launch = Launch(
        argv=[*(command or []), *(args or [])],
        env=env,
        working_dir=container.working_dir or None,
        mounts=mounts,
        uid=uid,
        gid=gid,
        groups=groups,
        container_dir=base,
        termination_file=termination_host,
        termination_policy=container.termination_message_policy or "File",
    )
    if from_image:
        shared = bool(pod.spec.share_process_namespace)
        return dataclasses.replace(launch, image_run=_image_run(container, command, args, shared))
    # A local process has no image to give it PATH and HOME: the stand-in's, and a home it may write.
    env = {
        "PATH": images.search_path(settings.venv_bin, local),
        "HOME": "/root" if uid in (None, 0) else str(base),
        "PYTHONUNBUFFERED": "1",
    } | env
    argv = (command or list(local.entrypoint)) + (args or [])
    return dataclasses.replace(launch, argv=argv, env=env, working_dir=container.working_dir or "/")


def _image_run(container: Any, command: list[str] | None, args: list[str] | None, shared_pid: bool) -> ImageRun:
    sc = container.security_context
    capabilities = sc.capabilities if sc else None
    return ImageRun(
        image=container.image,
        command=command,
        args=args,
        read_only_root=bool(sc and sc.read_only_root_filesystem),
        drop_capabilities=list((capabilities.drop if capabilities else None) or []),
        add_capabilities=list((capabilities.add if capabilities else None) or []),
        # Kubernetes' default is to allow escalation; restricted pods say false.
        no_new_privileges=bool(sc and sc.allow_privilege_escalation is False),
        shared_process_namespace=shared_pid,
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
