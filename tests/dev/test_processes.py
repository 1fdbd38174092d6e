"""Background processes of the local environment start once and stop with their whole process group."""

import subprocess
import time
from pathlib import Path

from videogen_dev import processes
from videogen_dev.settings import DevSettings


def _live_group_members(pgid: int) -> list[str]:
    # Zombies are already dead: they only wait for their parent (or init) to read their exit status.
    out = subprocess.run(["pgrep", "--runstates", "RSDT", "-g", str(pgid)], capture_output=True, text=True)
    return out.stdout.split()


def test_start_is_idempotent_and_stop_leaves_no_process(tmp_path: Path) -> None:
    settings = DevSettings(state_dir=tmp_path)
    # A parent with a child: stopping must take both.
    argv = ["sh", "-c", "sleep 300 & sleep 301"]
    first = processes.start(settings, "demo", argv)
    assert processes.start(settings, "demo", argv) == first
    assert processes.running_pid(settings, "demo") == first
    time.sleep(0.2)
    assert len(_live_group_members(first)) >= 2

    assert processes.stop(settings, "demo", grace_seconds=2) is True
    assert processes.running_pid(settings, "demo") is None
    assert _live_group_members(first) == []
    assert processes.stop(settings, "demo") is False


def test_a_stale_pid_file_is_not_mistaken_for_a_running_process(tmp_path: Path) -> None:
    settings = DevSettings(state_dir=tmp_path)
    settings.run_dir.mkdir(parents=True)
    finished = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True)
    (settings.run_dir / "ghost.pid").write_text(finished.stdout.strip())
    assert processes.running_pid(settings, "ghost") is None
    assert not (settings.run_dir / "ghost.pid").exists()
