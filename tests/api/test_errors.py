"""Every client mistake gets its documented code and a {"error": "<what to fix>"} body; nothing is left behind."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.api.conftest import DATA, Operator, RunningApi, ServeApi, s3_settings
from tests.conftest import S3Endpoint

T2V = "/api/v1/generate/text-to-video"
I2V = "/api/v1/generate/image-to-video"
V2V = "/api/v1/generate/video-to-video"


def error_of(response: Any, code: int) -> str:
    assert response.status_code == code, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    message: str = body["error"]
    return message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "prompt is required"),
        ({"prompt": "   "}, "prompt is required"),
        ({"prompt": "x", "num_frames": 129}, "num_frames: Input should be less than or equal to 128"),
        ({"prompt": "x", "num_frames": 0}, "num_frames: Input should be greater than or equal to 1"),
        ({"prompt": "x", "guidance_scale": 20.5}, "guidance_scale: Input should be less than or equal to 20"),
        ({"prompt": "x", "guidance_scale": 0.5}, "guidance_scale: Input should be greater than or equal to 1"),
        ({"prompt": "x", "num_inference_steps": 101}, "num_inference_steps"),
        ({"prompt": "x", "seed": -2}, "seed: Input should be greater than or equal to -1"),
        ({"prompt": "x", "width": "wide"}, "width: Input should be a valid integer"),
        ({"prompt": "x", "num_frame": 64}, "num_frame: unknown field"),
        ({"prompt": "x" * 4001}, "prompt: String should have at most 4000 characters"),
        ({"prompt": "x", "model": "../../etc/passwd"}, "model must be"),
        ({"prompt": "x", "model": "https://huggingface.co/a/b"}, "model must be"),
        ([1, 2], "the body must be a JSON object"),
    ],
)
def test_text_to_video_refuses_bad_fields_with_400_naming_the_field(
    api: RunningApi, operator: Operator, body: Any, says: str
) -> None:
    assert says in error_of(api.http.post(T2V, json=body), 400)
    assert operator.videojobs() == []


def test_malformed_json_is_a_400(api: RunningApi) -> None:
    response = api.http.post(T2V, content=b"{not json", headers={"Content-Type": "application/json"})
    assert "not valid JSON" in error_of(response, 400)


def test_a_form_sent_to_the_json_route_is_a_415(api: RunningApi) -> None:
    assert "Content-Type must be application/json" in error_of(api.http.post(T2V, data={"prompt": "x"}), 415)


def test_json_sent_to_an_upload_route_is_a_415(api: RunningApi) -> None:
    assert "multipart/form-data" in error_of(api.http.post(I2V, json={"prompt": "x"}), 415)


def test_multipart_numbers_that_are_not_numbers_name_the_field(api: RunningApi, operator: Operator) -> None:
    files = {"image": ("i.png", (DATA / "image.png").read_bytes(), "image/png")}
    message = error_of(api.http.post(I2V, files=files, data={"num_frames": "sixty", "fps": "24"}), 400)
    assert (
        message == "Invalid request: num_frames: Input should be a valid integer, unable to parse string as an integer"
    )
    message = error_of(api.http.post(V2V, files={"video": ("v.mp4", b"x", "video/mp4")}, data={"strength": "1.5"}), 400)
    assert "strength: Input should be less than or equal to 1" in message
    assert operator.videojobs() == []
    assert operator.keys_under(api.inputs_prefix) == []


def test_missing_upload_is_a_400(api: RunningApi) -> None:
    assert "image is required" in error_of(api.http.post(I2V, files={"prompt": (None, "x")}), 400)


@pytest.mark.parametrize(
    ("route", "field", "content", "code", "says"),
    [
        (I2V, "image", b"GIF89a" + b"\0" * 100, 415, "image must be a JPEG or PNG image"),
        (I2V, "image", (DATA / "clip.mp4").read_bytes(), 415, "image must be a JPEG or PNG image"),
        (I2V, "image", b"#!/bin/sh\nrm -rf /\n", 415, "image must be a JPEG or PNG image"),
        (I2V, "image", (DATA / "image.png").read_bytes()[:60], 400, "image could not be decoded"),
        (I2V, "image", b"", 400, "image is empty"),
        (V2V, "video", (DATA / "image.jpg").read_bytes(), 415, "video must be an MP4, MOV, AVI or WebM video"),
        (V2V, "video", b"\0\0\0\x18ftypisom" + b"\0" * 200, 400, "no index (moov box)"),
        (V2V, "video", (DATA / "clip.mp4").read_bytes()[:2000], 400, "video"),
    ],
)
def test_mislabelled_or_broken_uploads_are_refused_and_leave_nothing_behind(
    api: RunningApi, operator: Operator, route: str, field: str, content: bytes, code: int, says: str
) -> None:
    # Labelled as what the route wants: the bytes must decide, not the client's Content-Type or file name.
    label = ("upload.jpg", "image/jpeg") if field == "image" else ("upload.mp4", "video/mp4")
    response = api.http.post(route, files={field: (label[0], content, label[1])}, data={"prompt": "x"})
    assert says in error_of(response, code)
    assert operator.videojobs() == []
    assert operator.keys_under(api.inputs_prefix) == []


def test_oversized_uploads_are_a_413_and_leave_nothing_behind(serve_api: ServeApi, operator: Operator) -> None:
    api = serve_api(max_image_bytes=1000, max_video_bytes=5000)
    big_image = (DATA / "image.jpg").read_bytes() + b"\0" * 1000
    assert error_of(api.http.post(I2V, files={"image": ("i.jpg", big_image, "image/jpeg")}), 413) == (
        "image must be at most 1000 bytes; it is 1678 bytes"
    )
    # Past the limit, the rest is not read: the gate answers and closes. So these requests are sent on a socket that
    # offers only the start of the body and then reads (a client that pushed a whole oversized body before reading
    # could see the connection reset instead of the answer; see README, Security).
    # Far past the limit: refused from Content-Length, before the body is read.
    start = b'--b\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n\r\n'
    answer = _send_and_read(api.url, V2V, f"Content-Length: {100 * 5000}", start + b"\0" * 1024)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"video must be at most 5000 bytes" in answer
    # Without Content-Length (chunked), the body is counted as it arrives: one byte past the video limit plus the
    # room the gate leaves for the other form fields (64 KiB), and nothing after it left unread.
    chunk = (start + b"\0" * (5000 + 64 * 1024))[: 5000 + 64 * 1024 + 1]
    answer = _send_and_read(api.url, V2V, "Transfer-Encoding: chunked", b"%x\r\n%s\r\n" % (len(chunk), chunk))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"video must be at most 5000 bytes" in answer
    assert operator.videojobs() == []
    assert operator.keys_under(api.inputs_prefix) == []


def test_video_longer_than_the_cap_is_refused(serve_api: ServeApi, operator: Operator) -> None:
    api = serve_api(max_video_seconds=1.5)
    response = api.http.post(V2V, files={"video": ("v.avi", (DATA / "clip.avi").read_bytes())})
    assert "video is 2.0 s long; at most 1.5 s are accepted" in error_of(response, 400)
    assert operator.keys_under(api.inputs_prefix) == []


def test_unknown_and_malformed_job_ids_are_404(api: RunningApi) -> None:
    for job_id in ["job_1234567890_abcdef123456", "job_1234567890_ABCDEF123456", "nope", "job-1-abcdef123456", "%00"]:
        assert "No job with id" in error_of(api.http.get(f"/api/v1/job/{job_id}"), 404)
        assert "No job with id" in error_of(api.http.delete(f"/api/v1/job/{job_id}"), 404)


def test_unknown_route_and_wrong_method_answer_in_the_error_shape(api: RunningApi) -> None:
    assert error_of(api.http.get("/api/v1/nothing"), 404) == "Not found: /api/v1/nothing"
    error_of(api.http.put("/api/v1/models"), 405)


def test_model_not_ready_is_a_503_model_not_loaded(api: RunningApi, operator: Operator) -> None:
    operator.create_model("ltx-video", "Lightricks/LTX-Video", state="Downloading")
    for model in ("ltx-video", "Lightricks/LTX-Video", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"):
        message = error_of(api.http.post(T2V, json={"prompt": "x", "model": model}), 503)
        assert message.startswith("Model not loaded")
    assert "is not a VideoModel here" in error_of(api.http.post(T2V, json={"prompt": "x", "model": "missing"}), 400)
    assert operator.videojobs() == []


def test_default_model_not_ready_is_a_503_and_ready_is_accepted(serve_api: ServeApi, operator: Operator) -> None:
    api = serve_api(default_model_text_to_video="ltx-video")
    assert error_of(api.http.post(T2V, json={"prompt": "x"}), 503).startswith("Model not loaded")
    operator.create_model("ltx-video", "Lightricks/LTX-Video", state="Ready")
    job_id = api.http.post(T2V, json={"prompt": "x"}).json()["job_id"]
    assert operator.videojob(job_id)["spec"]["model"] == "ltx-video"


def test_with_auto_download_a_missing_model_is_requested_and_the_job_waits(
    serve_api: ServeApi, operator: Operator
) -> None:
    api = serve_api(auto_download=True)
    response = api.http.post(T2V, json={"prompt": "x", "model": "Lightricks/LTX-Video"})
    assert response.status_code == 202, response.text
    assert [vm["spec"]["repoId"] for vm in operator.videomodels()] == ["Lightricks/LTX-Video"]
    assert operator.videojob(response.json()["job_id"])["spec"]["model"] == "Lightricks/LTX-Video"


def test_a_model_the_operator_would_fail_is_a_400_with_its_reason(serve_api: ServeApi, operator: Operator) -> None:
    # The operator's own decision (videogen_common.model_choice), made before the VideoJob exists.
    wan_i2v = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
    api = serve_api(model_allowlist=["Lightricks/LTX-Video", wan_i2v], auto_download=True)
    operator.create_model("wan-i2v", wan_i2v, modes=["image-to-video"], pipelineClass="WanImageToVideoPipeline")
    operator.create_model("ltx-broken", "Lightricks/LTX-Video", state="Failed", message="401 from the hub")
    operator.create_model("wan-t2v", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    for model, says in [
        ("wan-i2v", "model wan-i2v (WanImageToVideoPipeline) runs image-to-video, not text-to-video"),
        ("Lightricks/LTX-Video", "failed to download: 401 from the hub"),
        ("Wan-AI/Wan2.1-T2V-14B-Diffusers", "model Wan-AI/Wan2.1-T2V-14B-Diffusers is not allowed here"),
        # A VideoModel named in a request is held to the allow-list by the repo it holds.
        ("wan-t2v", "model Wan-AI/Wan2.1-T2V-1.3B-Diffusers is not allowed here"),
    ]:
        assert says in error_of(api.http.post(T2V, json={"prompt": "x", "model": model}), 400)
    assert operator.videojobs() == []
    assert len(operator.videomodels()) == 3


@pytest.mark.parametrize(
    "model_id",
    ["https://huggingface.co/Lightricks/LTX-Video", "/etc/passwd", "../models/x", "a/b/c", "justaname",
     "a/b--c", "a/b..c", "a/b.git", "a" * 97 + "/b", "a/ b", ""],
)  # fmt: skip
def test_model_download_accepts_only_hugging_face_repo_ids(api: RunningApi, operator: Operator, model_id: str) -> None:
    assert "model_id" in error_of(api.http.post("/api/v1/models/download", json={"model_id": model_id}), 400)
    assert operator.videomodels() == []


def test_model_download_honours_the_allow_list(serve_api: ServeApi, operator: Operator) -> None:
    api = serve_api(model_allowlist=["Lightricks/LTX-Video"])
    response = api.http.post("/api/v1/models/download", json={"model_id": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"})
    assert "not allowed here" in error_of(response, 400)
    assert api.http.post("/api/v1/models/download", json={"model_id": "Lightricks/LTX-Video"}).status_code == 202


def test_s3_failure_is_a_500_without_internals_and_creates_no_job(
    serve_api: ServeApi, operator: Operator, s3: S3Endpoint
) -> None:
    api = serve_api(s3_override=s3_settings(s3).model_copy(update={"secret_access_key": "wrong"}))
    response = api.http.post(I2V, files={"image": ("i.png", (DATA / "image.png").read_bytes())})
    assert error_of(response, 500) == "Internal server error"
    assert operator.videojobs() == []


def _send_and_read(url: str, path: str, length_header: str, body: bytes) -> bytes:
    """The raw answer to a multipart POST with ``length_header`` that sends ``body`` and then only reads."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\n{length_header}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes after its answer (Connection: close)
            answer += chunk
    return answer
