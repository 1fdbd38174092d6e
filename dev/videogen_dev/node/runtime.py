"""How a container is started, signalled and awaited: the `ContainerRuntime` seam, and local processes behind it.

`lifecycle` needs only this of a runtime: start a container from its `Launch`, ask whether it still runs,
wait for its exit code, send it SIGTERM or SIGKILL. `LocalProcessRuntime` runs `videogen_dev.container_shim`
under `unshare --mount` as the root of its own process group; the shim makes the bind mounts, drops to the
container's user and execs the command, so the container's pid is the command's. `NodeRuntime` sends a launch
with an image (`Launch.image_run`) to the image runtime (`podman`) and any other to local processes.
"""

import contextlib
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from videogen_dev.node.launch import Launch


class Container(Protocol):
    """One started container."""

    @property
    def container_id(self) -> str:
        """The containerID its status reports."""
        ...

    def exit_code(self) -> int | None:
        """None while it runs."""
        ...

    def wait(self) -> int:
        """Its exit code once it has ended; a signal N reads 128+N, as runtimes report it."""
        ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class ContainerRuntime(Protocol):
    def start(self, launch: Launch) -> Container: ...


class AttachedProcess:
    """The exit code of a container whose end is the end of a local process (the container's own process group,
    or an attached `podman run`), read as container runtimes report it."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    def exit_code(self) -> int | None:
        code = self._proc.poll()
        return None if code is None else as_reported(code)

    def wait(self) -> int:
        return as_reported(self._proc.wait())


class LocalProcess(AttachedProcess):
    """A container that is a process group on this host."""

    @property
    def container_id(self) -> str:
        return f"videogen-local://{self._proc.pid}"

    def terminate(self) -> None:
        _signal_group(self._proc.pid, signal.SIGTERM)

    def kill(self) -> None:
        _signal_group(self._proc.pid, signal.SIGKILL)


@dataclass(frozen=True)
class LocalProcessRuntime:
    # The venv whose python runs the shim.
    venv_bin: Path

    def start(self, launch: Launch) -> LocalProcess:
        spec_file = launch.container_dir / "launch.json"
        spec_file.write_text(json.dumps(_shim_spec(launch)))
        # The spec holds the container's env, Secret values included.
        spec_file.chmod(0o600)
        with open(launch.log_file, "ab") as out:
            proc = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "--",
                    str(self.venv_bin / "python"),
                    "-m",
                    "videogen_dev.container_shim",
                    str(spec_file),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Own process group: stopping the container signals everything it started.
                start_new_session=True,
            )
        return LocalProcess(proc)


@dataclass(frozen=True)
class NodeRuntime:
    local: ContainerRuntime
    # None: no launch has an image (container mode off).
    images: ContainerRuntime | None = None

    def start(self, launch: Launch) -> Container:
        if launch.image_run is not None:
            if self.images is None:
                raise ValueError(f"{launch.image_run.image}: container mode is off")
            return self.images.start(launch)
        return self.local.start(launch)


def _shim_spec(launch: Launch) -> dict[str, Any]:
    """The JSON document `container_shim` reads."""
    return {
        "mounts": [{"source": str(m.source), "target": m.target, "readOnly": m.read_only} for m in launch.mounts],
        "uid": launch.uid,
        "gid": launch.gid,
        "groups": launch.groups,
        "workingDir": launch.working_dir or "/",
        "env": launch.env,
        "argv": launch.argv,
        "terminationMessageHostPath": str(launch.termination_file),
    }


def as_reported(code: int) -> int:
    # Popen reports death by signal N as -N; container runtimes report 128+N (`podman run` exits with that too).
    return 128 - code if code < 0 else code


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
