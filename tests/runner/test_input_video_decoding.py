"""How the runner decodes an input video: one stream, a forced demuxer, local files only, limits from the header,
and no more frames than the clip uses. Real ffmpeg (imageio-ffmpeg's) on files made here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from videogen_runner.errors import InvalidInputError
from videogen_runner.media import VideoLimits, read_video, sniff_demuxer

#: The bundled ffmpeg itself, for making test files (ffmpeg_calls puts a recording script in front of it).
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", *args], check=True, timeout=120)


def colour_clip(path: Path, colour: str, size: str, seconds: float, fps: int) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"color=c={colour}:s={size}:d={seconds}:r={fps}", "-c:v", "libx264", "-preset",
           "ultrafast", "-pix_fmt", "yuv420p", str(path))  # fmt: skip
    return path


@pytest.fixture
def ffmpeg_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real ffmpeg behind a script that first writes down its arguments (imageio-ffmpeg honours the variable)."""
    log = tmp_path / "ffmpeg-calls.txt"
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {FFMPEG} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(wrapper))
    return log


def test_a_second_huge_track_is_never_read_the_first_is(tmp_path: Path) -> None:
    small = colour_clip(tmp_path / "red.mp4", "red", "64x48", 1, 10)
    huge = colour_clip(tmp_path / "green.mp4", "green", "2048x2048", 1, 2)
    both = tmp_path / "two-tracks.mp4"
    ffmpeg("-i", str(small), "-i", str(huge), "-map", "0:v", "-map", "1:v", "-c", "copy", str(both))

    # ffmpeg left to choose would take the largest stream: over these limits, and green.
    frames = read_video(both, 32, 32, 5, 10, VideoLimits(max_dimension=1024))

    assert len(frames) == 5
    r, g, _ = np.asarray(frames[-1]).reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 50, (r, g)


@pytest.mark.parametrize(
    ("size", "seconds", "fps", "limits", "message"),
    [
        ("64x48", 3, 10, VideoLimits(max_seconds=2), "lasts 3.0 s; at most 2 s"),
        ("64x48", 2, 25, VideoLimits(max_frames=40), "about 50 frames; at most 40"),
        ("640x48", 1, 5, VideoLimits(max_dimension=512), "640x48; the largest side allowed is 512"),
    ],
)
def test_a_stream_over_the_limits_is_refused_from_its_header(
    tmp_path: Path, ffmpeg_calls: Path, size: str, seconds: int, fps: int, limits: VideoLimits, message: str
) -> None:
    clip = colour_clip(tmp_path / "clip.mp4", "blue", size, seconds, fps)

    with pytest.raises(InvalidInputError, match=message):
        read_video(clip, 32, 32, 9, 8, limits)
    # One look at the header, asking for at most one frame; no decoding pass followed.
    (call,) = ffmpeg_calls.read_text().splitlines()
    assert "-frames:v 1" in call


def test_decoding_stops_at_the_last_frame_the_clip_uses(tmp_path: Path, ffmpeg_calls: Path) -> None:
    # 20 s at 30 fps: 9 frames at 8 fps keep real time and need the first second only.
    clip = colour_clip(tmp_path / "long.mp4", "white", "64x48", 20, 30)

    frames = read_video(clip, 32, 32, 9, 8)

    assert len(frames) == 9
    _header, decode = ffmpeg_calls.read_text().splitlines()
    assert "-protocol_whitelist file -f mov -i" in decode
    assert "-map 0:v:0" in decode and "-frames:v 31" in decode


def test_a_header_promising_more_frames_than_there_are_still_gives_the_clip(tmp_path: Path) -> None:
    # A 1 s stream in a container whose header says 4 s: ffmpeg ends early and the frames are picked again.
    short = colour_clip(tmp_path / "short.mp4", "red", "64x48", 1, 10)
    padded = tmp_path / "padded.mkv"
    ffmpeg("-i", str(short), "-f", "lavfi", "-i", "anullsrc=d=4", "-map", "0:v", "-map", "1:a", "-c:v", "copy",
           "-c:a", "libvorbis", str(padded))  # fmt: skip

    frames = read_video(padded, 32, 32, 9, 2)

    assert len(frames) == 9


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n", "playlist"),
        (b"ffconcat version 1.0\nfile /etc/passwd\n", "concat list"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "png"),
    ],
)
def test_anything_but_the_four_containers_is_refused_before_ffmpeg_runs(
    tmp_path: Path, ffmpeg_calls: Path, content: bytes, name: str
) -> None:
    path = tmp_path / "input.mp4"
    path.write_bytes(content)

    with pytest.raises(InvalidInputError, match="not a video file"):
        read_video(path, 32, 32, 9, 8)
    assert not ffmpeg_calls.exists()


def test_each_accepted_container_gets_its_own_demuxer(tmp_path: Path) -> None:
    clip = colour_clip(tmp_path / "clip.mp4", "red", "64x48", 1, 5)
    demuxers = {}
    for suffix, extra in [(".mov", []), (".webm", ["-c:v", "libvpx-vp9"]), (".avi", ["-c:v", "mpeg4"])]:
        target = tmp_path / f"clip{suffix}"
        ffmpeg("-i", str(clip), *extra, str(target))
        demuxers[suffix] = sniff_demuxer(target)
        assert len(read_video(target, 32, 32, 3, 5)) == 3
    assert demuxers == {".mov": "mov", ".webm": "matroska", ".avi": "avi"}
    assert sniff_demuxer(clip) == "mov"
