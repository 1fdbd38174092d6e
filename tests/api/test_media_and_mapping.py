"""Pure parts, no cluster: upload sniffing and container checks, CRD-derived ranges, VideoJob <-> job view."""

from __future__ import annotations

import io

import pytest

from tests.api.conftest import DATA
from videogen_api.crd import videojob_field
from videogen_api.media import AVI, JPEG, MOV, MP4, PNG, WEBM, MediaError, check_image, inspect_video, sniff
from videogen_api.schemas import TextToVideoRequest, VideoToVideoForm
from videogen_api.videojobs import build_videojob, is_active, videojob_to_job


@pytest.mark.parametrize(
    ("filename", "media"),
    [("image.jpg", JPEG), ("image.png", PNG), ("clip.mp4", MP4), ("clip.mov", MOV), ("clip.avi", AVI),
     ("clip.webm", WEBM)],
)  # fmt: skip
def test_sniff_recognises_each_accepted_type_by_its_bytes(filename: str, media: object) -> None:
    assert sniff((DATA / filename).read_bytes()[:64]) is media


@pytest.mark.parametrize("head", [b"", b"GIF89a", b"%PDF-1.7", b"PK\x03\x04", b"<svg", b"RIFF\0\0\0\0WAVE"])
def test_sniff_refuses_everything_else(head: bytes) -> None:
    assert sniff(head) is None


@pytest.mark.parametrize("filename", ["clip.mp4", "clip.mov", "clip.avi", "clip.webm"])
def test_each_video_container_reports_its_stream(filename: str) -> None:
    data = (DATA / filename).read_bytes()
    media = sniff(data[:64])
    assert media is not None
    facts = inspect_video(io.BytesIO(data), media)
    assert (facts.width, facts.height, facts.duration_seconds) == (160, 120, 2.0)
    assert facts.frames in (20, None)


@pytest.mark.parametrize("filename", ["clip.mp4", "clip.mov", "clip.avi", "clip.webm"])
def test_truncated_videos_are_refused(filename: str) -> None:
    data = (DATA / filename).read_bytes()
    media = sniff(data[:64])
    assert media is not None
    with pytest.raises(MediaError):
        inspect_video(io.BytesIO(data[:200]), media)


def test_a_decompression_bomb_header_is_refused_before_decoding() -> None:
    with pytest.raises(MediaError, match="at most 100 pixels"):
        check_image(io.BytesIO((DATA / "image.png").read_bytes()), PNG, max_pixels=100)


def test_request_ranges_and_defaults_are_the_crds() -> None:
    schema = TextToVideoRequest.model_json_schema()["properties"]
    pairs = [("num_frames", "numFrames"), ("fps", "fps"), ("width", "width"), ("seed", "seed"),
             ("guidance_scale", "guidanceScale"), ("num_inference_steps", "numInferenceSteps")]  # fmt: skip
    for field, crd_name in pairs:
        rule = videojob_field(crd_name)
        assert (schema[field]["minimum"], schema[field]["maximum"], schema[field]["default"]) == (
            rule.minimum, rule.maximum, rule.default,
        )  # fmt: skip
    strength = VideoToVideoForm.model_json_schema()["properties"]["strength"]
    assert (strength["minimum"], strength["maximum"], strength["default"]) == (0, 1, 0.8)


def test_a_new_videojob_reads_back_as_pending_with_its_job_id() -> None:
    videojob = build_videojob(
        "job-1700000000-abcdef123456", "text-to-video", {"prompt": "x", "num_frames": 8}, model=None,
        input_uri=None, input_content_type=None, output_bucket="b", output_prefix="o", labels={}, annotations={},
    )  # fmt: skip
    assert videojob["spec"] == {
        "mode": "text-to-video",
        "prompt": "x",
        "numFrames": 8,
        "output": {"bucket": "b", "prefix": "o"},
    }
    videojob["metadata"]["creationTimestamp"] = "2024-01-15T10:30:00Z"
    job = videojob_to_job(videojob, lambda name: f"/outputs/{name}")
    assert (job.job_id, job.status, job.created_at, job.updated_at) == (
        "job_1700000000_abcdef123456", "pending", "2024-01-15T10:30:00Z", "2024-01-15T10:30:00Z",
    )  # fmt: skip
    assert is_active(videojob)
    videojob["status"] = {"state": "cancelled"}
    assert not is_active(videojob)
