"""What an uploaded file really is: magic bytes first, then a structural decode check, before it is used.

The client's Content-Type and file name are ignored: the bytes decide. Images are decoded with Pillow. Videos are
checked by walking their container (MP4/MOV boxes, AVI RIFF chunks, WebM EBML elements) in pure Python, which
is enough to know there is a video stream and how long, how large and how many frames it is, without an ffmpeg
in the API image; the runner decodes the frames themselves.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, Final, Literal

MediaKind = Literal["image", "video"]


@dataclass(frozen=True)
class MediaType:
    kind: MediaKind
    content_type: str
    extension: str
    label: str


JPEG: Final = MediaType("image", "image/jpeg", "jpg", "JPEG")
PNG: Final = MediaType("image", "image/png", "png", "PNG")
MP4: Final = MediaType("video", "video/mp4", "mp4", "MP4")
MOV: Final = MediaType("video", "video/quicktime", "mov", "MOV")
AVI: Final = MediaType("video", "video/x-msvideo", "avi", "AVI")
WEBM: Final = MediaType("video", "video/webm", "webm", "WebM")

#: How many leading bytes sniff() needs.
SNIFF_BYTES: Final = 64

# QuickTime files from old tools may start with one of these atoms instead of 'ftyp'.
_QUICKTIME_FIRST_ATOMS: Final = {b"moov", b"wide", b"mdat", b"free", b"skip"}


class MediaError(ValueError):
    """The file is of the right type but broken, or outside the caps; the message says which."""


def sniff(head: bytes) -> MediaType | None:
    """The media type the first bytes of a file prove, or None for anything we do not accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[4:8] == b"ftyp":
        return MOV if head[8:12] == b"qt  " else MP4
    if head[4:8] in _QUICKTIME_FIRST_ATOMS:
        return MOV
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return AVI
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:SNIFF_BYTES]:
        return WEBM
    return None


@dataclass(frozen=True)
class VideoFacts:
    width: int
    height: int
    duration_seconds: float | None
    #: None when the container does not record it (fragmented MP4, WebM).
    frames: int | None


def check_image(file: BinaryIO, expected: MediaType, max_pixels: int) -> tuple[int, int]:
    """Decode the image fully; returns (width, height). Raises MediaError when it does not decode or is too big."""
    from PIL import Image

    file.seek(0)
    try:
        with Image.open(file, formats=[expected.label]) as image:
            width, height = image.size
            # Checked before load(): a small file can claim a huge canvas (decompression bomb).
            if width * height > max_pixels:
                raise MediaError(f"image is {width}x{height} pixels; at most {max_pixels} pixels are accepted")
            image.load()
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"image could not be decoded as {expected.label} ({exc}); upload a valid file") from exc
    return width, height


def inspect_video(file: BinaryIO, media: MediaType) -> VideoFacts:
    """Walk the container and describe its video stream. Raises MediaError when there is none or it is broken."""
    file.seek(0, 2)
    size = file.tell()
    file.seek(0)
    try:
        if media in (MP4, MOV):
            return _inspect_isobmff(file, size)
        if media is AVI:
            return _inspect_avi(file, size)
        if media is WEBM:
            return _inspect_webm(file, size)
    except MediaError:
        raise
    except (struct.error, ValueError, IndexError, OverflowError) as exc:
        raise MediaError(f"video is not a valid {media.label} file ({exc}); upload a complete file") from exc
    raise MediaError(f"{media.label} is not a video container")


# --- MP4 / MOV (ISO base media file format) ---------------------------------------------------------------------

_CONTAINER_BOXES: Final = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}
#: moov holds only sample tables; anything larger than this is not a video we would accept anyway.
_MAX_MOOV_BYTES: Final = 64 * 1024 * 1024


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in data[start:end]."""
    found = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise MediaError(f"video box {kind!r} has an invalid size; the file is truncated or corrupt")
        found.append((kind, pos + header, pos + size))
        pos += size
    return found


def _read_moov(file: BinaryIO, size: int) -> bytes:
    pos = 0
    while pos + 8 <= size:
        file.seek(pos)
        header = file.read(16)
        box_size, kind = struct.unpack_from(">I4s", header)
        header_len = 8
        if box_size == 1:
            (box_size,) = struct.unpack_from(">Q", header, 8)
            header_len = 16
        elif box_size == 0:
            box_size = size - pos
        if box_size < header_len or pos + box_size > size:
            raise MediaError("video has a top-level box with an invalid size; the file is truncated or corrupt")
        if kind == b"moov":
            if box_size > _MAX_MOOV_BYTES:
                raise MediaError("video index (moov box) is too large")
            file.seek(pos)
            return file.read(box_size)
        pos += box_size
    raise MediaError("video has no index (moov box); upload a complete MP4/MOV file")


def _inspect_isobmff(file: BinaryIO, size: int) -> VideoFacts:
    moov = _read_moov(file, size)
    tracks: list[dict[bytes, tuple[int, int]]] = []
    movie_duration: float | None = None

    def walk(start: int, end: int, track: dict[bytes, tuple[int, int]] | None) -> None:
        nonlocal movie_duration
        for kind, payload, box_end in _boxes(moov, start, end):
            if kind == b"trak":
                track = {}
                tracks.append(track)
                walk(payload, box_end, track)
            elif kind in _CONTAINER_BOXES:
                walk(payload, box_end, track)
            elif kind == b"mvhd":
                movie_duration = _duration(moov, payload)
            elif track is not None:
                # The first of a kind wins: QuickTime's minf has a data-handler hdlr after mdia's media hdlr.
                track.setdefault(kind, (payload, box_end))

    walk(0, len(moov), None)
    for track in tracks:
        # hdlr payload: version/flags, pre_defined, then the handler type ('vide' for video).
        if b"hdlr" not in track or moov[track[b"hdlr"][0] + 8 : track[b"hdlr"][0] + 12] != b"vide":
            continue
        width = height = 0
        if b"tkhd" in track:
            tkhd = track[b"tkhd"][0]
            # Width and height are 16.16 fixed point at the end of tkhd; version 1 has 64-bit times before them.
            width, height = (v >> 16 for v in struct.unpack_from(">II", moov, tkhd + (88 if moov[tkhd] == 1 else 76)))
        duration = _duration(moov, track[b"mdhd"][0]) if b"mdhd" in track else movie_duration
        frames = struct.unpack_from(">I", moov, track[b"stsz"][0] + 8)[0] if b"stsz" in track else 0
        return VideoFacts(width=width, height=height, duration_seconds=duration, frames=frames or None)
    raise MediaError("video has no video track; upload a file with a video stream")


def _duration(data: bytes, payload: int) -> float | None:
    """Seconds from an mvhd or mdhd payload (same layout for the fields we read)."""
    if data[payload] == 1:
        timescale, duration = struct.unpack_from(">IQ", data, payload + 20)
    else:
        timescale, duration = struct.unpack_from(">II", data, payload + 12)
    # Fragmented MP4 writes 0 here (the length is in the fragments): unknown, not zero seconds.
    return duration / timescale if timescale and duration else None


# --- AVI (RIFF) ---------------------------------------------------------------------------------------------------

_AVI_HEADER_BYTES: Final = 1024 * 1024


def _riff_chunks(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    found = []
    pos = start
    while pos + 8 <= end:
        kind, size = struct.unpack_from("<4sI", data, pos)
        found.append((kind, pos + 8, min(pos + 8 + size, end)))
        pos += 8 + size + (size & 1)
    return found


def _inspect_avi(file: BinaryIO, size: int) -> VideoFacts:
    # The header list comes first; reading its first MiB avoids loading the frames.
    data = file.read(min(size, _AVI_HEADER_BYTES))
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size + 8 > size:
        raise MediaError(f"video is cut short: the AVI header declares {riff_size + 8} bytes, the file has {size}")
    main: tuple[int, int, int, int] | None = None
    has_video = False
    for kind, payload, end in _riff_chunks(data, 12, len(data)):
        if kind != b"LIST" or data[payload : payload + 4] != b"hdrl":
            continue
        for sub, sub_payload, sub_end in _riff_chunks(data, payload + 4, end):
            if sub == b"avih":
                us_per_frame, _, _, _, total_frames = struct.unpack_from("<5I", data, sub_payload)
                width, height = struct.unpack_from("<2I", data, sub_payload + 32)
                main = (us_per_frame, total_frames, width, height)
            elif sub == b"LIST" and data[sub_payload : sub_payload + 4] == b"strl":
                has_video |= any(
                    k == b"strh" and data[p : p + 4] == b"vids"
                    for k, p, _ in _riff_chunks(data, sub_payload + 4, sub_end)
                )
    if main is None:
        raise MediaError("video has no AVI main header (avih); upload a complete AVI file")
    if not has_video:
        raise MediaError("video has no video stream; upload a file with a video stream")
    us_per_frame, total_frames, width, height = main
    duration = total_frames * us_per_frame / 1_000_000 if us_per_frame else None
    return VideoFacts(width=width, height=height, duration_seconds=duration, frames=total_frames or None)


# --- WebM (EBML) --------------------------------------------------------------------------------------------------

_EBML: Final = 0x1A45DFA3
_SEGMENT: Final = 0x18538067
_INFO: Final = 0x1549A966
_TIMECODE_SCALE: Final = 0x2AD7B1
_DURATION: Final = 0x4489
_TRACKS: Final = 0x1654AE6B
_TRACK_ENTRY: Final = 0xAE
_TRACK_TYPE: Final = 0x83
_VIDEO: Final = 0xE0
_PIXEL_WIDTH: Final = 0xB0
_PIXEL_HEIGHT: Final = 0xBA
_CLUSTER: Final = 0x1F43B675
_DOC_TYPE: Final = 0x4282
_WEBM_HEADER_BYTES: Final = 4 * 1024 * 1024


def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int, bool]:
    """(value, next position, unknown-size) of the EBML variable-length integer at pos."""
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8:
        raise MediaError("video has an invalid EBML number; the file is corrupt")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, pos + length, unknown


def _elements(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """(id, payload start, payload end) of the EBML elements in data[start:end]; stops at the first Cluster."""
    found = []
    pos = start
    while pos < end:
        element_id, pos, _ = _vint(data, pos, keep_marker=True)
        size, pos, unknown = _vint(data, pos, keep_marker=False)
        if element_id == _CLUSTER:
            break
        element_end = end if unknown else min(pos + size, end)
        found.append((element_id, pos, element_end))
        pos = element_end
    return found


def _uint(data: bytes, start: int, end: int) -> int:
    return int.from_bytes(data[start:end], "big")


def _inspect_webm(file: BinaryIO, size: int) -> VideoFacts:
    # Info and Tracks come before the first Cluster; the frames themselves are never read.
    data = file.read(min(size, _WEBM_HEADER_BYTES))
    top = _elements(data, 0, len(data))
    header = [(p, e) for i, p, e in top if i == _EBML]
    if not header or not any(
        i == _DOC_TYPE and data[p:e] == b"webm" for i, p, e in _elements(data, header[0][0], header[0][1])
    ):
        raise MediaError("video is not a WebM file (EBML DocType is not webm)")
    segments = [(p, e) for i, p, e in top if i == _SEGMENT]
    if not segments:
        raise MediaError("video has no WebM Segment; upload a complete file")
    duration: float | None = None
    scale = 1_000_000
    video: tuple[int, int] | None = None
    for element_id, payload, end in _elements(data, *segments[0]):
        if element_id == _INFO:
            raw_duration = None
            for i, p, e in _elements(data, payload, end):
                if i == _TIMECODE_SCALE:
                    scale = _uint(data, p, e)
                elif i == _DURATION:
                    raw_duration = struct.unpack(">f" if e - p == 4 else ">d", data[p:e])[0]
            duration = None if raw_duration is None else raw_duration * scale / 1e9
        elif element_id == _TRACKS:
            for i, p, e in _elements(data, payload, end):
                if i != _TRACK_ENTRY:
                    continue
                entry = {ci: (cp, ce) for ci, cp, ce in _elements(data, p, e)}
                if _TRACK_TYPE in entry and _uint(data, *entry[_TRACK_TYPE]) == 1 and video is None:
                    dims = (
                        {ci: _uint(data, cp, ce) for ci, cp, ce in _elements(data, *entry[_VIDEO])}
                        if _VIDEO in entry
                        else {}
                    )
                    video = (dims.get(_PIXEL_WIDTH, 0), dims.get(_PIXEL_HEIGHT, 0))
    if video is None:
        raise MediaError("video has no video track; upload a file with a video stream")
    return VideoFacts(width=video[0], height=video[1], duration_seconds=duration, frames=None)
