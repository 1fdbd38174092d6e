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


def _bind(source: str, target: str, read_only: bool) -> None:
    target_path = Path(target)
    if Path(source).is_dir():
        target_path.mkdir(parents=True, exist_ok=True)
    else:
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target_path.touch(exist_ok=True)
    subprocess.run(["mount", "--bind", source, target], check=True)
    if read_only:
        subprocess.run(["mount", "-o", "remount,bind,ro", target], check=True)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    for mount in spec["mounts"]:
        _bind(mount["source"], mount["target"], mount["readOnly"])
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
