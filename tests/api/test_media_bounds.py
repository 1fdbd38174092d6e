"""The container walks cost what their caps allow, not what a hostile header asks for: files built to blow up the
walk (millions of empty boxes or elements, nesting 2,000 deep) are refused with 400 while the API's memory stays
put, and a file with two video tracks is refused rather than guessed at."""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import imageio_ffmpeg
import pytest

from tests.api.conftest import RunningApi
from tests.api.test_errors import V2V, error_of

_MIB = 1024 * 1024


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


_FTYP = _box(b"ftyp", b"isom\0\0\x02\0isomiso2mp41")


def _write_moov_of_empty_boxes(path: Path) -> None:
    """A 16 MiB moov holding two million 8-byte boxes (each once a list entry in the old walker)."""
    count = 16 * _MIB // 8
    with path.open("wb") as file:
        file.write(_FTYP + struct.pack(">I4s", 8 + 8 * count, b"moov"))
        empty = struct.pack(">I4s", 8, b"free") * 65536
        for _ in range(count // 65536):
            file.write(empty)


def _write_nested_traks(path: Path) -> None:
    """2,000 trak boxes, each inside the one before (once a RecursionError, a 500)."""
    nested = b""
    for _ in range(2000):
        nested = _box(b"trak", nested)
    path.write_bytes(_FTYP + _box(b"moov", nested))


def _ebml(element_id: bytes, payload: bytes) -> bytes:
    assert len(payload) < 127
    return element_id + bytes([0x80 | len(payload)]) + payload


def _write_webm_of_tiny_elements(path: Path) -> None:
    """A 4 MiB WebM header: an EBML header, then a Segment of two million empty Void elements."""
    header = _ebml(b"\x1a\x45\xdf\xa3", _ebml(b"\x42\x82", b"webm"))
    segment = b"\x18\x53\x80\x67" + b"\x01" + b"\xff" * 7  # unknown size: runs to the end of the file
    with path.open("wb") as file:
        file.write(header + segment)
        voids = b"\xec\x80" * 65536
        for _ in range(4 * _MIB // len(voids)):
            file.write(voids)


def _upload(api: RunningApi, path: Path, content_type: str) -> str:
    with path.open("rb") as file:
        response = api.http.post(V2V, data={"prompt": "x"}, files={"video": (path.name, file, content_type)})
    return error_of(response, 400)


def _rss(api: RunningApi) -> float:
    for line in api.http.get("/metrics").text.splitlines():
        if line.startswith("videogen_api_process_resident_memory_bytes "):
            return float(line.split()[1])
    raise AssertionError("the API's /metrics has no videogen_api_process_resident_memory_bytes")


@pytest.mark.parametrize(
    ("write", "name", "content_type", "says"),
    [
        (_write_moov_of_empty_boxes, "boxes.mp4", "video/mp4", "video has more than 10000 boxes in its header"),
        (_write_nested_traks, "nested.mp4", "video/mp4", "video boxes are nested more than 8 deep"),
        (_write_webm_of_tiny_elements, "tiny.webm", "video/webm", "video has more than 10000 elements in its header"),
    ],
)
def test_hostile_headers_are_refused_and_the_api_memory_stays_put(
    api: RunningApi,
    tmp_path: Path,
    write: Callable[[Path], None],
    name: str,
    content_type: str,
    says: str,
) -> None:
    path = tmp_path / name
    write(path)
    # Once first, so that what a first request loads (code, the multipart parser's buffers) is in the baseline.
    assert says in _upload(api, path, content_type)
    before = _rss(api)
    for _ in range(3):
        assert says in _upload(api, path, content_type)
    grown = _rss(api) - before
    assert grown < 50 * _MIB, f"the API's RSS grew by {grown / _MIB:.0f} MiB"


def test_a_video_with_two_video_tracks_is_refused_naming_the_problem(api: RunningApi, tmp_path: Path) -> None:
    path = tmp_path / "two-tracks.mp4"
    # Real ffmpeg: a small first track and a large second one, the shape that made the runner decode the wrong one.
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error",
         "-f", "lavfi", "-i", "testsrc=size=64x64:rate=8:duration=0.5",
         "-f", "lavfi", "-i", "testsrc=size=2048x2048:rate=8:duration=0.5",
         "-map", "0:v", "-map", "1:v", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    assert "video has 2 video tracks; upload a file with exactly one" in _upload(api, path, "video/mp4")
