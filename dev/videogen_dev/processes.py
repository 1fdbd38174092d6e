"""Background processes with pid files: started once, stopped with SIGTERM then SIGKILL, nothing left behind."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from videogen_dev.settings import DevSettings


def _pid_file(settings: DevSettings, name: str) -> Path:
    return settings.run_dir / f"{name}.pid"


def running_pid(settings: DevSettings, name: str) -> int | None:
    """The pid of the named process if it is alive, else None (a stale pid file is removed)."""
    pid_file = _pid_file(settings, name)
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return None
    # A zombie child of ours is not running.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        state = "?"
    if state == "Z":
        # Reap it if it is our child; otherwise its parent (or init) will.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def start(
    settings: DevSettings,
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `argv` in its own session, logging to logs/<name>.log; a no-op if it already runs."""
    pid = running_pid(settings, name)
    if pid is not None:
        return pid
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.log_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            # Its own session: the process outlives the command that started it, and stop() can
            # signal the whole group, children included.
            start_new_session=True,
        )
    _pid_file(settings, name).write_text(str(proc.pid))
    return proc.pid


def stop(settings: DevSettings, name: str, grace_seconds: float = 10.0) -> bool:
    """Stop the named process group; returns whether anything was running."""
    pid = running_pid(settings, name)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and running_pid(settings, name) is not None:
        time.sleep(0.1)
    if running_pid(settings, name) is not None:
        _signal_group(pid, signal.SIGKILL)
        while running_pid(settings, name) is not None:
            time.sleep(0.05)
    _pid_file(settings, name).unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def log_tail(settings: DevSettings, name: str, lines: int = 30) -> str:
    try:
        return "\n".join((settings.log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
