"""Runs one container's process inside a private mount namespace (started under `unshare --mount`).

The node agent writes a JSON description: bind mounts (volume folders onto their mountPaths, the
termination-message file onto its path), the user to run as, env, working directory and argv. This module
makes the mounts, drops to the user and execs the command, so the command's pid is the container's pid.
Paths outside the mounts are the host's: this is a development stand-in for a container runtime, not an
isolation boundary.
"""

import json
import os
import subprocess
import sys
from pathlib import Path


def _bind(source: str, target: str, read_only: bool, is_dir: bool) -> None:
    target_path = Path(target)
    if is_dir:
        target_path.mkdir(parents=True, exist_ok=True)
    else:
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target_path.touch(exist_ok=True)
    # --no-canonicalize: mount(8) would otherwise turn /proc/<pid>/fd/<n> back into the (now hidden) path.
    subprocess.run(["mount", "--no-canonicalize", "--bind", source, target], check=True)
    if read_only:
        subprocess.run(["mount", "-o", "remount,bind,ro", target], check=True)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    # Hold every source open before mounting anything: a mount on /tmp (an emptyDir, say) would otherwise hide
    # sources that live under /tmp, such as the node's state folder in a checkout there. The mounts then use
    # /proc/<pid>/fd/<n>, which names the held folder or file whatever is mounted over its path since.
    held = [(os.open(m["source"], os.O_PATH), Path(m["source"]).is_dir(), m) for m in spec["mounts"]]
    for fd, is_dir, mount in held:
        _bind(f"/proc/{os.getpid()}/fd/{fd}", mount["target"], mount["readOnly"], is_dir)
    for fd, _, _ in held:
        os.close(fd)
    if spec.get("gid") is not None:
        os.setgroups(spec.get("groups") or [])
        os.setgid(spec["gid"])
    if spec.get("uid") is not None:
        os.setuid(spec["uid"])
    os.chdir(spec["workingDir"])
    argv = spec["argv"]
    try:
        os.execvpe(argv[0], argv, spec["env"])  # noqa: S606 - this is the container start
    except OSError as err:
        # What a runtime reports as a StartError: the message reaches the pod's container status.
        Path(spec["terminationMessageHostPath"]).write_text(f"cannot start {argv[0]!r}: {err.strerror}")
        sys.exit(128)


if __name__ == "__main__":
    main()
