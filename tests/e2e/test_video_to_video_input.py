"""Video-to-video transforms the given video, end to end on the installed system: a 9-frame 256x256 input with no
frame or size fields (the reference's form has none) comes back as about 9 frames at about 256x256 (the model's grid
rounds them; `used` says what ran), and explicit fields still win. Both outputs are decoded by ffmpeg and match
what the job reports it used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.conftest import System
from videogen_common.families import model_pipeline, nearest_valid_frames, nearest_valid_side
from videogen_runner.media import VideoProbe, write_mp4

#: Few steps: the shape is the point, not the picture.
QUICK = {"prompt": "Transform into anime style", "strength": "0.8", "num_inference_steps": "2", "seed": "0"}
EXPLICIT = {"num_frames": "17", "width": "128", "height": "96"}


@dataclass(frozen=True)
class Finished:
    job: dict[str, Any]
    probe: VideoProbe


@dataclass(frozen=True)
class Runs:
    keeps_input: Finished
    explicit: Finished


def nine_frame_clip(path: Path) -> bytes:
    """9 frames of 256x256 at 24 fps (the form's default fps), written by ffmpeg as the runner writes its MP4s."""
    y, x = np.mgrid[0:256, 0:256]
    frames = np.stack([np.stack([(x + 10 * i) % 256, y, np.full_like(x, 128)], axis=-1) for i in range(9)])
    write_mp4(frames.astype(np.uint8), path, 24, preset="veryfast")
    return path.read_bytes()


@pytest.fixture(scope="module")
def runs(module_system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    system = module_system
    clip = nine_frame_clip(tmp_path_factory.mktemp("v2v") / "nine.mp4")
    files = {"video": ("nine.mp4", clip, "video/mp4")}
    keeps_input = system.submit("video-to-video", files=files, data=QUICK)
    explicit = system.submit("video-to-video", files=files, data=QUICK | EXPLICIT)
    finals = system.wait_all_final([keeps_input, explicit], timeout=300)
    for job in finals.values():
        assert job["status"] == "completed", job
    yield Runs(*(Finished(finals[job_id], system.probe_output(finals[job_id])) for job_id in (keeps_input, explicit)))


def _on_the_models_grid(job: dict[str, Any], frames: int, width: int, height: int) -> tuple[int, int, int]:
    """What the runner makes of these values on the model the job ran: its family's frame and size grid."""
    family = model_pipeline(job["used"]["pipeline"]).family
    return (
        nearest_valid_frames(frames, family),
        nearest_valid_side(width, family),
        nearest_valid_side(height, family),
    )


def _used(job: dict[str, Any]) -> tuple[int, int, int]:
    used = job["used"]
    return used["num_frames"], used["width"], used["height"]


def test_without_size_fields_the_output_keeps_the_inputs_frames_and_size(runs: Runs) -> None:
    job = runs.keeps_input.job
    assert _used(job) == _on_the_models_grid(job, 9, 256, 256), job
    # The smoke LTX model's grid (8k+1 frames, multiples of 32) holds the input's shape exactly.
    assert _used(job) == (9, 256, 256)
    assert job["used"]["fps"] == 24


def test_explicit_size_fields_win_over_the_input(runs: Runs) -> None:
    job = runs.explicit.job
    assert _used(job) == _on_the_models_grid(job, 17, 128, 96), job


@pytest.mark.parametrize("run", ["keeps_input", "explicit"])
def test_the_served_mp4_has_the_frames_and_size_the_job_reports(runs: Runs, run: str) -> None:
    finished: Finished = getattr(runs, run)
    assert (finished.probe.frames, finished.probe.width, finished.probe.height) == _used(finished.job)
    assert round(finished.probe.fps) == finished.job["used"]["fps"]
