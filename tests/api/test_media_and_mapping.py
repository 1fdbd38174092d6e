"""Pure parts, no cluster: upload sniffing and container checks, spec-derived ranges, VideoJob <-> job view."""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.api.conftest import DATA
from videogen_api.media import AVI, JPEG, MOV, MP4, PNG, WEBM, MediaError, check_image, inspect_video, sniff
from videogen_api.schemas import ImageToVideoForm, TextToVideoRequest, VideoToVideoForm
from videogen_api.videojobs import build_videojob, is_active, videojob_to_job
from videogen_common.resources.meta import LABEL_MANAGED_BY, MANAGED_BY_API
from videogen_common.resources.videojob import Mode, VideoJobSpec
from videogen_common.resources.videojob_status import State, VideoJobStatus


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


# WebM (Matroska) records no frame count, only its duration; the others record both, and the frames cap needs it.
@pytest.mark.parametrize(
    ("filename", "frames"), [("clip.mp4", 20), ("clip.mov", 20), ("clip.avi", 20), ("clip.webm", None)]
)
def test_each_video_container_reports_its_stream(filename: str, frames: int | None) -> None:
    data = (DATA / filename).read_bytes()
    media = sniff(data[:64])
    assert media is not None
    facts = inspect_video(io.BytesIO(data), media)
    assert (facts.width, facts.height, facts.duration_seconds, facts.frames) == (160, 120, 2.0, frames)


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


def test_request_ranges_and_defaults_are_the_videojob_specs() -> None:
    # The request schemas are derived from VideoJobSpec: a range changed there changes the API and its OpenAPI.
    spec = VideoJobSpec.model_json_schema()["properties"]
    for request in (TextToVideoRequest, ImageToVideoForm, VideoToVideoForm):
        schema = request.model_json_schema()["properties"]
        for field, wire in (("num_frames", "numFrames"), ("fps", "fps"), ("width", "width"), ("height", "height"),
                            ("seed", "seed"), ("guidance_scale", "guidanceScale"),
                            ("num_inference_steps", "numInferenceSteps"), ("strength", "strength"),
                            ("negative_prompt", "negativePrompt")):  # fmt: skip
            if field not in schema:
                continue
            # An optional field (video-to-video's size: the input's when left out) has its range on the int branch.
            declared: dict[str, Any] = next((b for b in schema[field].get("anyOf", []) if "minimum" in b), {})
            ranges = ("minimum", "maximum", "maxLength")
            assert {k: schema[field].get(k, declared.get(k)) for k in ranges} == {k: spec[wire].get(k) for k in ranges}
            optional = request is VideoToVideoForm and field in ("num_frames", "width", "height")
            assert schema[field].get("default") == (None if optional else spec[wire].get("default")), field
        assert schema["prompt"]["maxLength"] == spec["prompt"]["maxLength"]
    assert "prompt" in TextToVideoRequest.model_json_schema()["required"]


def test_the_speed_preset_reaches_the_spec_and_an_unknown_one_is_refused() -> None:
    request = TextToVideoRequest.model_validate({"prompt": "x", "speed": "fast"})
    videojob = build_videojob(
        "job-1700000000-abcdef123456", Mode.TEXT_TO_VIDEO, request.model_dump(exclude={"model"}, exclude_none=True),
        model=None, input_uri=None, input_content_type=None, output_bucket="bucket", output_prefix="o", labels={},
        annotations={},
    )  # fmt: skip
    assert videojob.manifest()["spec"]["speed"] == "fast"
    assert TextToVideoRequest.model_validate({"prompt": "x"}).speed == "quality"
    with pytest.raises(ValueError, match="speed"):
        TextToVideoRequest.model_validate({"prompt": "x", "speed": "turbo"})


def test_a_new_videojob_reads_back_as_pending_with_its_job_id() -> None:
    videojob = build_videojob(
        "job-1700000000-abcdef123456", Mode.TEXT_TO_VIDEO, {"prompt": "x", "num_frames": 8}, model=None,
        input_uri=None, input_content_type=None, output_bucket="bucket", output_prefix="o", labels={},
        annotations={},
    )  # fmt: skip
    manifest = videojob.manifest()
    assert manifest["metadata"]["labels"] == {LABEL_MANAGED_BY: MANAGED_BY_API}
    # Every field the request did not set is the spec's default, which the apiserver would fill in anyway.
    defaults = VideoJobSpec(mode=Mode.TEXT_TO_VIDEO, prompt="x").to_wire()
    assert manifest["spec"] == defaults | {"numFrames": 8, "output": {"bucket": "bucket", "prefix": "o"}}
    videojob.metadata.creation_timestamp = "2024-01-15T10:30:00Z"
    job = videojob_to_job(videojob, lambda name: f"/outputs/{name}")
    assert (job.job_id, job.status, job.created_at, job.updated_at) == (
        "job_1700000000_abcdef123456", "pending", "2024-01-15T10:30:00Z", "2024-01-15T10:30:00Z",
    )  # fmt: skip
    assert is_active(videojob)
    videojob.status = VideoJobStatus(state=State.CANCELLED)
    assert not is_active(videojob)


def test_the_job_view_is_snake_case_as_the_reference_api() -> None:
    videojob = build_videojob(
        "job-1700000000-abcdef123456", Mode.TEXT_TO_VIDEO, {"prompt": "x"}, model="smoke-ltx", input_uri=None,
        input_content_type=None, output_bucket="bucket", output_prefix="o", labels={}, annotations={},
    )  # fmt: skip
    videojob.metadata.creation_timestamp = "2024-01-15T10:30:00Z"
    filename = "text2video_20240115_103045_abc123.mp4"
    videojob.status = VideoJobStatus.model_validate({
        "state": "completed",
        "completionTime": "2024-01-15T10:31:00Z",
        "progress": {"step": 50, "totalSteps": 50, "percent": 100},
        "output": {"uri": f"s3://bucket/o/{filename}", "file": filename, "path": f"./outputs/{filename}"},
        "used": {"model": "Lightricks/LTX-Video", "pipeline": "LTXPipeline", "numFrames": 65, "width": 512,
                 "height": 512, "fps": 24, "seed": 7, "numInferenceSteps": 50, "guidanceScale": 7.5},
    })  # fmt: skip
    job = videojob_to_job(videojob, lambda name: f"/outputs/{name}").model_dump(mode="json", by_alias=True)
    assert job["progress"] == {"step": 50, "total_steps": 50, "percent": 100}
    assert job["used"] == {
        "model": "Lightricks/LTX-Video", "revision": None, "pipeline": "LTXPipeline", "num_frames": 65, "width": 512,
        "height": 512, "fps": 24, "seed": 7, "num_inference_steps": 50, "guidance_scale": 7.5, "strength": None,
        "generated_frames": None, "generated_fps": None, "negative_prompt_source": None, "speed": None,
        "context_parallel": None, "fp8": None,
    }  # fmt: skip
    assert (job["status"], job["mode"], job["model"], job["updated_at"]) == (
        "completed", "text-to-video", "smoke-ltx", "2024-01-15T10:31:00Z",
    )  # fmt: skip
    assert (job["output_path"], job["output_url"]) == (f"./outputs/{filename}", f"/outputs/{filename}")
