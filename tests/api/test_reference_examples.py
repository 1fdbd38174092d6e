"""Each example of the reference API (../shared/seed/api-reference.md), sent as written, gets the documented shape."""

from __future__ import annotations

import re
import tomllib

from tests.api.conftest import DATA, Operator, RunningApi, ServeApi
from videogen_common.names import is_job_id
from videogen_dev.settings import REPO_ROOT

SUNSET = {"prompt": "A beautiful sunset over the ocean", "num_frames": 64, "fps": 24, "guidance_scale": 7.5}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def test_health_reports_healthy_service_and_version(api: RunningApi) -> None:
    response = api.http.get("/health")
    assert response.status_code == 200
    # The version is this package's, as pyproject.toml gives it (read here, not from the API's own module).
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert response.json() == {"status": "healthy", "service": "videogen-api", "version": version}


def test_model_info_has_the_reference_fields(api: RunningApi) -> None:
    body = api.http.get("/api/v1/model/info").json()
    assert {"name", "version", "provider", "gpu_enabled", "gpu_device_id", "cache_dir"} <= set(body)
    assert body["provider"] == "huggingface"
    assert body["gpu_enabled"] is True


def test_text_to_video_example_creates_a_videojob_named_after_the_job_id(api: RunningApi, operator: Operator) -> None:
    response = api.http.post("/api/v1/generate/text-to-video", json=SUNSET)
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"job_id", "status", "message"}
    assert is_job_id(body["job_id"])
    assert body["status"] == "pending"
    assert body["message"] == "Video generation started"
    spec = operator.videojob(body["job_id"])["spec"]
    assert spec["mode"] == "text-to-video"
    assert (spec["prompt"], spec["numFrames"], spec["fps"], spec["guidanceScale"]) == (SUNSET["prompt"], 64, 24, 7.5)
    assert spec["seed"] == -1 and spec["numInferenceSteps"] == 50 and spec["width"] == 512
    assert "model" not in spec


def test_image_to_video_example_uploads_the_image_and_points_the_videojob_at_it(
    api: RunningApi, operator: Operator
) -> None:
    response = api.http.post(
        "/api/v1/generate/image-to-video",
        files={"image": ("image.jpg", (DATA / "image.jpg").read_bytes(), "image/jpeg")},
        data={"prompt": "A dog running in a park", "num_frames": "64", "fps": "24"},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    spec = operator.videojob(job_id)["spec"]
    assert (spec["mode"], spec["prompt"], spec["numFrames"]) == ("image-to-video", "A dog running in a park", 64)
    # Under the job's name, in a folder of this submit's own (inputs/<name>/<8 hex>/input.jpg).
    (key,) = operator.keys_under(api.inputs_prefix)
    assert re.fullmatch(rf"{api.inputs_prefix}/{job_id.replace('_', '-')}/[0-9a-f]{{8}}/input\.jpg", key), key
    assert spec["input"] == {"uri": f"s3://{api.settings.bucket}/{key}", "contentType": "image/jpeg"}


def test_video_to_video_example_uploads_the_video_with_its_strength(api: RunningApi, operator: Operator) -> None:
    response = api.http.post(
        "/api/v1/generate/video-to-video",
        files={"video": ("video.mp4", (DATA / "clip.mp4").read_bytes(), "video/mp4")},
        data={"prompt": "Transform into anime style", "strength": "0.8"},
    )
    assert response.status_code == 202, response.text
    spec = operator.videojob(response.json()["job_id"])["spec"]
    assert (spec["mode"], spec["strength"]) == ("video-to-video", 0.8)
    assert spec["input"]["contentType"] == "video/mp4"
    assert spec["input"]["uri"].endswith("/input.mp4")


def test_job_status_follows_the_videojob_from_pending_to_completed_and_serves_the_output(
    api: RunningApi, operator: Operator
) -> None:
    job_id = api.http.post("/api/v1/generate/text-to-video", json=SUNSET).json()["job_id"]

    pending = api.http.get(f"/api/v1/job/{job_id}").json()
    assert (pending["job_id"], pending["status"], pending["message"]) == (job_id, "pending", "Job queued")
    assert RFC3339.fullmatch(pending["created_at"]) and RFC3339.fullmatch(pending["updated_at"])
    assert pending["output_path"] is None

    # As the operator would; job reads see its change once the API's watch delivers it.
    api.wait_until_cached(
        operator.set_job_status(
            job_id, {"state": "processing", "progress": {"step": 10, "totalSteps": 50, "percent": 20}}
        )
    )
    processing = api.http.get(f"/api/v1/job/{job_id}").json()
    assert (processing["status"], processing["message"]) == ("processing", "Generating video...")
    assert processing["progress"] == {"step": 10, "total_steps": 50, "percent": 20}

    filename = "text2video_20240115_103045_abc123.mp4"
    video = (DATA / "clip.mp4").read_bytes()
    operator.put_output(api.settings.outputs_prefix, filename, video)
    completion = {
        "state": "completed",
        "progress": {"step": 50, "totalSteps": 50, "percent": 100},
        "output": {
            "uri": f"s3://{api.settings.bucket}/{api.settings.outputs_prefix}/{filename}",
            "file": filename,
            "path": f"./outputs/{filename}",
        },
        "used": {"model": "Lightricks/LTX-Video", "pipeline": "LTXPipeline", "seed": 1234, "numFrames": 65,
                 "width": 512, "height": 512, "fps": 24, "numInferenceSteps": 50, "guidanceScale": 7.5},
    }  # fmt: skip
    api.wait_until_cached(operator.set_job_status(job_id, completion))
    completed = api.http.get(f"/api/v1/job/{job_id}").json()
    assert (completed["status"], completed["message"]) == ("completed", "Generation complete")
    assert completed["output_path"] == f"./outputs/{filename}"
    assert completed["output_url"] == f"{api.url}/outputs/{filename}"
    assert completed["used"]["seed"] == 1234 and completed["used"]["num_frames"] == 65
    assert completed["updated_at"] >= completed["created_at"]

    assert api.http.get(completed["output_path"].removeprefix(".")).content == video
    partial = api.http.get(f"/outputs/{filename}", headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.content == video[100:200]
    assert partial.headers["Content-Range"] == f"bytes 100-199/{len(video)}"
    assert partial.headers["Content-Length"] == "100"


def test_failed_job_reads_error_and_the_operators_message(api: RunningApi, operator: Operator) -> None:
    job_id = api.http.post("/api/v1/generate/text-to-video", json=SUNSET).json()["job_id"]
    api.wait_until_cached(
        operator.set_job_status(job_id, {"state": "failed", "reason": "OutOfMemory", "message": "Out of memory"})
    )
    body = api.http.get(f"/api/v1/job/{job_id}").json()
    assert (body["status"], body["message"], body["reason"]) == ("failed", "Error: Out of memory", "OutOfMemory")
    assert body["output_path"] is None


def test_models_list_shows_videomodels_and_the_catalog(serve_api: ServeApi, operator: Operator) -> None:
    api = serve_api(model_catalog=["Wan-AI/Wan2.1-T2V-1.3B-Diffusers"])
    operator.create_model("ltx-video", "Lightricks/LTX-Video", state="Ready")
    models = api.http.get("/api/v1/models").json()["models"]
    assert models == [
        {"id": "Lightricks/LTX-Video", "name": "ltx-video", "provider": "huggingface", "cache_dir": "/models/ltx-video",
         "downloaded": True, "state": "Ready"},
        {"id": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "name": "Wan2.1-T2V-1.3B-Diffusers", "provider": "huggingface",
         "cache_dir": "/models", "downloaded": False, "state": None},
    ]  # fmt: skip


def test_model_download_example_creates_one_videomodel_and_reuses_it(api: RunningApi, operator: Operator) -> None:
    # 202 while the download is started or under way, as the reference answers; the message says which.
    for message in ("Model download started", "Model download already in progress"):
        response = api.http.post("/api/v1/models/download", json={"model_id": "Lightricks/LTX-Video"})
        assert response.status_code == 202
        assert response.json() == {"message": message, "model_id": "Lightricks/LTX-Video"}
    (videomodel,) = operator.videomodels()
    assert videomodel["spec"]["repoId"] == "Lightricks/LTX-Video"
    assert videomodel["metadata"]["name"].startswith("lightricks-ltx-video-")


def test_model_download_of_a_failed_model_retries_it(api: RunningApi, operator: Operator) -> None:
    operator.create_model("ltx-video", "Lightricks/LTX-Video", state="Failed", message="the hub was down")
    for attempt in ("1", "2"):
        response = api.http.post("/api/v1/models/download", json={"model_id": "Lightricks/LTX-Video"})
        assert response.status_code == 202
        assert response.json() == {
            "message": "Model download restarted; the previous attempt failed: the hub was down",
            "model_id": "Lightricks/LTX-Video",
        }
        # The operator downloads again when this number moves (a new download Job per attempt).
        (videomodel,) = operator.videomodels()
        assert videomodel["metadata"]["annotations"]["videogen.dev/download-attempt"] == attempt


def test_model_download_of_a_model_already_there_is_a_200(api: RunningApi, operator: Operator) -> None:
    operator.create_model("ltx-video", "Lightricks/LTX-Video", state="Ready")
    response = api.http.post("/api/v1/models/download", json={"model_id": "Lightricks/LTX-Video"})
    assert response.status_code == 200
    assert response.json() == {"message": "Model already downloaded", "model_id": "Lightricks/LTX-Video"}
    assert len(operator.videomodels()) == 1
