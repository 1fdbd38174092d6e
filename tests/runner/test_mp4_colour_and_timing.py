"""The MP4 writer with the real ffmpeg: BT.709 colours that decode back as they went in, and retiming from a
model's native frame rate to the requested one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from videogen_runner.media import probe_video, write_mp4

pytestmark = pytest.mark.runner


def decode_as_bt709(path: Path, size: int) -> np.ndarray:
    """RGB frames the way a browser shows an HD video: YUV read with the BT.709 matrix, limited range."""
    reader = imageio_ffmpeg.read_frames(str(path), output_params=["-vf", "scale=in_color_matrix=bt709:in_range=tv"])
    reader.__next__()
    return np.stack([np.frombuffer(f, np.uint8).reshape(size, size, 3) for f in reader])


@pytest.mark.parametrize("colour", [(200, 40, 90), (30, 160, 220), (240, 220, 30)])
def test_a_solid_colour_decodes_back_within_two_levels_with_the_bt709_matrix(
    tmp_path: Path, colour: tuple[int, int, int]
) -> None:
    frames = np.empty((5, 64, 64, 3), np.uint8)
    frames[...] = colour
    video = tmp_path / "solid.mp4"
    write_mp4(frames, video, 24, "veryfast")

    decoded = decode_as_bt709(video, 64)

    # The centre of every frame (no chroma edges there); BT.601 encoding read as BT.709 is off by 10-20 levels.
    centre = decoded[:, 24:40, 24:40].reshape(-1, 3).astype(int)
    assert np.abs(centre - np.array(colour)).max() <= 2, centre.mean(axis=0)


def test_the_stream_is_tagged_bt709_limited_range(tmp_path: Path) -> None:
    video = tmp_path / "tagged.mp4"
    write_mp4(np.full((3, 64, 64, 3), 128, np.uint8), video, 24, "veryfast")
    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(video)], capture_output=True, text=True).stderr
    # ffmpeg prints "yuv420p(tv, bt709, progressive)" when matrix, primaries and transfer are all BT.709.
    assert "yuv420p(tv, bt709, progressive)" in info, info


def test_frames_made_at_16_fps_are_retimed_to_the_frames_and_fps_asked_for(tmp_path: Path) -> None:
    # 33 frames at 16 fps (2.06 s), each a distinct grey level, to 48 frames at 24 fps (2 s).
    levels = np.arange(33) * 7
    frames = np.stack([np.full((64, 64, 3), level, np.uint8) for level in levels])
    video = tmp_path / "retimed.mp4"
    write_mp4(frames, video, 24, "veryfast", source_fps=16, output_frames=48)

    probe = probe_video(video)
    assert (probe.frames, probe.fps) == (48, 24.0)
    shown = decode_as_bt709(video, 64)[:, 32, 32, 0].astype(int)
    # Output frame i is at i/24 s: the source frame due then is floor(i * 16 / 24) (repeated, never blended), so
    # motion keeps its real speed.
    due = levels[[(i * 16) // 24 for i in range(48)]]
    assert np.abs(shown - due).max() <= 2, list(zip(shown, due, strict=True))
