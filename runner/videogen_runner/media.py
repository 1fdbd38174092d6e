"""Reading input images and videos, writing the MP4 and the poster, probing a video file.

All video I/O goes through imageio-ffmpeg's bundled ffmpeg, so what ffmpeg reads, the runner reads. It is imported
where it is used: generation itself (and ``bench`` on a machine without that 68 MB wheel) does not need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def read_image(path: Path, width: int, height: int) -> Image.Image:
    """Decode an input image (JPEG, PNG, anything Pillow reads) fitted to the target size."""
    try:
        with Image.open(path) as image:
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


def probe_video(path: Path) -> VideoProbe:
    """Count frames by decoding (container headers can lie) and read size and fps; InvalidInputError if unreadable."""
    try:
        import imageio_ffmpeg

        reader = imageio_ffmpeg.read_frames(str(path))
        meta = reader.__next__()
        frames = sum(1 for _ in reader)
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError) as e:
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


def read_video(path: Path, width: int, height: int, target_frames: int, target_fps: int) -> list[Image.Image]:
    """Decode an input video into ``target_frames`` RGB frames fitted to the target size."""
    probe = probe_video(path)
    if probe.frames == 0:
        raise InvalidInputError("input video has no frames")
    wanted = sample_indices(probe.frames, probe.fps, target_frames, target_fps)
    picked: dict[int, Image.Image] = {}
    last = max(wanted)
    try:
        import imageio_ffmpeg

        reader = imageio_ffmpeg.read_frames(str(path))
        reader.__next__()
        for index, raw in enumerate(reader):
            if index in wanted:
                frame = Image.frombytes("RGB", (probe.width, probe.height), raw)
                picked[index] = fit_to_size(frame, width, height)
            if index >= last:
                break
        reader.close()
    except (OSError, RuntimeError, ValueError) as e:
        raise InvalidInputError(f"input video cannot be decoded: {_ffmpeg_reason(e)}") from e
    if last not in picked:
        raise InvalidInputError(f"input video ended early: expected {probe.frames} frames, read {len(picked)}")
    return [picked[i] for i in wanted]


def to_uint8(frames: NDArray[np.floating]) -> Frames:
    """Pipeline output in [0, 1] (float) to 8-bit RGB; NaNs (a broken model) become black rather than garbage."""
    clean = np.nan_to_num(frames, nan=0.0, posinf=1.0, neginf=0.0)
    return np.asarray((np.clip(clean, 0.0, 1.0) * 255.0).round(), dtype=np.uint8)


def write_mp4(frames: Frames, path: Path, fps: int, preset: str = "medium") -> None:
    """H.264, yuv420p (plays everywhere), moov atom first (``faststart``: browsers play while downloading); ``preset``
    is x264's speed/size trade-off."""
    count, height, width, _ = frames.shape
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p",
        quality=None,
        # The runner already made sides multiples of 16; never let the writer rescale behind our back.
        macro_block_size=1,
        output_params=["-crf", "18", "-preset", preset, "-movflags", "+faststart"],
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
