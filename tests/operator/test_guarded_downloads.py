"""Guarded model downloads: the allow-list (through a running operator: kubectl-made VideoModels too), the hub's
metadata checked before any weight is fetched (size budget, a diffusers pipeline of a known family), and a failed
download leaving nothing on the cache volume."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hub_server import Hub, HubFile, diffusers_repo, local_hub
from tests.operator.conftest import Namespace, fill_model_cache
from tests.operator.test_job_ownership_and_queues import model_status, videomodel
from videogen_common.download_contract import INPUT_ENV, DownloadInput, DownloadOutcome, DownloadResult
from videogen_common.runner_contract import ExitCode
from videogen_common.termination import TERMINATION_LOG_ENV
from videogen_dev.waiting import wait_for


def test_a_videomodel_outside_the_allow_list_fails_without_a_download_job(ns: Namespace, start_operator: Any) -> None:
    start_operator(model_allowlist="videogen-smoke/listed")
    videomodel(ns, "unlisted", "videogen-smoke/unlisted")
    videomodel(ns, "listed", "videogen-smoke/listed")

    failed = wait_for(lambda: model_status(ns, "unlisted"), lambda s: s.get("state") == "Failed", 30, "refusal")
    assert failed["message"] == (
        "model videogen-smoke/unlisted is not allowed here; use one of: videogen-smoke/listed; nothing was downloaded"
    )
    assert ns.jobs("videogen.dev/videomodel=unlisted") == []
    ready = wait_for(lambda: model_status(ns, "listed"), lambda s: s.get("state") in ("Ready", "Failed"), 30, "ready")
    assert ready["state"] == "Ready", ready


# --- the download pod's program against a stand-in hub (huggingface_hub's real client, HF_ENDPOINT on loopback) ---


def run_download(hub: Hub, request: DownloadInput, tmp_path: Path) -> tuple[int, DownloadResult]:
    """``python -m videogen_operator.download`` as the download Job runs it, online against ``hub``."""
    termination = tmp_path / "termination-log"
    # Without the hub's variables of this process: a runner test run in-process before may have set the runner's
    # offline switches, and huggingface_hub reads TRANSFORMERS_OFFLINE as HF_HUB_OFFLINE.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_") and k != "TRANSFORMERS_OFFLINE"} | {
        INPUT_ENV: request.to_json(),
        TERMINATION_LOG_ENV: str(termination),
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "videogen_operator.download"], env=env, capture_output=True, timeout=120, check=False
    )
    return done.returncode, DownloadResult.model_validate_json(termination.read_text())


def repo_files(cache: Path, repo_id: str) -> list[str]:
    folder = cache / f"models--{repo_id.replace('/', '--')}"
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture
def hub() -> Iterator[Hub]:
    with local_hub() as server:
        yield server


def request_for(cache: Path, repo_id: str, max_bytes: int | None = 2**30) -> DownloadInput:
    return DownloadInput(repo_id=repo_id, cache_dir=str(cache), max_bytes=max_bytes)


def test_a_pipeline_within_the_budget_is_downloaded_at_the_checked_commit(hub: Hub, tmp_path: Path) -> None:
    repo = hub.add("org/ltx", diffusers_repo())
    code, result = run_download(hub, request_for(tmp_path / "hub", "org/ltx"), tmp_path)

    assert code == ExitCode.SUCCEEDED, result
    assert result.snapshot is not None and result.snapshot.resolved_revision == repo.sha
    assert result.snapshot.pipeline_class == "LTXPipeline"
    assert sorted(path for _, path in hub.fetched if path != "model_index.json") == [
        "transformer/config.json",
        "transformer/diffusion_pytorch_model.safetensors",
    ]


def test_a_repo_over_the_budget_is_refused_before_any_file_is_fetched(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/huge", diffusers_repo(weights=HubFile(b"\0" * 10, listed_size=5 * 2**30)))
    cache = tmp_path / "hub"

    code, result = run_download(hub, request_for(cache, "org/huge", max_bytes=2**30), tmp_path)

    assert (code, result.reason) == (ExitCode.INVALID_INPUT, DownloadOutcome.INVALID_MODEL)
    assert "5.0 GiB to download is over the budget of 1.0 GiB" in result.message
    assert hub.fetched == []
    assert repo_files(cache, "org/huge") == []


@pytest.mark.parametrize(
    ("files", "message", "fetched"),
    [
        (diffusers_repo("StableDiffusionPipeline"), "pipeline class", [("org/repo", "model_index.json")]),
        ({"model.safetensors": HubFile(b"\0" * 10)}, "no model_index.json", []),
    ],
    ids=["image-pipeline", "no-model-index"],
)
def test_a_repo_that_is_not_a_video_pipeline_is_refused_before_any_weight_is_fetched(
    hub: Hub, tmp_path: Path, files: dict[str, HubFile], message: str, fetched: list[tuple[str, str]]
) -> None:
    hub.add("org/repo", files)
    cache = tmp_path / "hub"

    code, result = run_download(hub, request_for(cache, "org/repo"), tmp_path)

    assert (code, result.reason) == (ExitCode.INVALID_INPUT, DownloadOutcome.INVALID_MODEL), result
    assert message in result.message
    assert hub.fetched == fetched
    assert repo_files(cache, "org/repo") == []


def test_a_download_that_breaks_leaves_nothing_and_keeps_an_earlier_complete_snapshot(hub: Hub, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    earlier, _ = fill_model_cache(cache, "org/ltx", "LTXPipeline")
    before = repo_files(cache / "hub", "org/ltx")
    hub.add("org/ltx", diffusers_repo(weights=HubFile(b"\1" * 1000, fail_with=403)))

    code, result = run_download(hub, request_for(cache / "hub", "org/ltx"), tmp_path)

    assert (code, result.reason) == (ExitCode.TRANSIENT, DownloadOutcome.DOWNLOAD_FAILED), result
    assert ("org/ltx", "transformer/diffusion_pytorch_model.safetensors") in hub.fetched
    # What this attempt fetched (model_index.json, the config) is gone; the complete earlier snapshot stays.
    assert repo_files(cache / "hub", "org/ltx") == before
    assert (earlier / "model_index.json").is_file()

    fresh = tmp_path / "fresh"
    code, _ = run_download(hub, request_for(fresh, "org/ltx"), tmp_path)
    assert code == ExitCode.TRANSIENT
    assert repo_files(fresh, "org/ltx") == []


# --- through a running operator: retrying a Failed VideoModel, and the cap on concurrent downloads ---------------


def test_a_failed_videomodel_downloads_again_when_its_attempt_is_raised(ns: Namespace, start_operator: Any) -> None:
    start_operator(download_backoff_limit=0)
    # Nothing in the (offline) cache yet: the first attempt fails.
    ns.apply(
        {
            "apiVersion": "videogen.dev/v1alpha1",
            "kind": "VideoModel",
            "metadata": {"name": "late"},
            "spec": {"repoId": "videogen-smoke/late"},
        }
    )
    failed = wait_for(
        lambda: model_status(ns, "late"), lambda s: s.get("state") in ("Failed", "Ready"), 60, "the first attempt"
    )
    assert (failed["state"], failed["jobName"]) == ("Failed", "late-download"), failed

    fill_model_cache(ns.model_cache, "videogen-smoke/late", "LTXPipeline")
    # What POST /api/v1/models/download does to a Failed VideoModel.
    ns.cluster.kubectl("annotate", "videomodel", "late", "-n", ns.name, "videogen.dev/download-attempt=1")
    ready = wait_for(lambda: model_status(ns, "late"), lambda s: s.get("state") == "Ready", 60, "the retried download")
    assert ready["jobName"] == "late-download-1"
    # The failed attempt's Job is removed; the retry's Job is the one left.
    wait_for(
        lambda: [j["metadata"]["name"] for j in ns.jobs("videogen.dev/videomodel=late")],
        lambda names: names == ["late-download-1"],
        30,
        "the first attempt's Job to be deleted",
    )


def test_downloads_beyond_the_cap_wait_for_a_free_place(ns: Namespace, start_operator: Any, hub: Hub) -> None:
    for repo_id in ("org/first", "org/second"):
        hub.add(repo_id, diffusers_repo(weights=HubFile(b"\0" * 1000, delay=4)))
    start_operator(
        max_concurrent_downloads=1,
        download_env={"HF_ENDPOINT": hub.url},
        model_allowlist="org/first,org/second",
    )
    for name, repo_id in (("first", "org/first"), ("second", "org/second")):
        ns.apply(
            {
                "apiVersion": "videogen.dev/v1alpha1",
                "kind": "VideoModel",
                "metadata": {"name": name},
                "spec": {"repoId": repo_id},
            }
        )
    waiting = wait_for(
        lambda: [model_status(ns, n) for n in ("first", "second")],
        lambda both: any("waiting for a free place" in s.get("message", "") for s in both),
        30,
        "one download to wait",
    )
    # The other may have no status yet (its worker not started): only the one that waits must say Pending.
    assert [s.get("state") for s in waiting].count("Pending") >= 1, waiting
    active = []
    for _ in range(40):
        states = [model_status(ns, n).get("state") for n in ("first", "second")]
        jobs = ns.jobs("app.kubernetes.io/component=model-download")
        active.append(sum(1 for j in jobs if not j.get("status", {}).get("conditions")))
        if states == ["Ready", "Ready"]:
            break
        time.sleep(0.5)
    assert states == ["Ready", "Ready"], [model_status(ns, n) for n in ("first", "second")]
    assert max(active) == 1, active
