"""The `videogen` command against the installed release: a generation waited for with its progress bar and
downloaded as a playable MP4; a request the server refuses exits non-zero with the server's own message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import System
from videogen_runner.media import probe_video

VIDEOGEN = str(Path(sys.executable).with_name("videogen"))


def videogen(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    # The server from the environment, as a user would set it once.
    env = {**os.environ, "VIDEOGEN_URL": system.release.api_url}
    env.pop("VIDEOGEN_API_KEY", None)
    return subprocess.run([VIDEOGEN, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_generate_waits_with_a_progress_bar_and_writes_a_playable_mp4(system: System, tmp_path: Path) -> None:
    target = tmp_path / "x.mp4"
    done = videogen(
        system, "generate", "text-to-video", "--prompt", "a red cube", "--num-frames", "9",
        "--width", "64", "--height", "64", "--num-inference-steps", "4", "--fps", "8", "--wait", "-o", str(target),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    system.submitted.append(job_id)
    assert system.job(job_id)["status"] == "completed"
    # The bar ends at 100 % (rich draws it on stderr), and the saved file is the job's MP4.
    assert "completed" in done.stderr and "100%" in done.stderr, done.stderr
    probe = probe_video(target)
    assert (probe.frames, probe.width, probe.height) == (9, 64, 64), probe


def test_a_refused_request_exits_non_zero_with_the_servers_message(system: System) -> None:
    refused = system.http.post("/api/v1/generate/text-to-video", json={"prompt": "a red cube", "num_frames": 100000})
    assert refused.status_code == 400
    message = refused.json()["error"]
    done = videogen(system, "generate", "text-to-video", "--prompt", "a red cube", "--num-frames", "100000", "--wait")
    assert done.returncode == 1
    assert f"error: {message}" in " ".join(done.stderr.split()), done.stderr
    assert done.stdout == ""


def test_jobs_job_and_models_read_the_server(system: System) -> None:
    models = videogen(system, "models")
    assert models.returncode == 0, models.stderr
    assert "smoke" in models.stdout
    unknown = videogen(system, "job", "job_1700000000_000000000000")
    assert unknown.returncode == 1 and "No job with id" in unknown.stderr
