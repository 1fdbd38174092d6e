"""Which model a VideoJob runs and whether it may (common model_choice): the one decision the operator makes and
the API pre-checks with."""

from __future__ import annotations

from typing import Any

from videogen_common.model_choice import ModelPolicy, ModelUnavailable, ResolvedModel, limits_problem_of, resolve_model
from videogen_common.resources.objects import VideoModel
from videogen_common.resources.videojob import Mode, VideoJobSpec
from videogen_common.resources.videojob_status import Reason

WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
LTX = "Lightricks/LTX-Video"
T2V = Mode.TEXT_TO_VIDEO


def videomodel(
    name: str, repo_id: str, state: str | None = None, overrides: dict[str, Any] | None = None, **status: Any
) -> VideoModel:
    spec: dict[str, Any] = {"repoId": repo_id} | ({"overrides": overrides} if overrides is not None else {})
    body: dict[str, Any] = {"metadata": {"name": name}, "spec": spec, "status": dict(status)}
    if state is not None:
        body["status"]["state"] = state
    return VideoModel.model_validate(body)


def ready(name: str, repo_id: str, modes: list[str] | None = None) -> VideoModel:
    return videomodel(
        name, repo_id, "Ready", path=f"/models/{name}", resolvedRevision="abc", modes=modes, pipelineClass="WanPipeline"
    )


def unavailable(result: ResolvedModel | ModelUnavailable) -> ModelUnavailable:
    assert isinstance(result, ModelUnavailable), result
    return result


def test_a_ready_model_by_name_or_repo_id_resolves_to_its_folder_and_repo() -> None:
    models = [ready("wan", WAN)]
    for reference in ("wan", WAN):
        assert resolve_model(T2V, reference, models, ModelPolicy()) == ResolvedModel(WAN, "/models/wan", "abc", "wan")


def test_the_default_for_the_mode_applies_when_spec_model_is_empty() -> None:
    policy = ModelPolicy(default_models={T2V: "wan"})
    resolved = resolve_model(T2V, None, [ready("wan", WAN)], policy)
    assert isinstance(resolved, ResolvedModel) and resolved.repo_id == WAN
    no_default = unavailable(resolve_model(Mode.IMAGE_TO_VIDEO, None, [ready("wan", WAN)], policy))
    assert (no_default.reason, no_default.permanent) == (Reason.NO_MODEL, True)


def test_the_allow_list_holds_for_repo_ids_and_for_videomodels_named_by_name() -> None:
    policy = ModelPolicy(allowlist=(LTX,))
    by_repo = unavailable(resolve_model(T2V, WAN, [ready("wan", WAN)], policy))
    assert (by_repo.reason, by_repo.permanent) == (Reason.MODEL_NOT_ALLOWED, True)
    assert LTX in by_repo.message
    # A VideoModel name is no way around the list: the repo it downloaded is what counts.
    by_name = unavailable(resolve_model(T2V, "wan", [ready("wan", WAN)], policy))
    assert by_name.reason == Reason.MODEL_NOT_ALLOWED
    allowed = resolve_model(T2V, "ltx", [ready("ltx", LTX)], policy)
    assert isinstance(allowed, ResolvedModel)


def test_a_model_that_cannot_run_the_mode_fails_saying_what_it_runs() -> None:
    models = [ready("wan-i2v", WAN, modes=["image-to-video"])]
    result = unavailable(resolve_model(T2V, "wan-i2v", models, ModelPolicy()))
    assert (result.reason, result.permanent) == (Reason.MODE_NOT_SUPPORTED, True)
    assert "image-to-video" in result.message and "text-to-video" in result.message


def test_missing_or_downloading_models_wait_or_fail_by_policy() -> None:
    downloading = [videomodel("wan", WAN, "Downloading")]
    waiting = unavailable(resolve_model(T2V, WAN, downloading, ModelPolicy()))
    assert (waiting.reason, waiting.permanent, waiting.found) == (Reason.WAITING_FOR_MODEL, False, True)
    missing = unavailable(resolve_model(T2V, WAN, [], ModelPolicy(missing_model_policy="fail")))
    assert (missing.reason, missing.permanent, missing.found) == (Reason.WAITING_FOR_MODEL, True, False)
    assert f"spec.repoId: {WAN}" in missing.message
    by_name = unavailable(resolve_model(T2V, "nope", [], ModelPolicy()))
    assert "VideoModel nope does not exist" in by_name.message


def test_a_failed_download_fails_the_job_only_when_every_match_failed() -> None:
    failed = videomodel("wan", WAN, "Failed", message="404 from the hub")
    result = unavailable(resolve_model(T2V, WAN, [failed], ModelPolicy()))
    assert (result.reason, result.permanent) == (Reason.MODEL_FAILED, True)
    assert "404 from the hub" in result.message
    retrying = [failed, videomodel("wan-again", WAN, "Downloading")]
    assert unavailable(resolve_model(T2V, WAN, retrying, ModelPolicy())).reason == Reason.WAITING_FOR_MODEL


def test_of_several_ready_models_for_one_repo_the_first_by_name_runs() -> None:
    models = [ready("wan-b", WAN), ready("wan-a", WAN)]
    resolved = resolve_model(T2V, WAN, models, ModelPolicy())
    assert isinstance(resolved, ResolvedModel) and resolved.videomodel == "wan-a"


def test_a_ready_models_overrides_travel_with_it_to_the_runner() -> None:
    overrides = {"nativeFps": 24, "negativePrompt": "blurry"}
    model = videomodel("wan", WAN, "Ready", overrides, path="/models/wan", pipelineClass="WanPipeline")
    resolved = resolve_model(T2V, "wan", [model], ModelPolicy())
    assert isinstance(resolved, ResolvedModel) and resolved.overrides is not None
    assert resolved.overrides.to_wire() == overrides


def t2v(**fields: Any) -> VideoJobSpec:
    return VideoJobSpec.model_validate({"mode": "text-to-video", "prompt": "x", **fields})


def test_a_videomodels_overridden_limits_are_the_limits_checked_at_submit_and_before_a_pod() -> None:
    table = videomodel("wan", WAN, "Ready", pipelineClass="WanPipeline")
    raised = videomodel(
        "wan-hd", WAN, "Ready", {"maxPixels": 1920 * 1088, "maxFrames": 257}, pipelineClass="WanPipeline"
    )
    lowered = videomodel("wan-small", WAN, "Ready", {"maxPixels": 832 * 480}, pipelineClass="WanPipeline")
    full_hd = t2v(width=1920, height=1080)
    assert "at most 921600 (e.g. 1280x720)" in (limits_problem_of(full_hd, table) or "")
    assert limits_problem_of(full_hd, raised) is None
    # 128 frames at 8 fps: 16 s, 257 frames at Wan's 16 fps; over the table's 129, within the override's 257.
    long_clip = t2v(numFrames=128, fps=8)
    assert "at most 129 frames" in (limits_problem_of(long_clip, table) or "")
    assert limits_problem_of(long_clip, raised) is None
    problem = limits_problem_of(t2v(width=1280, height=720), lowered)
    assert problem is not None and "at most 399360 (the VideoModel's spec.overrides.maxPixels)" in problem
    # Known by its family only (not downloaded yet): the override holds for every checkpoint of the family.
    declared = VideoModel.model_validate(
        {"metadata": {"name": "ltx"}, "spec": {"repoId": LTX, "family": "ltx", "overrides": {"maxPixels": 4096}}}
    )
    assert "spec.overrides.maxPixels" in (limits_problem_of(t2v(width=128, height=64), declared) or "")
