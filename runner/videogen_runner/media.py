"""Reading input images and videos, writing the MP4 and the poster, probing a video file.

All video I/O goes through imageio-ffmpeg's bundled ffmpeg, so what ffmpeg reads, the runner reads. It is imported
where it is used: generation itself (and ``bench`` on a machine without that 68 MB wheel) does not need it.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from videogen_runner.errors import InvalidInputError

Frames = NDArray[np.uint8]  # (frames, height, width, 3) RGB


def fit_to_size(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover ``width x height`` keeping the aspect ratio, then crop the centre: no stretching, no bars."""
    scale = max(width / image.width, height / image.height)
    scaled = image.resize(
        (max(width, round(image.width * scale)), max(height, round(image.height * scale))), Image.Resampling.LANCZOS
    )
    left = (scaled.width - width) // 2
    top = (scaled.height - height) // 2
    return scaled.crop((left, top, left + width, top + height))


#: The image formats an input may be (what the API accepts); Pillow tries no other decoder on our inputs.
IMAGE_FORMATS = ("JPEG", "PNG")


def read_image(path: Path, width: int, height: int) -> Image.Image:
    """Decode an input image (JPEG or PNG) fitted to the target size."""
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            # load() decodes the whole file: a truncated or corrupt image fails here, not inside the pipeline.
            image.load()
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise InvalidInputError(f"input image cannot be decoded: {e}") from e
    return fit_to_size(rgb, width, height)


@dataclass(frozen=True)
class VideoProbe:
    """What ffmpeg reports about a video file."""

    frames: int
    width: int
    height: int
    fps: float
    seconds: float


@dataclass(frozen=True)
class VideoLimits:
    """The largest input video the runner decodes (the API's upload limits; a kubectl-made VideoJob meets them too)."""

    max_frames: int = 3600
    max_seconds: float = 120.0
    max_dimension: int = 4096


def sniff_demuxer(path: Path) -> str:
    """The ffmpeg demuxer for the container the file's first bytes announce (MP4/MOV, WebM/Matroska, AVI).

    ffmpeg is always told which demuxer to use: left to guess, it would also open playlists, image sequences and
    other formats that reach for files or URLs beyond the one it was given."""
    with path.open("rb") as f:
        head = f.read(12)
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    raise InvalidInputError("input video is not a video file: its first bytes are not MP4, MOV, WebM or AVI")


def _frames(path: Path, demuxer: str, max_frames: int | None = None) -> Generator[Any, None, None]:
    """imageio-ffmpeg's frame reader on the first video stream only (``-map 0:v:0``: the stream the API checked,
    whatever other tracks the file has), local files only, ``max_frames`` at most; the first item is the metadata."""
    import imageio_ffmpeg

    output = ["-map", "0:v:0"]
    if max_frames is not None:
        output += ["-frames:v", str(max_frames)]
    return imageio_ffmpeg.read_frames(  # type: ignore[no-any-return]
        str(path), input_params=["-protocol_whitelist", "file", "-f", demuxer], output_params=output
    )


def probe_video(path: Path) -> VideoProbe:
    """Count frames by decoding them all (container headers can lie) and read size and fps; InvalidInputError if
    unreadable. For files we made or trust: inputs go through ``read_video``, which never decodes more than it uses."""
    demuxer = sniff_demuxer(path)
    try:
        reader = _frames(path, demuxer)
        meta = reader.__next__()
        frames = sum(1 for _ in reader)
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError, IndexError) as e:
        raise InvalidInputError(f"input video cannot be read by ffmpeg: {_ffmpeg_reason(e)}") from e
    width, height = (int(v) for v in meta["size"])
    return VideoProbe(
        frames=frames, width=width, height=height, fps=float(meta["fps"]), seconds=float(meta.get("duration", 0.0))
    )


def sample_indices(source_frames: int, source_fps: float, target_frames: int, target_fps: int) -> list[int]:
    """Which source frames make the target clip.

    Keep real time where the source is long enough (frame ``i`` of the output is the source frame shown at
    ``i / target_fps`` seconds), so motion keeps its speed; a shorter source is stretched over the whole clip.
    """
    if source_frames <= 0 or target_frames <= 0:
        return []
    if target_frames == 1:
        return [0]
    fps = source_fps if source_fps > 0 else float(target_fps)
    span = (target_frames - 1) / target_fps * fps
    step = span / (target_frames - 1) if span <= source_frames - 1 else (source_frames - 1) / (target_frames - 1)
    return [min(source_frames - 1, round(i * step)) for i in range(target_frames)]


def header_check(meta: dict[str, Any], limits: VideoLimits) -> tuple[int, int, int]:
    """Width, height and the frame count the header promises (at most ``limits.max_frames``), or InvalidInputError
    for a stream over the limits: decided from the header, before any frame is decoded."""
    width, height = (int(v) for v in meta["size"])
    fps, seconds = float(meta.get("fps") or 0.0), float(meta.get("duration") or 0.0)
    if max(width, height) > limits.max_dimension:
        raise InvalidInputError(
            f"input video is {width}x{height}; the largest side allowed is {limits.max_dimension} pixels"
        )
    if seconds > limits.max_seconds:
        raise InvalidInputError(f"input video lasts {seconds:.1f} s; at most {limits.max_seconds:g} s are allowed")
    promised = round(seconds * fps) if seconds > 0 and fps > 0 else limits.max_frames
    if promised > limits.max_frames:
        raise InvalidInputError(f"input video has about {promised} frames; at most {limits.max_frames} are allowed")
    return width, height, max(1, promised)


def _decode(
    path: Path, demuxer: str, wanted: list[int], size: tuple[int, int], limits: VideoLimits
) -> tuple[dict[int, Image.Image], int]:
    """Decode frames 0..max(wanted) (ffmpeg stops there), fitting the wanted ones to ``size``; returns them and how
    many frames there were up to that point."""
    picked: dict[int, Image.Image] = {}
    last = max(wanted)
    seen = 0
    try:
        reader = _frames(path, demuxer, max_frames=last + 1)
        meta = reader.__next__()
        width, height, _ = header_check(meta, limits)
        for index, raw in enumerate(reader):
            seen = index + 1
            if index in wanted:
                frame = Image.frombytes("RGB", (width, height), raw)
                picked[index] = fit_to_size(frame, *size)
        reader.close()
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError, IndexError) as e:
        raise InvalidInputError(f"input video cannot be decoded: {_ffmpeg_reason(e)}") from e
    return picked, seen


def read_video(
    path: Path, width: int, height: int, target_frames: int, target_fps: int, limits: VideoLimits | None = None
) -> list[Image.Image]:
    """Decode an input video into ``target_frames`` RGB frames fitted to the target size.

    Only the first video stream is read, a stream over ``limits`` is refused from its header, and decoding stops at
    the last frame the clip uses. Frames are picked by the count the header promises; a stream that ends sooner (a
    header that lies) is read once more with the count it really had.
    """
    limits = limits or VideoLimits()
    demuxer = sniff_demuxer(path)
    try:
        reader = _frames(path, demuxer, max_frames=1)
        meta = reader.__next__()
        reader.close()
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError, IndexError) as e:
        raise InvalidInputError(f"input video cannot be read by ffmpeg: {_ffmpeg_reason(e)}") from e
    _, _, promised = header_check(meta, limits)
    fps = float(meta.get("fps") or 0.0)
    wanted = sample_indices(promised, fps, target_frames, target_fps)
    picked, seen = _decode(path, demuxer, wanted, (width, height), limits)
    if seen == 0:
        raise InvalidInputError("input video has zero frames")
    if seen <= max(wanted):
        wanted = sample_indices(seen, fps, target_frames, target_fps)
        picked, _ = _decode(path, demuxer, wanted, (width, height), limits)
    if any(i not in picked for i in wanted):
        raise InvalidInputError(f"input video ended early: read {len(picked)} of the frames it promised")
    return [picked[i] for i in wanted]


#: How RGB becomes yuv420p and how the file says so: the BT.709 matrix, limited range, BT.709 primaries and transfer.
#: Untagged, a player guesses (browsers take BT.709 for HD and BT.601 for SD), and ffmpeg's default RGB->YUV matrix
#: is BT.601: colours would shift.
BT709_FILTER = (
    "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
    "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"
)
BT709_TAGS = ("-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv")


def write_mp4(
    frames: Frames,
    path: Path,
    fps: int,
    preset: str = "medium",
    *,
    source_fps: int | None = None,
    output_frames: int | None = None,
) -> None:
    """H.264, yuv420p BT.709 (plays everywhere, same colours in every player), moov atom first (``faststart``:
    browsers play while downloading); ``preset`` is x264's speed/size trade-off.

    Frames made at ``source_fps`` (a model's native rate) are retimed to ``fps`` by ffmpeg's fps filter: each output
    frame shows the frame due at its timestamp, repeating or dropping frames, so motion keeps its real speed with no
    interpolation artifacts (motion-compensated interpolation warps generated content and costs seconds per frame
    on a CPU). ``output_frames`` cuts the video to that many frames.
    """
    count, height, width, _ = frames.shape
    import imageio_ffmpeg

    rate = source_fps or fps
    retime = f"fps={fps}," if rate != fps else ""
    output = ["-vf", retime + BT709_FILTER, *BT709_TAGS]
    if output_frames is not None:
        output += ["-frames:v", str(output_frames)]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=rate,
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p",
        quality=None,
        # The runner already made sides multiples of 16; never let the writer rescale behind our back.
        macro_block_size=1,
        output_params=[*output, "-crf", "18", "-preset", preset, "-movflags", "+faststart"],
        ffmpeg_log_level="error",
    )
    writer.send(None)
    for i in range(count):
        writer.send(np.ascontiguousarray(frames[i]))
    writer.close()


def write_poster(frame: NDArray[np.uint8], path: Path) -> None:
    """The first frame as a JPEG, for listings and previews."""
    Image.fromarray(frame).save(path, format="JPEG", quality=90)


# ffmpeg's own words (found in its stderr, which imageio-ffmpeg puts in the exception) and what they mean to a user.
_FFMPEG_REASONS = {
    "Invalid data found when processing input": "not a video file (invalid data)",
    "does not contain any stream": "it has no video stream (zero frames)",
    "no video stream": "it has no video stream (zero frames)",
    "matches no streams": "it has no video stream (zero frames)",
    "moov atom not found": "the file is truncated (no index)",
}


def _ffmpeg_reason(e: BaseException) -> str:
    text = str(e)
    for needle, reason in _FFMPEG_REASONS.items():
        if needle.lower() in text.lower():
            return reason
    return _first_line(e)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
