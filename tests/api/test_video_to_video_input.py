"""Video-to-video keeps its input: without num_frames/width/height the VideoJob takes the input's length at the
output fps and its size (aspect kept, within the spec's ranges); fields the request gives win."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.api.conftest import DATA, Operator, RunningApi
from videogen_api.input_shape import keep_input_shape
from videogen_api.media import VideoFacts
from videogen_runner.media import write_mp4

V2V = "/api/v1/generate/video-to-video"
#: The form's fields as the route hands them on: the size fields None when left out.
LEFT_OUT = {"fps": 24, "num_frames": None, "width": None, "height": None, "strength": 0.8}


def write_clip(path: Path, frames: int, width: int, height: int, fps: int) -> bytes:
    """A real H.264 MP4 (ffmpeg, as the runner writes them): a gradient that moves, so it compresses to a few KB."""
    y, x = np.mgrid[0:height, 0:width]
    pictures = [np.stack([(x + 10 * i) % 256, y % 256, np.full_like(x, 128)], axis=-1) for i in range(frames)]
    write_mp4(np.stack(pictures).astype(np.uint8), path, fps, preset="veryfast")
    return path.read_bytes()


@pytest.fixture(scope="module")
def nine_frames(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """9 frames of 256x256 at 24 fps: 0.375 s."""
    return write_clip(tmp_path_factory.mktemp("clip") / "nine.mp4", 9, 256, 256, 24)


def _spec(api: RunningApi, operator: Operator, video: bytes, **fields: str) -> dict[str, object]:
    response = api.http.post(V2V, files={"video": ("in.mp4", video, "video/mp4")}, data={"prompt": "anime", **fields})
    assert response.status_code == 202, response.text
    spec: dict[str, object] = operator.videojob(response.json()["job_id"])["spec"]
    return spec


def test_without_size_fields_the_videojob_keeps_the_inputs_frames_and_size(
    api: RunningApi, operator: Operator, nine_frames: bytes
) -> None:
    spec = _spec(api, operator, nine_frames)
    assert (spec["numFrames"], spec["width"], spec["height"], spec["fps"]) == (9, 256, 256, 24)


def test_explicit_size_fields_win_over_the_input(api: RunningApi, operator: Operator, nine_frames: bytes) -> None:
    spec = _spec(api, operator, nine_frames, num_frames="17", width="128", height="96")
    assert (spec["numFrames"], spec["width"], spec["height"]) == (17, 128, 96)


def test_frames_follow_the_inputs_duration_at_the_requested_fps(api: RunningApi, operator: Operator) -> None:
    # The sample clip: 2 s, 20 frames of 160x120. At 8 fps two seconds are 16 frames; one given side keeps the aspect.
    spec = _spec(api, operator, (DATA / "clip.mp4").read_bytes(), fps="8", width="320")
    assert (spec["numFrames"], spec["width"], spec["height"], spec["fps"]) == (16, 320, 240, 8)


def test_a_webm_without_a_frame_count_takes_its_duration(api: RunningApi, operator: Operator) -> None:
    spec = _spec(api, operator, (DATA / "clip.webm").read_bytes())
    assert (spec["numFrames"], spec["width"], spec["height"]) == (48, 160, 120)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        # Long and large: capped at the spec's 128 frames, shrunk to 2048 wide with the aspect kept.
        (VideoFacts(4096, 2160, 30.0, None), (128, 2048, 1080)),
        # Tiny: grown to the spec's 64 on the short side, aspect kept.
        (VideoFacts(32, 24, 1.0, 24), (24, 85, 64)),
        # A moment: still one frame.
        (VideoFacts(256, 256, 0.01, None), (1, 256, 256)),
        # No duration (a fragmented MP4): the input's own frame count.
        (VideoFacts(256, 144, None, 30), (30, 256, 144)),
    ],
)
def test_the_inputs_shape_is_brought_within_the_specs_ranges(facts: VideoFacts, expected: tuple[int, int, int]) -> None:
    shaped = keep_input_shape(LEFT_OUT, facts)
    assert (shaped["num_frames"], shaped["width"], shaped["height"]) == expected
    assert shaped["strength"] == 0.8 and shaped["fps"] == 24


def test_what_the_container_does_not_record_is_left_to_the_specs_defaults() -> None:
    shaped = keep_input_shape(LEFT_OUT, VideoFacts(0, 0, None, None))
    assert shaped == {"fps": 24, "strength": 0.8}
    # One side given and no input size to take the aspect from: the other side is the spec's default.
    assert keep_input_shape(LEFT_OUT | {"width": 320}, VideoFacts(0, 0, 2.0, None)) == {
        "fps": 24, "strength": 0.8, "width": 320, "num_frames": 48,
    }  # fmt: skip
