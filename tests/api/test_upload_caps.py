"""Every cap on an uploaded video or image, through the generate routes: one over the cap is a 400 that names it
and leaves nothing behind, one at the cap is accepted (202), so a cap that stopped applying fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import DATA, Operator, ServeApi
from tests.api.test_errors import error_of
from tests.api.test_video_to_video_input import write_clip

V2V = "/api/v1/generate/video-to-video"
I2V = "/api/v1/generate/image-to-video"


def post_video(api: Any, video: bytes, name: str) -> Any:
    return api.http.post(V2V, files={"video": (name, video, "application/octet-stream")}, data={"prompt": "anime"})


@pytest.mark.parametrize("filename", ["clip.mp4", "clip.mov", "clip.avi"])
def test_a_video_with_more_frames_than_the_cap_is_refused(
    serve_api: ServeApi, operator: Operator, filename: str
) -> None:
    # The sample clips: 20 frames. WebM records no frame count (its duration cap applies; test_errors.py).
    video = (DATA / filename).read_bytes()
    over = serve_api(max_video_frames=19)
    assert error_of(post_video(over, video, filename), 400) == (
        "Invalid request: video has 20 frames; at most 19 are accepted"
    )
    assert operator.videojobs() == []
    assert operator.keys_under(over.inputs_prefix) == []

    at_cap = serve_api(max_video_frames=20)
    assert post_video(at_cap, video, filename).status_code == 202


@pytest.mark.parametrize(("width", "height"), [(96, 64), (64, 96)], ids=["too-wide", "too-tall"])
def test_a_video_wider_or_taller_than_the_cap_is_refused(
    serve_api: ServeApi, operator: Operator, tmp_path: Path, width: int, height: int
) -> None:
    video = write_clip(tmp_path / "clip.mp4", 3, width, height, 8)
    over = serve_api(max_video_dimension=95)
    assert error_of(post_video(over, video, "clip.mp4"), 400) == (
        f"Invalid request: video is {width}x{height}; width and height must be at most 95"
    )
    assert operator.videojobs() == []
    assert operator.keys_under(over.inputs_prefix) == []

    at_cap = serve_api(max_video_dimension=96)
    assert post_video(at_cap, video, "clip.mp4").status_code == 202


@pytest.mark.parametrize("filename", ["image.png", "image.jpg"])
def test_an_image_with_more_pixels_than_the_cap_is_refused(
    serve_api: ServeApi, operator: Operator, filename: str
) -> None:
    # The sample images: 64x48, 3,072 pixels.
    image = (DATA / filename).read_bytes()

    def post(api: Any) -> Any:
        return api.http.post(I2V, files={"image": (filename, image, "image/png")}, data={"prompt": "a cat"})

    over = serve_api(max_image_pixels=3071)
    assert error_of(post(over), 400) == "Invalid request: image is 64x48 pixels; at most 3071 pixels are accepted"
    assert operator.videojobs() == []
    assert operator.keys_under(over.inputs_prefix) == []

    assert post(serve_api(max_image_pixels=3072)).status_code == 202
