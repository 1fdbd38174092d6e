"""Pure parts of the runner: the contract documents, frame/size rounding, pipeline choice, frame sampling."""

import json
from pathlib import Path
from typing import Any

import pytest

from videogen_common.families import (
    FAMILIES,
    PIPELINES,
    FamilyName,
    nearest_valid_frames,
    nearest_valid_side,
)
from videogen_common.resources.videojob import Mode, VideoJobSpec
from videogen_common.resources.videojob_status import Reason, UsedParameters
from videogen_common.runner_contract import (
    INPUT_ENV,
    TERMINATION_MESSAGE_LIMIT,
    ExitCode,
    OutputLocation,
    ProgressLocation,
    RunnerInput,
    RunResult,
    VideoJobRef,
)
from videogen_runner.cli import load_input
from videogen_runner.errors import InvalidInputError, TransientError, exit_code_for
from videogen_runner.families import ModelInfo, pipeline_class_for, read_model_info
from videogen_runner.media import sample_indices
from videogen_runner.params import draw_seed, resolve_used

WAN = FAMILIES[FamilyName.WAN]
LTX = FAMILIES[FamilyName.LTX]


def _model_folder(tmp_path: Path, class_name: str) -> Path:
    folder = tmp_path / class_name
    folder.mkdir()
    (folder / "model_index.json").write_text(
        json.dumps({"_class_name": class_name, "transformer": ["diffusers", "X"], "transformer_2": [None, None]})
    )
    return folder


def test_exit_codes_are_distinct_and_only_transient_failures_are_retriable():
    codes = [int(c) for c in ExitCode]
    assert len(set(codes)) == len(codes)
    assert int(ExitCode.SUCCEEDED) == 0
    assert not ExitCode.INVALID_INPUT.retriable
    assert not ExitCode.OUT_OF_MEMORY.retriable
    assert ExitCode.TRANSIENT.retriable


def test_reference_defaults_round_to_65_frames_at_512_for_both_families():
    for family in (WAN, LTX):
        assert nearest_valid_frames(64, family) == 65
        assert nearest_valid_side(512, family) == 512


@pytest.mark.parametrize(
    ("family", "requested", "frames"),
    [
        (WAN, 1, 1),
        (WAN, 2, 1),
        (WAN, 3, 5),
        (WAN, 81, 81),
        (WAN, 128, 129),
        (LTX, 4, 1),
        (LTX, 5, 9),
        (LTX, 161, 161),
        (LTX, 100, 97),
        (LTX, 128, 129),
    ],
)
def test_frames_round_to_the_nearest_valid_count(family, requested, frames):
    assert nearest_valid_frames(requested, family) == frames
    assert (frames - 1) % family.frame_step == 0


@pytest.mark.parametrize(
    ("family", "requested", "side"),
    [
        (WAN, 480, 480),
        (WAN, 500, 496),
        (WAN, 504, 512),
        (WAN, 1, 16),
        (LTX, 480, 480),
        (LTX, 704, 704),
        (LTX, 500, 512),
        (LTX, 10, 32),
    ],
)
def test_sides_round_to_the_nearest_multiple(family, requested, side):
    assert nearest_valid_side(requested, family) == side


@pytest.mark.parametrize(
    ("class_name", "mode", "pipeline"),
    [
        ("WanPipeline", "text-to-video", "WanPipeline"),
        ("WanPipeline", "video-to-video", "WanVideoToVideoPipeline"),
        ("WanImageToVideoPipeline", "image-to-video", "WanImageToVideoPipeline"),
        ("LTXPipeline", "text-to-video", "LTXPipeline"),
        ("LTXPipeline", "image-to-video", "LTXImageToVideoPipeline"),
        ("LTXPipeline", "video-to-video", "LTXConditionPipeline"),
        # LTX-Video 0.9.5+ runs every mode through the condition pipeline (its schedule).
        ("LTXConditionPipeline", "text-to-video", "LTXConditionPipeline"),
        ("LTXConditionPipeline", "image-to-video", "LTXConditionPipeline"),
    ],
)
def test_pipeline_class_follows_model_index_and_mode(tmp_path, class_name, mode, pipeline):
    info = read_model_info(_model_folder(tmp_path, class_name))
    assert pipeline_class_for(info, Mode(mode)) == pipeline
    assert info.components == ("transformer",)


@pytest.mark.parametrize(
    ("class_name", "mode"),
    [
        ("WanPipeline", "image-to-video"),
        ("WanImageToVideoPipeline", "text-to-video"),
        ("WanImageToVideoPipeline", "video-to-video"),
    ],
)
def test_mode_the_model_cannot_do_is_invalid_input(tmp_path, class_name, mode):
    info = read_model_info(_model_folder(tmp_path, class_name))
    with pytest.raises(InvalidInputError, match=f"cannot do {mode}"):
        pipeline_class_for(info, Mode(mode))


def test_missing_or_foreign_model_folder_is_invalid_input(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_model_info(tmp_path / "absent")
    with pytest.raises(InvalidInputError, match=r"no model_index\.json"):
        read_model_info(tmp_path)
    with pytest.raises(InvalidInputError, match="StableDiffusionPipeline") as caught:
        read_model_info(_model_folder(tmp_path, "StableDiffusionPipeline"))
    # The message lists what the runner does run, from the common table.
    assert all(class_name in str(caught.value) for class_name in PIPELINES)


@pytest.mark.runner
def test_every_class_the_common_table_runs_is_in_the_installed_diffusers(tmp_path):
    """The runner loads each mode's class by name from diffusers: a table entry it cannot import would fail jobs
    only after the checks that are meant to catch a bad model."""
    import diffusers

    for class_name, pipeline in PIPELINES.items():
        info = read_model_info(_model_folder(tmp_path, class_name))
        assert info.pipeline is pipeline
        for mode in pipeline.modes:
            assert hasattr(diffusers, pipeline_class_for(info, mode)), (class_name, mode)


def test_seed_minus_one_is_drawn_and_zero_is_kept():
    assert draw_seed(0) == 0
    assert draw_seed(42) == 42
    drawn = {draw_seed(-1) for _ in range(5)}
    assert all(0 <= s < 2**32 for s in drawn)
    assert len(drawn) > 1


def test_frame_sampling_keeps_real_time_and_stretches_short_clips():
    # 30 fps source, 24 fps output: frame i is the source frame at i/24 s.
    assert sample_indices(300, 30.0, 5, 24) == [0, 1, 2, 4, 5]
    # A 3-frame source stretched over 9 output frames, in order, first and last kept.
    short = sample_indices(3, 24.0, 9, 24)
    assert short[0] == 0
    assert short[-1] == 2
    assert short == sorted(short)
    assert sample_indices(0, 24.0, 9, 24) == []


def test_runner_input_round_trips_in_camel_case():
    doc = RunnerInput.model_validate(
        {
            "videojob": {"name": "job-1-abcdefabcdef", "namespace": "ns", "uid": "u"},
            "spec": {"mode": "image-to-video", "model": "wan", "input": {"uri": "s3://bucket/in/cat.png"}, "seed": 0},
            "model": {"path": "/models/wan", "repoId": "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"},
            "output": json.loads(OutputLocation.for_video("b", "outputs/", "x.mp4").to_json()),
        }
    )
    assert doc.spec.seed == 0
    assert doc.spec.num_frames == 64
    assert doc.spec.input is not None
    assert (doc.spec.input.bucket, doc.spec.input.key) == ("bucket", "in/cat.png")
    assert doc.output.video_key == "outputs/x.mp4"
    assert doc.output.metadata_key == "outputs/x.json"
    assert doc.output.poster_key == "outputs/x.jpg"
    again = RunnerInput.model_validate_json(doc.to_json())
    assert again == doc
    assert '"numFrames":64' in doc.to_json()


def test_progress_location_is_per_videojob_uid():
    ref = VideoJobRef(name="job-1-abcdefabcdef", namespace="ns", uid="1234")
    assert ProgressLocation.for_videojob("b", "outputs", ref).key == "outputs/.progress/ns/job-1-abcdefabcdef-1234.json"


def test_termination_message_never_exceeds_4_kib():
    result = RunResult(exit_code=10, reason=Reason.INVALID_INPUT, message='é"x\n' * 5000, timings={"load": 1.0})
    text = result.to_termination_message()
    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT
    doc = json.loads(text)
    assert doc["exitCode"] == 10
    assert doc["message"].startswith('é"x\n')
    short = RunResult(exit_code=0, reason=Reason.SUCCEEDED, message="ok")
    assert json.loads(short.to_termination_message()) == {
        "exitCode": 0,
        "reason": "Succeeded",
        "message": "ok",
        "timings": {},
    }


def test_s3_connection_errors_are_transient():
    from botocore.exceptions import ClientError, EndpointConnectionError

    assert exit_code_for(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")) == ExitCode.TRANSIENT
    throttled = ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject")
    assert exit_code_for(throttled) == ExitCode.TRANSIENT
    assert exit_code_for(TransientError("x")) == ExitCode.TRANSIENT
    assert exit_code_for(ValueError("bug")) == ExitCode.INTERNAL


def _used(spec: dict[str, Any], info: ModelInfo, pipeline_class: str) -> UsedParameters:
    return resolve_used(
        VideoJobSpec.model_validate(spec),
        info,
        pipeline_class,
        info.pipeline.checkpoint,
        repo_id="org/model",
        revision=None,
        seed=0,
    )


V2V = {"mode": "video-to-video", "model": "m", "input": {"uri": "s3://inputs/k.mp4"}}


def test_ltx_runs_at_least_two_steps_and_video_to_video_at_least_one(tmp_path):
    ltx = read_model_info(_model_folder(tmp_path, "LTXPipeline"))
    used = _used({**V2V, "numInferenceSteps": 1, "strength": 0.0}, ltx, "LTXConditionPipeline")
    assert used.num_inference_steps == 2
    assert used.strength is not None and int(used.num_inference_steps * used.strength) == 1
    wan = read_model_info(_model_folder(tmp_path, "WanPipeline"))
    strength3 = _used({**V2V, "numInferenceSteps": 3, "strength": 0.0}, wan, "WanVideoToVideoPipeline").strength
    assert strength3 is not None and int(3 * strength3) == 1


def test_only_video_to_video_reports_a_strength(tmp_path):
    wan = read_model_info(_model_folder(tmp_path, "WanPipeline"))
    text = {"mode": "text-to-video", "prompt": "a cat"}
    # The reference API's default strength (0.8) is in every spec; only video-to-video runs it.
    assert VideoJobSpec.model_validate(text).strength == 0.8
    assert _used(text, wan, "WanPipeline").strength is None
    assert _used(V2V, wan, "WanVideoToVideoPipeline").strength == 0.8


@pytest.mark.parametrize("spec_model", ["smoke-wan-t2v", None, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"])
def test_used_model_is_the_repo_id_the_model_came_from_whatever_spec_model_says(tmp_path, spec_model):
    """spec.model may be a VideoModel name, or absent for the mode's default model: used.model says which weights
    ran, from the operator's ModelRef."""
    folder = _model_folder(tmp_path, "WanPipeline")
    doc = RunnerInput.model_validate(
        {
            "videojob": {"name": "job-1-abcdefabcdef"},
            "spec": {"mode": "text-to-video", "prompt": "a cat", "model": spec_model},
            "model": {"path": str(folder), "repoId": "videogen-smoke/tiny-wan-t2v"},
            "output": OutputLocation.for_video("bucket", "outputs", "x.mp4").to_wire(),
        }
    )
    info = read_model_info(folder)
    used = resolve_used(
        doc.spec, info, "WanPipeline", info.pipeline.checkpoint, repo_id=doc.model.repo_id, revision=None, seed=0
    )
    assert used.model == "videogen-smoke/tiny-wan-t2v"


def _input_document(spec: dict[str, Any], model: dict[str, str] | None = None) -> str:
    return json.dumps(
        {
            "videojob": {"name": "job-1-abcdefabcdef"},
            "spec": spec,
            "model": model or {"path": "/models/m", "repoId": "org/model"},
            "output": OutputLocation.for_video("bucket", "outputs", "x.mp4").to_wire(),
        }
    )


@pytest.mark.parametrize(
    ("spec", "field", "why"),
    [
        ({"numFrames": 129}, "spec.numFrames", "less than or equal to 128"),
        ({"numFrames": 0}, "spec.numFrames", "greater than or equal to 1"),
        ({"width": 4096}, "spec.width", "less than or equal to 2048"),
        ({"numInferenceSteps": 101}, "spec.numInferenceSteps", "less than or equal to 100"),
    ],
)
def test_runner_refuses_a_spec_outside_the_crd_ranges_naming_the_field(monkeypatch, spec, field, why):
    """The runner reads the CRD's own spec type: a hand-written document gets the apiserver's ranges."""
    monkeypatch.setenv(INPUT_ENV, _input_document({"mode": "text-to-video", "prompt": "a cat", **spec}))
    with pytest.raises(InvalidInputError, match="invalid input document") as caught:
        load_input(None)
    assert f"{field}: " in str(caught.value)
    assert why in str(caught.value)
    assert exit_code_for(caught.value) == ExitCode.INVALID_INPUT


def test_runner_refuses_a_mode_without_its_input_and_a_model_without_its_repo_id(monkeypatch):
    monkeypatch.setenv(INPUT_ENV, _input_document({"mode": "image-to-video"}, model={"path": "/models/m"}))
    with pytest.raises(InvalidInputError) as caught:
        load_input(None)
    assert "spec.input.uri is required for mode image-to-video" in str(caught.value)
    assert "model.repoId: " in str(caught.value)


def test_mp4_preset_setting_accepts_x264_presets_only(monkeypatch):
    from pydantic import ValidationError

    from videogen_runner.settings import RunnerSettings

    assert RunnerSettings().mp4_preset == "medium"
    monkeypatch.setenv("VIDEOGEN_RUNNER_MP4_PRESET", "veryfast")
    assert RunnerSettings().mp4_preset == "veryfast"
    monkeypatch.setenv("VIDEOGEN_RUNNER_MP4_PRESET", "warp-speed")
    with pytest.raises(ValidationError, match="VIDEOGEN_RUNNER_MP4_PRESET"):
        RunnerSettings()
