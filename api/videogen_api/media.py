"""What an uploaded file really is: magic bytes first, then a structural decode check, before it is used.

The client's Content-Type and file name are ignored: the bytes decide. Images are decoded with Pillow. Videos are
checked by walking their container (MP4/MOV boxes, AVI RIFF chunks, WebM EBML elements) in pure Python, which
is enough to know there is exactly one video stream and how long, how large and how many frames it is, without an
ffmpeg in the API image; the runner decodes the frames themselves. The walks are bounded: a cap on the items walked
(MAX_HEADER_ITEMS) and on MP4 nesting (MAX_BOX_DEPTH), no recursion, and only headers and a few leaf bytes in memory
(an MP4's moov is walked in the file, never read whole).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
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


# --- bounds -----------------------------------------------------------------------------------------------------

#: Boxes, chunks or elements walked in one file's headers: real files have tens to a few hundred (sample tables are
#: single boxes with large payloads, never read). Past this the file is refused, so a header of millions of empty
#: boxes costs a bounded walk, not memory and time in proportion to its size.
MAX_HEADER_ITEMS: Final = 10_000
#: How deep MP4 boxes may nest: moov/trak/mdia/minf/stbl is 5.
MAX_BOX_DEPTH: Final = 8


class _Budget:
    """Counts the header items walked in one file and refuses it past MAX_HEADER_ITEMS."""

    def __init__(self, what: str) -> None:
        self.left = MAX_HEADER_ITEMS
        self.what = what

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise MediaError(
                f"video has more than {MAX_HEADER_ITEMS} {self.what} in its header; upload a file written by a "
                "common encoder"
            )


def _one_video_track(count: int) -> None:
    if count == 0:
        raise MediaError("video has no video track; upload a file with a video stream")
    if count > 1:
        # Refusing is simpler and safer than choosing: the runner's decoder would pick a stream by its own rules.
        raise MediaError(f"video has {count} video tracks; upload a file with exactly one")


# --- MP4 / MOV (ISO base media file format) ---------------------------------------------------------------------

_CONTAINER_BOXES: Final = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}
#: Of the leaf boxes read (mvhd, tkhd, mdhd, hdlr, stsz) only the first bytes matter; tkhd version 1 needs 96.
_LEAF_BYTES: Final = 128


@dataclass
class _Track:
    """The leaf boxes of one trak that matter, the first of each kind (their first _LEAF_BYTES bytes)."""

    leaves: dict[bytes, bytes]


def _box_at(file: BinaryIO, pos: int, end: int) -> tuple[bytes, int, int]:
    """(type, payload start, box end) of the box at pos, which must end by end."""
    file.seek(pos)
    header = file.read(16)
    size, kind = struct.unpack_from(">I4s", header)
    header_len = 8
    if size == 1:
        (size,) = struct.unpack_from(">Q", header, 8)
        header_len = 16
    elif size == 0:
        size = end - pos
    if size < header_len or pos + size > end:
        raise MediaError(f"video box {kind!r} has an invalid size; the file is truncated or corrupt")
    return kind, pos + header_len, pos + size


def _find_moov(file: BinaryIO, size: int, budget: _Budget) -> tuple[int, int]:
    pos = 0
    while pos + 8 <= size:
        budget.spend()
        kind, payload, end = _box_at(file, pos, size)
        if kind == b"moov":
            return payload, end
        pos = end
    raise MediaError("video has no index (moov box); upload a complete MP4/MOV file")


def _walk_moov(file: BinaryIO, start: int, end: int, budget: _Budget) -> tuple[bytes | None, list[_Track]]:
    """The movie header and the tracks, walked depth first with an explicit stack (bounded by MAX_BOX_DEPTH):
    only box headers and the first bytes of the leaves read here are ever in memory."""
    mvhd: bytes | None = None
    tracks: list[_Track] = []
    # (next box, end of its parent, depth, the trak it is in)
    stack: list[tuple[int, int, int, _Track | None]] = [(start, end, 1, None)]
    while stack:
        pos, parent_end, depth, track = stack.pop()
        if pos + 8 > parent_end:
            continue
        budget.spend()
        kind, payload, box_end = _box_at(file, pos, parent_end)
        stack.append((box_end, parent_end, depth, track))
        if kind in _CONTAINER_BOXES:
            if depth >= MAX_BOX_DEPTH:
                raise MediaError(f"video boxes are nested more than {MAX_BOX_DEPTH} deep; the file is corrupt")
            if kind == b"trak":
                track = _Track({})
                tracks.append(track)
            # Pushed last, so walked before the next sibling: the file's order.
            stack.append((payload, box_end, depth + 1, track))
            continue
        if kind == b"mvhd" or track is not None:
            file.seek(payload)
            leaf = file.read(min(box_end - payload, _LEAF_BYTES))
            if kind == b"mvhd":
                mvhd = mvhd or leaf
            else:
                # The first of a kind wins: QuickTime's minf has a data-handler hdlr after mdia's media hdlr.
                track.leaves.setdefault(kind, leaf)  # type: ignore[union-attr]
    return mvhd, tracks


def _inspect_isobmff(file: BinaryIO, size: int) -> VideoFacts:
    budget = _Budget("boxes")
    mvhd, tracks = _walk_moov(file, *_find_moov(file, size, budget), budget)
    movie_duration = _duration(mvhd) if mvhd else None
    # hdlr payload: version/flags, pre_defined, then the handler type ('vide' for video).
    videos = [track.leaves for track in tracks if track.leaves.get(b"hdlr", b"")[8:12] == b"vide"]
    _one_video_track(len(videos))
    video = videos[0]
    width = height = 0
    if tkhd := video.get(b"tkhd"):
        # Width and height are 16.16 fixed point at the end of tkhd; version 1 has 64-bit times before them.
        width, height = (v >> 16 for v in struct.unpack_from(">II", tkhd, 88 if tkhd[0] == 1 else 76))
    duration = _duration(mdhd) if (mdhd := video.get(b"mdhd")) else movie_duration
    frames = struct.unpack_from(">I", stsz, 8)[0] if (stsz := video.get(b"stsz")) else 0
    return VideoFacts(width=width, height=height, duration_seconds=duration, frames=frames or None)


def _duration(header: bytes) -> float | None:
    """Seconds from an mvhd or mdhd payload (same layout for the fields we read)."""
    if header[0] == 1:
        timescale, duration = struct.unpack_from(">IQ", header, 20)
    else:
        timescale, duration = struct.unpack_from(">II", header, 12)
    # Fragmented MP4 writes 0 here (the length is in the fragments): unknown, not zero seconds.
    return duration / timescale if timescale and duration else None


# --- AVI (RIFF) ---------------------------------------------------------------------------------------------------

_AVI_HEADER_BYTES: Final = 1024 * 1024


def _riff_chunks(data: bytes, start: int, end: int, budget: _Budget) -> Iterator[tuple[bytes, int, int]]:
    pos = start
    while pos + 8 <= end:
        budget.spend()
        kind, size = struct.unpack_from("<4sI", data, pos)
        yield kind, pos + 8, min(pos + 8 + size, end)
        pos += 8 + size + (size & 1)


def _inspect_avi(file: BinaryIO, size: int) -> VideoFacts:
    # The header list comes first; reading its first MiB avoids loading the frames.
    data = file.read(min(size, _AVI_HEADER_BYTES))
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size + 8 > size:
        raise MediaError(f"video is cut short: the AVI header declares {riff_size + 8} bytes, the file has {size}")
    budget = _Budget("chunks")
    main: tuple[int, int, int, int] | None = None
    video_streams = 0
    for kind, payload, end in _riff_chunks(data, 12, len(data), budget):
        if kind != b"LIST" or data[payload : payload + 4] != b"hdrl":
            continue
        for sub, sub_payload, sub_end in _riff_chunks(data, payload + 4, end, budget):
            if sub == b"avih":
                us_per_frame, _, _, _, total_frames = struct.unpack_from("<5I", data, sub_payload)
                width, height = struct.unpack_from("<2I", data, sub_payload + 32)
                main = (us_per_frame, total_frames, width, height)
            elif sub == b"LIST" and data[sub_payload : sub_payload + 4] == b"strl":
                video_streams += sum(
                    k == b"strh" and data[p : p + 4] == b"vids"
                    for k, p, _ in _riff_chunks(data, sub_payload + 4, sub_end, budget)
                )
    if main is None:
        raise MediaError("video has no AVI main header (avih); upload a complete AVI file")
    _one_video_track(video_streams)
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


def _elements(data: bytes, start: int, end: int, budget: _Budget) -> Iterator[tuple[int, int, int]]:
    """(id, payload start, payload end) of the EBML elements in data[start:end]; stops at the first Cluster. The
    nesting is the code's (segment, tracks, entry, video), never the file's."""
    pos = start
    while pos < end:
        budget.spend()
        element_id, pos, _ = _vint(data, pos, keep_marker=True)
        size, pos, unknown = _vint(data, pos, keep_marker=False)
        if element_id == _CLUSTER:
            return
        element_end = end if unknown else min(pos + size, end)
        yield element_id, pos, element_end
        pos = element_end


def _uint(data: bytes, start: int, end: int) -> int:
    return int.from_bytes(data[start:end], "big")


def _inspect_webm(file: BinaryIO, size: int) -> VideoFacts:
    # Info and Tracks come before the first Cluster; the frames themselves are never read.
    data = file.read(min(size, _WEBM_HEADER_BYTES))
    budget = _Budget("elements")
    header = segment = None
    for element_id, payload, end in _elements(data, 0, len(data), budget):
        if element_id == _EBML and header is None:
            header = (payload, end)
        elif element_id == _SEGMENT:
            segment = (payload, end)
            break
    if header is None or not any(
        i == _DOC_TYPE and data[p:e] == b"webm" for i, p, e in _elements(data, *header, budget)
    ):
        raise MediaError("video is not a WebM file (EBML DocType is not webm)")
    if segment is None:
        raise MediaError("video has no WebM Segment; upload a complete file")
    duration: float | None = None
    scale = 1_000_000
    videos: list[tuple[int, int]] = []
    for element_id, payload, end in _elements(data, *segment, budget):
        if element_id == _INFO:
            raw_duration = None
            for i, p, e in _elements(data, payload, end, budget):
                if i == _TIMECODE_SCALE:
                    scale = _uint(data, p, e)
                elif i == _DURATION:
                    raw_duration = struct.unpack(">f" if e - p == 4 else ">d", data[p:e])[0]
            duration = None if raw_duration is None else raw_duration * scale / 1e9
        elif element_id == _TRACKS:
            for i, p, e in _elements(data, payload, end, budget):
                if i != _TRACK_ENTRY:
                    continue
                entry: dict[int, tuple[int, int]] = {}
                for ci, cp, ce in _elements(data, p, e, budget):
                    entry.setdefault(ci, (cp, ce))
                if _TRACK_TYPE in entry and _uint(data, *entry[_TRACK_TYPE]) == 1:
                    dims = (
                        {ci: _uint(data, cp, ce) for ci, cp, ce in _elements(data, *entry[_VIDEO], budget)}
                        if _VIDEO in entry
                        else {}
                    )
                    videos.append((dims.get(_PIXEL_WIDTH, 0), dims.get(_PIXEL_HEIGHT, 0)))
    _one_video_track(len(videos))
    return VideoFacts(width=videos[0][0], height=videos[0][1], duration_seconds=duration, frames=None)
