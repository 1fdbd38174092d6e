"""Containers run from their images with podman: the `ContainerRuntime` for launches with an `ImageRun`.

`podman run` runs attached (its exit code is the container's) with the launch's env, bind mounts, user, groups and
securityContext, on the host's network as every pod here; its output goes to the container's log file, which
`kubectl logs` reads as it does a local process's. Secret values never appear on a command line: podman takes each
variable by name (`--env NAME`) from its own environment. Containers carry the node's name as a label, so the agent
removes what an earlier agent process left running.
"""

import contextlib
import json
import logging
import subprocess
from dataclasses import dataclass

from videogen_dev.node.image_store import podman_env
from videogen_dev.node.launch import ImageRun, Launch
from videogen_dev.node.runtime import AttachedProcess
from videogen_dev.node.settings import NodeAgentSettings

log = logging.getLogger("videogen.node-agent")

NODE_LABEL = "videogen.dev/node"
#: Variables podman itself reads: these go to the container inline (never credentials), the rest by name.
PODMAN_OWN_ENV = frozenset({"PATH", "HOME", "TMPDIR", "CONTAINERS_CONF", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"})


def container_name(launch: Launch) -> str:
    # <pod folder>_<container>: unique per pod uid; podman's names allow [a-zA-Z0-9_.-].
    return f"{launch.container_dir.parent.parent.name}_{launch.container_dir.name}"


def run_argv(name: str, node: str, launch: Launch, image_run: ImageRun) -> list[str]:
    """`podman run` for this launch, the container's env variables named but not valued (see `run_env`)."""
    argv = ["podman", "run", "--rm", "--replace", f"--name={name}", f"--label={NODE_LABEL}={node}"]
    # Nothing to pull from here; the host's network, as every pod on this node (and no rewritten iptables).
    argv += ["--pull=never", "--network=host", "--log-driver=none"]
    if image_run.read_only_root:
        # podman would add its own tmpfs on /tmp, /var/tmp and /run to a read-only root: a pod has only its mounts.
        argv += ["--read-only", "--read-only-tmpfs=false"]
    argv += [f"--cap-drop={c}" for c in image_run.drop_capabilities]
    argv += [f"--cap-add={c}" for c in image_run.add_capabilities]
    if image_run.no_new_privileges:
        argv.append("--security-opt=no-new-privileges")
    if image_run.shared_process_namespace:
        # catatonit as PID 1, as pause is in a pod that shares its process namespace: signals reach the process
        # with their default action (a real kubelet's pod without it runs the entrypoint as PID 1, as here).
        argv.append("--init")
    if launch.uid is not None:
        argv.append(f"--user={launch.uid}:{launch.gid if launch.gid is not None else launch.uid}")
    argv += [f"--group-add={g}" for g in launch.groups]
    if launch.working_dir:
        argv.append(f"--workdir={launch.working_dir}")
    for mount in launch.mounts:
        argv.append(f"--volume={mount.source}:{mount.target}:{'ro' if mount.read_only else 'rw'}")
    for key, value in launch.env.items():
        argv.append(f"--env={key}={value}" if key in PODMAN_OWN_ENV else f"--env={key}")
    if image_run.command is not None:
        # As Kubernetes: command replaces the image's ENTRYPOINT and drops its CMD; args replace the CMD.
        argv.append(f"--entrypoint={json.dumps(image_run.command)}")
    return [*argv, image_run.image, *(image_run.args or [])]


def run_env(settings: NodeAgentSettings, launch: Launch) -> dict[str, str]:
    """podman's own environment, carrying the values of the variables `run_argv` names."""
    return podman_env(settings) | {k: v for k, v in launch.env.items() if k not in PODMAN_OWN_ENV}


class PodmanContainer(AttachedProcess):
    def __init__(self, name: str, proc: subprocess.Popen[bytes], settings: NodeAgentSettings) -> None:
        super().__init__(proc)
        self._name = name
        self._settings = settings

    @property
    def container_id(self) -> str:
        return f"podman://{self._name}"

    def terminate(self) -> None:
        self._podman("kill", "--signal=TERM", self._name)

    def kill(self) -> None:
        # rm --force stops (SIGKILL) and removes the container; the attached `podman run` then returns. Should the
        # container not exist yet, ending `podman run` itself stops its start.
        if not self._podman("rm", "--force", "--time=0", self._name) and self._proc.poll() is None:
            self._proc.kill()

    def _podman(self, *args: str) -> bool:
        done = subprocess.run(
            ["podman", *args], env=podman_env(self._settings), capture_output=True, timeout=60, check=False
        )
        return done.returncode == 0


@dataclass(frozen=True)
class PodmanRuntime:
    settings: NodeAgentSettings

    def start(self, launch: Launch) -> PodmanContainer:
        if launch.image_run is None:
            raise ValueError("a podman launch needs an image")
        name = container_name(launch)
        with open(launch.log_file, "ab") as out:
            proc = subprocess.Popen(
                run_argv(name, self.settings.name, launch, launch.image_run),
                env=run_env(self.settings, launch),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return PodmanContainer(name, proc, self.settings)

    def remove_leftovers(self) -> None:
        """Remove the containers an earlier agent process of this node left (their pods are reported lost)."""
        env = podman_env(self.settings)
        listed = subprocess.run(
            ["podman", "ps", "--all", "--quiet", f"--filter=label={NODE_LABEL}={self.settings.name}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        ids = listed.stdout.split()
        if ids:
            log.info("removing %d containers an earlier agent left", len(ids))
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(["podman", "rm", "--force", "--time=0", *ids], env=env, capture_output=True, timeout=120)
