"""VideoModel download: the Job, the pod's program (DownloadInput in, DownloadResult out) and the VideoModel status
made from its result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.operator.conftest import fill_model_cache
from tests.operator.factories import condition, job, videomodel
from videogen_common.download_contract import INPUT_ENV, DownloadInput, DownloadOutcome, DownloadResult, Snapshot
from videogen_common.families import FamilyName
from videogen_common.resources.videojob import Mode
from videogen_common.resources.videomodel import ModelState, VideoModelStatus
from videogen_common.runner_contract import ExitCode
from videogen_common.termination import TERMINATION_LOG_ENV
from videogen_operator.download import ALLOW_PATTERNS, IGNORE_PATTERNS, describe
from videogen_operator.download_job import desired_download_job, model_status, status_patch, summarize_download
from videogen_operator.settings import OperatorSettings

T0 = "2024-01-15T10:31:00Z"
SNAPSHOT = Snapshot(
    path="/models/hub/x/snapshots/abc",
    resolved_revision="abc",
    size_bytes=10,
    file_count=2,
    pipeline_class="LTXPipeline",
    family=FamilyName.LTX,
    modes=[Mode.TEXT_TO_VIDEO],
)


def download_pod(phase: str, exit_code: int, message: str) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "message": message}
    return {
        "metadata": {"name": "wan-download-x", "creationTimestamp": "2024-01-15T10:30:46Z"},
        "status": {"phase": phase, "containerStatuses": [{"name": "download", "state": {"terminated": terminated}}]},
    }


def env_of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in body["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_download_job_is_owned_by_the_videomodel_and_writes_into_the_cache() -> None:
    body = desired_download_job(videomodel("wan", "Wan-AI/Wan"), OperatorSettings(hf_token_secret="hf"))
    assert body["metadata"]["name"] == "wan-download"
    assert body["metadata"]["ownerReferences"][0]["kind"] == "VideoModel"
    assert body["metadata"]["labels"]["videogen.dev/videomodel-uid"] == "uid-wan"
    pod = body["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["shareProcessNamespace"] is True  # not PID 1: an early SIGTERM stops it (see pod_building)
    env = env_of(body)
    request = DownloadInput.model_validate_json(env[INPUT_ENV]["value"])
    assert request == DownloadInput(
        repo_id="Wan-AI/Wan", revision="main", cache_dir="/models/hub", family=None, max_bytes=200 * 2**30
    )
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hf"
    assert pod["containers"][0]["volumeMounts"][0] == {"name": "model-cache", "mountPath": "/models"}
    assert body["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [ExitCode.INVALID_INPUT]


def test_a_long_videomodel_name_still_makes_a_valid_job_name() -> None:
    name = desired_download_job(videomodel("m" * 63, "Wan-AI/Wan"), OperatorSettings())["metadata"]["name"]
    assert len(name) == 63 and name.endswith("-download")


def test_only_safetensors_configs_and_tokenizers_are_downloaded() -> None:
    assert "*.safetensors" in ALLOW_PATTERNS
    assert not any(p.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl")) for p in ALLOW_PATTERNS)
    assert {"*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl"} <= set(IGNORE_PATTERNS)


def request(family: FamilyName | None = None) -> DownloadInput:
    return DownloadInput(repo_id="org/model", cache_dir="/models/hub", family=family)


def test_describe_reads_pipeline_family_modes_and_size(tmp_path: Path) -> None:
    folder = tmp_path / "0123abc"
    (folder / "vae").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "WanImageToVideoPipeline"}))
    (folder / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 100)
    snapshot = describe(folder, request())
    assert snapshot.pipeline_class == "WanImageToVideoPipeline"
    assert (snapshot.family, snapshot.modes) == (FamilyName.WAN, [Mode.IMAGE_TO_VIDEO])
    assert snapshot.resolved_revision == "0123abc"
    assert snapshot.file_count == 2
    assert snapshot.size_bytes == 100 + len(json.dumps({"_class_name": "WanImageToVideoPipeline"}))
    # spec.family, when given, is what the status shows.
    assert describe(folder, request(FamilyName.LTX)).family == FamilyName.LTX


def test_describe_rejects_a_repo_that_is_not_a_runnable_pipeline(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(ValueError, match="not one the runner runs"):
        describe(tmp_path, request())
    with pytest.raises(ValueError, match=r"no model_index\.json"):
        describe(tmp_path / "missing", request())


def run_download_pod(body: dict[str, Any], cache: Path, tmp_path: Path) -> dict[str, Any]:
    """The download pod's program as the Job runs it (offline, the cache mounted at ``cache``): the pod it leaves."""
    request = DownloadInput.model_validate_json(env_of(body)[INPUT_ENV]["value"])
    local = request.model_copy(update={"cache_dir": str(cache / "hub")})
    termination = tmp_path / "termination-log"
    env = os.environ | {
        INPUT_ENV: local.to_json(),
        TERMINATION_LOG_ENV: str(termination),
        "HF_HUB_OFFLINE": "1",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "videogen_operator.download"], env=env, capture_output=True, timeout=120, check=False
    )
    phase = "Succeeded" if done.returncode == 0 else "Failed"
    return download_pod(phase, done.returncode, termination.read_text())


def test_the_download_pod_answers_its_input_with_a_result_the_videomodel_becomes_ready_from(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    snapshot_folder, commit = fill_model_cache(cache, "org/model", "LTXPipeline")
    body = desired_download_job(videomodel("tiny", "org/model"), OperatorSettings())

    pod = run_download_pod(body, cache, tmp_path)

    result = DownloadResult.model_validate_json(pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"])
    assert result.reason == DownloadOutcome.READY and result.snapshot is not None
    assert (result.snapshot.path, result.snapshot.resolved_revision) == (str(snapshot_folder), commit)
    fields = summarize_download(job(conditions=[condition("Complete")]), [pod])
    assert fields.state == ModelState.READY
    assert (fields.pipeline_class, fields.family, fields.file_count) == ("LTXPipeline", FamilyName.LTX, 3)
    assert fields.modes == [Mode.TEXT_TO_VIDEO, Mode.IMAGE_TO_VIDEO, Mode.VIDEO_TO_VIDEO]


def test_a_repo_the_runner_cannot_run_fails_the_download_for_good(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fill_model_cache(cache, "org/model", "StableDiffusionPipeline")
    body = desired_download_job(videomodel("sd", "org/model"), OperatorSettings())

    pod = run_download_pod(body, cache, tmp_path)

    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == ExitCode.INVALID_INPUT
    assert DownloadResult.model_validate_json(terminated["message"]).reason == DownloadOutcome.INVALID_MODEL
    fields = summarize_download(job(conditions=[condition("Failed", "PodFailurePolicy")]), [pod])
    assert fields.state == ModelState.FAILED
    assert fields.message is not None and fields.message.startswith("org/model@main: pipeline class")


def test_completed_download_makes_the_videomodel_ready_with_its_details() -> None:
    result = DownloadResult(reason=DownloadOutcome.READY, snapshot=SNAPSHOT)
    pods = [download_pod("Succeeded", 0, result.to_termination_message())]
    fields = summarize_download(job(conditions=[condition("Complete")]), pods)
    assert fields.state == ModelState.READY
    assert (fields.path, fields.resolved_revision, fields.size_bytes) == ("/models/hub/x/snapshots/abc", "abc", 10)
    status = model_status(VideoModelStatus(), fields, 1, T0)
    assert (status.conditions[0].type, status.conditions[0].status) == ("Ready", "True")


def test_failed_download_says_why() -> None:
    result = DownloadResult(reason=DownloadOutcome.INVALID_MODEL, message="Wan-AI/Nope@main: 404")
    pods = [download_pod("Failed", 10, result.to_termination_message())]
    fields = summarize_download(job(conditions=[condition("Failed", "PodFailurePolicy")]), pods)
    assert fields == VideoModelStatus(state=ModelState.FAILED, message="Wan-AI/Nope@main: 404")


def test_a_crash_before_the_result_is_written_shows_the_log_tail() -> None:
    pods = [download_pod("Failed", 12, "Traceback (most recent call last): ... disk full\n")]
    fields = summarize_download(job(conditions=[condition("Failed", "BackoffLimitExceeded")]), pods)
    assert fields.message == "Traceback (most recent call last): ... disk full"


def test_running_download_is_downloading() -> None:
    assert summarize_download(job(active=1), []).state == ModelState.DOWNLOADING
    assert summarize_download(None, []).state == ModelState.PENDING


def test_the_status_keeps_what_it_had_and_the_patch_holds_only_what_changed() -> None:
    downloading = model_status(VideoModelStatus(), summarize_download(job(active=1), []), 1, T0)
    ready = model_status(
        downloading,
        VideoModelStatus.model_validate(SNAPSHOT.model_dump() | {"state": "Ready", "message": "2 files"}),
        1,
        "2024-01-15T10:35:00Z",
    )
    patch = status_patch(downloading, ready)
    assert patch is not None and patch["state"] == "Ready" and patch["path"] == SNAPSHOT.path
    assert "observedGeneration" not in patch
    assert status_patch(ready, ready) is None
