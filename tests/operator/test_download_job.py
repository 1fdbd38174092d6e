"""VideoModel download: the Job, the pod's result document and the VideoModel status made from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.operator.factories import condition, job, videomodel
from videogen_operator.download import ALLOW_PATTERNS, IGNORE_PATTERNS, describe
from videogen_operator.download_job import desired_download_job, model_status, summarize_download
from videogen_operator.settings import OperatorSettings


def download_pod(phase: str, exit_code: int, doc: dict[str, object]) -> dict[str, object]:
    terminated = {"exitCode": exit_code, "message": json.dumps(doc)}
    return {
        "metadata": {"name": "wan-download-x", "creationTimestamp": "2024-01-15T10:30:46Z"},
        "status": {"phase": phase, "containerStatuses": [{"name": "download", "state": {"terminated": terminated}}]},
    }


def test_download_job_is_owned_by_the_videomodel_and_writes_into_the_cache() -> None:
    body = desired_download_job(videomodel("wan", "Wan-AI/Wan"), OperatorSettings(hf_token_secret="hf"))
    assert body["metadata"]["name"] == "wan-download"
    assert body["metadata"]["ownerReferences"][0]["kind"] == "VideoModel"
    assert body["metadata"]["labels"]["videogen.dev/videomodel-uid"] == "uid-wan"
    pod = body["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["VIDEOGEN_DOWNLOAD_REPO_ID"]["value"] == "Wan-AI/Wan"
    assert env["VIDEOGEN_DOWNLOAD_REVISION"]["value"] == "main"
    assert env["VIDEOGEN_DOWNLOAD_CACHE_DIR"]["value"] == "/models/hub"
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hf"
    assert container["volumeMounts"][0] == {"name": "model-cache", "mountPath": "/models"}


def test_only_safetensors_configs_and_tokenizers_are_downloaded() -> None:
    assert "*.safetensors" in ALLOW_PATTERNS
    assert not any(p.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl")) for p in ALLOW_PATTERNS)
    assert {"*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl"} <= set(IGNORE_PATTERNS)


def test_describe_reads_pipeline_family_modes_and_size(tmp_path: Path) -> None:
    folder = tmp_path / "0123abc"
    (folder / "vae").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "WanImageToVideoPipeline"}))
    (folder / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 100)
    result = describe(folder, None)
    assert result["pipelineClass"] == "WanImageToVideoPipeline"
    assert (result["family"], result["modes"]) == ("wan", ["image-to-video"])
    assert result["resolvedRevision"] == "0123abc"
    assert result["fileCount"] == 2
    assert result["sizeBytes"] == 100 + len(json.dumps({"_class_name": "WanImageToVideoPipeline"}))


def test_describe_rejects_a_repo_that_is_not_a_runnable_pipeline(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(ValueError, match="not one the runner runs"):
        describe(tmp_path, None)
    with pytest.raises(ValueError, match=r"no model_index\.json"):
        describe(tmp_path / "missing", None)


def test_completed_download_makes_the_videomodel_ready_with_its_details() -> None:
    result = {
        "reason": "Ready",
        "path": "/models/hub/x/snapshots/abc",
        "resolvedRevision": "abc",
        "sizeBytes": 10,
        "fileCount": 2,
        "pipelineClass": "LTXPipeline",
        "family": "ltx",
        "modes": ["text-to-video"],
    }
    fields = summarize_download(job(conditions=[condition("Complete")]), [download_pod("Succeeded", 0, result)])
    assert fields["state"] == "Ready"
    assert (fields["path"], fields["resolvedRevision"], fields["sizeBytes"]) == (
        "/models/hub/x/snapshots/abc",
        "abc",
        10,
    )
    status = model_status({}, fields, 1, "2024-01-15T10:31:00Z")
    assert status["conditions"][0]["type"] == "Ready" and status["conditions"][0]["status"] == "True"


def test_failed_download_says_why() -> None:
    pods = [download_pod("Failed", 10, {"reason": "InvalidModel", "message": "Wan-AI/Nope@main: 404"})]
    fields = summarize_download(job(conditions=[condition("Failed", "PodFailurePolicy")]), pods)
    assert fields == {"state": "Failed", "message": "Wan-AI/Nope@main: 404"}


def test_running_download_is_downloading() -> None:
    assert summarize_download(job(active=1), [])["state"] == "Downloading"
    assert summarize_download(None, [])["state"] == "Pending"
