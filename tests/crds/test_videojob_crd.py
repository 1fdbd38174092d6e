"""VideoJob CRD (crds/videojob.yaml) against a real API server: defaults, ranges, CEL rules, status."""

from __future__ import annotations

from typing import Any

import pytest

from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.resources.videojob_status import Reason

API_VERSION = "videogen.dev/v1alpha1"
INPUT_IMAGE = {"uri": "s3://videogen/inputs/cat.png", "contentType": "image/png"}
INPUT_VIDEO = {"uri": "s3://videogen/inputs/clip.mp4", "contentType": "video/mp4"}

# A valid spec per mode; each invalid case below starts from one of these and breaks one rule.
VALID_SPECS: dict[str, dict[str, Any]] = {
    "text-to-video": {"mode": "text-to-video", "prompt": "A cat playing with a ball of yarn"},
    "image-to-video": {"mode": "image-to-video", "prompt": "A dog running", "input": INPUT_IMAGE},
    "video-to-video": {"mode": "video-to-video", "prompt": "Anime style", "input": INPUT_VIDEO},
}

DELETE = object()  # marks a field to remove from the base spec


def videojob(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "VideoJob", "metadata": {"name": name}, "spec": spec}


def spec_with(base_mode: str, /, **changes: Any) -> dict[str, Any]:
    spec = dict(VALID_SPECS[base_mode])
    for key, value in changes.items():
        if value is DELETE:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


# (test id, base mode, changes to the base spec, strings the API server's message must contain)
INVALID_VIDEOJOBS: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("num-frames-0", "text-to-video", {"numFrames": 0}, ("spec.numFrames",)),
    ("num-frames-129", "text-to-video", {"numFrames": 129}, ("spec.numFrames",)),
    ("guidance-0.5", "text-to-video", {"guidanceScale": 0.5}, ("spec.guidanceScale",)),
    ("guidance-21", "text-to-video", {"guidanceScale": 21}, ("spec.guidanceScale",)),
    ("width-63", "text-to-video", {"width": 63}, ("spec.width",)),
    ("width-4096", "text-to-video", {"width": 4096}, ("spec.width",)),
    ("height-4096", "text-to-video", {"height": 4096}, ("spec.height",)),
    ("strength-1.5", "video-to-video", {"strength": 1.5}, ("spec.strength",)),
    ("strength-negative", "video-to-video", {"strength": -0.1}, ("spec.strength",)),
    ("seed-minus-2", "text-to-video", {"seed": -2}, ("spec.seed",)),
    ("seed-above-uint32", "text-to-video", {"seed": 4294967296}, ("spec.seed",)),
    ("bad-mode", "text-to-video", {"mode": "text-to-image"}, ("spec.mode", "Unsupported value")),
    ("no-mode", "text-to-video", {"mode": DELETE}, ("spec.mode", "Required value")),
    (
        "t2v-without-prompt",
        "text-to-video",
        {"prompt": DELETE},
        ("spec.prompt", "spec.prompt is required for mode text-to-video"),
    ),
    (
        "t2v-blank-prompt",
        "text-to-video",
        {"prompt": "   "},
        ("spec.prompt", "spec.prompt is required for mode text-to-video"),
    ),
    (
        "i2v-without-input",
        "image-to-video",
        {"input": DELETE},
        ("spec.input", "spec.input.uri is required for mode image-to-video"),
    ),
    (
        "v2v-without-input",
        "video-to-video",
        {"input": DELETE},
        ("spec.input", "spec.input.uri is required for mode video-to-video"),
    ),
    (
        "t2v-with-input",
        "text-to-video",
        {"input": INPUT_IMAGE},
        ("spec.input", "spec.input must not be set for mode text-to-video"),
    ),
    ("input-without-uri", "image-to-video", {"input": {"contentType": "image/png"}}, ("spec.input.uri",)),
    ("input-https-uri", "image-to-video", {"input": {"uri": "https://example.com/cat.png"}}, ("spec.input.uri",)),
    ("input-local-path", "image-to-video", {"input": {"uri": "/tmp/cat.png"}}, ("spec.input.uri",)),
    ("input-s3-no-key", "image-to-video", {"input": {"uri": "s3://videogen/"}}, ("spec.input.uri",)),
    (
        "input-bad-content-type",
        "image-to-video",
        {"input": {**INPUT_IMAGE, "contentType": "png"}},
        ("spec.input.contentType",),
    ),
    ("model-url", "text-to-video", {"model": "https://huggingface.co/Lightricks/LTX-Video"}, ("spec.model",)),
    ("model-three-parts", "text-to-video", {"model": "a/b/c"}, ("spec.model",)),
    ("model-empty", "text-to-video", {"model": ""}, ("spec.model",)),
    ("model-double-dash", "text-to-video", {"model": "Wan-AI/Wan--2"}, ("spec.model", "'--' or '..'")),
    ("model-too-long", "text-to-video", {"model": "a" * 201}, ("spec.model",)),
    ("model-git-suffix", "text-to-video", {"model": "Wan-AI/Wan2.1.git"}, ("spec.model", ".git")),
    ("unknown-field", "text-to-video", {"frames": 64}, ('unknown field "spec.frames"',)),
    ("snake-case-field", "text-to-video", {"num_frames": 64}, ('unknown field "spec.num_frames"',)),
    ("steps-0", "text-to-video", {"numInferenceSteps": 0}, ("spec.numInferenceSteps",)),
    ("steps-101", "text-to-video", {"numInferenceSteps": 101}, ("spec.numInferenceSteps",)),
    ("fps-0", "text-to-video", {"fps": 0}, ("spec.fps",)),
    ("fps-61", "text-to-video", {"fps": 61}, ("spec.fps",)),
    # Eight GPUs at most: the runner denoises context-parallel across one pod's GPUs (one node).
    ("gpus-9", "text-to-video", {"gpus": 9}, ("spec.gpus",)),
    ("gpus-negative", "text-to-video", {"gpus": -1}, ("spec.gpus",)),
    ("deadline-59", "text-to-video", {"activeDeadlineSeconds": 59}, ("spec.activeDeadlineSeconds",)),
    ("max-retries-11", "text-to-video", {"maxRetries": 11}, ("spec.maxRetries",)),
    ("priority-1001", "text-to-video", {"priority": 1001}, ("spec.priority",)),
    ("ttl-negative", "text-to-video", {"ttlSecondsAfterFinished": -1}, ("spec.ttlSecondsAfterFinished",)),
    ("ttl-over-a-year", "text-to-video", {"ttlSecondsAfterFinished": 31536001}, ("spec.ttlSecondsAfterFinished",)),
    ("queue-name-uppercase", "text-to-video", {"queueName": "GPU_Queue"}, ("spec.queueName",)),
    ("queue-name-too-long", "text-to-video", {"queueName": "q" * 64}, ("spec.queueName",)),
    (
        "output-prefix-dotdot",
        "text-to-video",
        {"output": {"bucket": "videogen", "prefix": "outputs/../secrets/"}},
        ("spec.output.prefix", "must not contain '..'"),
    ),
    (
        "output-prefix-leading-slash",
        "text-to-video",
        {"output": {"bucket": "videogen", "prefix": "/outputs/"}},
        ("spec.output.prefix", "must not start with '/'"),
    ),
    ("output-bucket-uppercase", "text-to-video", {"output": {"bucket": "VideoGen"}}, ("spec.output.bucket",)),
    ("prompt-too-long", "text-to-video", {"prompt": "x" * 4001}, ("spec.prompt",)),
    ("negative-prompt-too-long", "text-to-video", {"negativePrompt": "x" * 4001}, ("spec.negativePrompt",)),
    ("num-frames-string", "text-to-video", {"numFrames": "64"}, ("spec.numFrames",)),
    ("cancel-string", "text-to-video", {"cancel": "yes"}, ("spec.cancel",)),
]


def test_invalid_table_has_enough_cases() -> None:
    assert len(INVALID_VIDEOJOBS) >= 15
    assert len({case[0] for case in INVALID_VIDEOJOBS}) == len(INVALID_VIDEOJOBS)


@pytest.mark.parametrize(
    ("mode", "changes", "expected"),
    [pytest.param(mode, changes, expected, id=case_id) for case_id, mode, changes, expected in INVALID_VIDEOJOBS],
)
def test_invalid_videojob_is_refused_naming_the_field(kube, mode, changes, expected) -> None:
    result = kube.apply(videojob("invalid", spec_with(mode, **changes)), check=False)
    kube.assert_refused(result, *expected)
    assert kube("get", "videojobs", "-o", "name").stdout.strip() == ""


@pytest.mark.parametrize("mode", sorted(VALID_SPECS))
def test_valid_spec_of_each_mode_is_accepted(kube, mode) -> None:
    kube.apply(videojob("valid", VALID_SPECS[mode]))
    assert kube.get("videojob", "valid")["spec"]["mode"] == mode


def test_boundary_values_are_accepted(kube) -> None:
    kube.apply(
        videojob(
            "low",
            spec_with(
                "video-to-video",
                numFrames=1,
                fps=1,
                width=64,
                height=64,
                seed=0,
                guidanceScale=1,
                numInferenceSteps=1,
                strength=0,
                gpus=0,
                activeDeadlineSeconds=60,
                maxRetries=0,
                priority=-1000,
                ttlSecondsAfterFinished=0,
                prompt="",
            ),
        )
    )
    kube.apply(
        videojob(
            "high",
            spec_with(
                "text-to-video",
                numFrames=128,
                fps=60,
                width=2048,
                height=2048,
                seed=4294967295,
                guidanceScale=20,
                numInferenceSteps=100,
                strength=1,
                gpus=1,
                activeDeadlineSeconds=86400,
                maxRetries=10,
                priority=1000,
                ttlSecondsAfterFinished=31536000,
                prompt="x" * 4000,
                model="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
                queueName="gpu-queue",
                output={"bucket": "my.video-bucket", "prefix": "team-a/outputs/"},
            ),
        )
    )
    high = kube.get("videojob", "high")["spec"]
    assert high["seed"] == 4294967295
    assert high["width"] == 2048


def test_video_to_video_accepts_an_empty_prompt(kube) -> None:
    kube.apply(videojob("v2v", spec_with("video-to-video", prompt=DELETE)))
    assert kube.get("videojob", "v2v")["spec"]["prompt"] == ""


def test_model_can_be_a_videomodel_name_or_a_hugging_face_id(kube) -> None:
    models = ["smoke-wan-t2v", "wan2.1-t2v-1.3b", "Lightricks/LTX-Video", "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"]
    for i, model in enumerate(models):
        kube.apply(videojob(f"model-{i}", spec_with("text-to-video", model=model)))
        assert kube.get("videojob", f"model-{i}")["spec"]["model"] == model


def test_defaults_appear_on_a_minimal_videojob(kube) -> None:
    kube.apply(videojob("minimal", {"mode": "text-to-video", "prompt": "x"}))
    spec = kube.get("videojob", "minimal")["spec"]
    assert spec == {
        "mode": "text-to-video",
        "prompt": "x",
        "negativePrompt": "",
        "numFrames": 64,
        "fps": 24,
        "width": 512,
        "height": 512,
        "seed": -1,
        "guidanceScale": 7.5,
        "numInferenceSteps": 50,
        "strength": 0.8,
        "speed": "quality",
        "gpus": 1,
        "activeDeadlineSeconds": 3600,
        "maxRetries": 2,
        "priority": 0,
        "cancel": False,
    }


def test_name_longer_than_63_characters_is_refused(kube) -> None:
    result = kube.apply(videojob("j" * 64, VALID_SPECS["text-to-video"]), check=False)
    kube.assert_refused(result, "metadata.name must be at most 63 characters")


def test_job_id_style_name_is_accepted(kube) -> None:
    kube.apply(videojob("job-1234567890-abcdef123456", VALID_SPECS["text-to-video"]))


# --- updates ---------------------------------------------------------------------------------------


@pytest.fixture
def existing(kube) -> str:
    """An existing VideoJob with every optional field set."""
    spec = spec_with(
        "image-to-video",
        model="smoke-wan-i2v",
        queueName="gpu-queue",
        output={"bucket": "videogen", "prefix": "outputs/"},
    )
    kube.apply(videojob("existing", spec))
    return "existing"


def test_updating_prompt_is_refused(kube, existing) -> None:
    result = kube.patch("videojob", existing, {"spec": {"prompt": "something else"}}, check=False)
    kube.assert_refused(result, "spec.prompt", "spec.prompt is immutable; create a new VideoJob")
    assert kube.get("videojob", existing)["spec"]["prompt"] == VALID_SPECS["image-to-video"]["prompt"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("negativePrompt", "ugly"),
        ("numFrames", 32),
        ("fps", 8),
        ("width", 256),
        ("height", 256),
        ("seed", 7),
        ("guidanceScale", 3.5),
        ("numInferenceSteps", 10),
        ("strength", 0.5),
        ("gpus", 0),
        ("speed", "fast"),
        ("activeDeadlineSeconds", 600),
        ("maxRetries", 0),
        ("priority", 100),
        ("model", "smoke-wan-t2v"),
        ("queueName", "other-queue"),
    ],
)
def test_updating_any_other_spec_field_is_refused(kube, existing, field, value) -> None:
    result = kube.patch("videojob", existing, {"spec": {field: value}}, check=False)
    kube.assert_refused(result, f"spec.{field} is immutable; create a new VideoJob")


def test_updating_mode_is_refused(kube, existing) -> None:
    result = kube.patch("videojob", existing, {"spec": {"mode": "video-to-video"}}, check=False)
    kube.assert_refused(result, "spec.mode is immutable; create a new VideoJob")


def test_updating_input_is_refused(kube, existing) -> None:
    result = kube.patch(
        "videojob", existing, {"spec": {"input": {"uri": "s3://videogen/inputs/other.png"}}}, check=False
    )
    kube.assert_refused(result, "spec.input is immutable; create a new VideoJob")


def test_updating_output_is_refused(kube, existing) -> None:
    result = kube.patch("videojob", existing, {"spec": {"output": {"prefix": "elsewhere/"}}}, check=False)
    kube.assert_refused(result, "spec.output is immutable; create a new VideoJob")


def test_adding_model_later_is_refused(kube) -> None:
    kube.apply(videojob("no-model", VALID_SPECS["text-to-video"]))
    result = kube.patch("videojob", "no-model", {"spec": {"model": "smoke-wan-t2v"}}, check=False)
    kube.assert_refused(result, "spec.model", "spec.model cannot be added or removed after creation")
    assert "model" not in kube.get("videojob", "no-model")["spec"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("queueName", "gpu-queue"), ("output", {"bucket": "videogen", "prefix": "outputs/"})],
)
def test_adding_optional_field_later_is_refused(kube, field, value) -> None:
    kube.apply(videojob("bare", VALID_SPECS["text-to-video"]))
    result = kube.patch("videojob", "bare", {"spec": {field: value}}, check=False)
    kube.assert_refused(result, f"spec.{field} cannot be added or removed after creation")


@pytest.mark.parametrize("field", ["model", "input", "queueName", "output"])
def test_removing_optional_field_is_refused(kube, existing, field) -> None:
    result = kube.patch("videojob", existing, {"spec": {field: None}}, check=False)
    kube.assert_refused(result, f"spec.{field}")
    assert field in kube.get("videojob", existing)["spec"]


def test_setting_cancel_true_is_allowed_and_back_to_false_is_refused(kube, existing) -> None:
    kube.patch("videojob", existing, {"spec": {"cancel": True}})
    assert kube.get("videojob", existing)["spec"]["cancel"] is True
    # setting it to true again is a no-op, not an error
    kube.patch("videojob", existing, {"spec": {"cancel": True}})
    result = kube.patch("videojob", existing, {"spec": {"cancel": False}}, check=False)
    kube.assert_refused(result, "spec.cancel", "spec.cancel cannot be set back to false")
    assert kube.get("videojob", existing)["spec"]["cancel"] is True


def test_cancel_together_with_another_change_is_refused(kube, existing) -> None:
    result = kube.patch("videojob", existing, {"spec": {"cancel": True, "seed": 5}}, check=False)
    kube.assert_refused(result, "spec.seed is immutable")
    assert kube.get("videojob", existing)["spec"]["cancel"] is False


def test_metadata_can_still_change(kube, existing) -> None:
    kube("label", "videojob", existing, "videogen.dev/team=a")
    kube("annotate", "videojob", existing, "videogen.dev/note=hello")
    meta = kube.get("videojob", existing)["metadata"]
    assert meta["labels"]["videogen.dev/team"] == "a"
    assert meta["annotations"]["videogen.dev/note"] == "hello"


def test_reapplying_the_same_manifest_is_a_no_op(kube) -> None:
    manifest = videojob("same", spec_with("text-to-video", seed=3))
    kube.apply(manifest)
    generation = kube.get("videojob", "same")["metadata"]["generation"]
    kube.apply(manifest)
    assert kube.get("videojob", "same")["metadata"]["generation"] == generation


# --- status ----------------------------------------------------------------------------------------

FULL_STATUS: dict[str, Any] = {
    "state": "processing",
    "reason": "Running",
    "message": "step 21 of 50",
    "observedGeneration": 1,
    "conditions": [
        {
            "type": "Running",
            "status": "True",
            "reason": "PodRunning",
            "message": "pod existing-abcde is running",
            "lastTransitionTime": "2024-01-15T10:30:15Z",
            "observedGeneration": 1,
        },
        {
            "type": "Complete",
            "status": "False",
            "reason": "Generating",
            "message": "",
            "lastTransitionTime": "2024-01-15T10:30:15Z",
        },
    ],
    "progress": {"step": 21, "totalSteps": 50, "percent": 42},
    "used": {
        "model": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
        "revision": "0fad780a534b6463e45facd96134c9f345acfa5b",
        "pipeline": "WanPipeline",
        "numFrames": 65,
        "width": 512,
        "height": 512,
        "fps": 24,
        "seed": 1234567,
        "numInferenceSteps": 50,
        "guidanceScale": 7.5,
        "strength": 0.8,
    },
    "output": {
        "uri": "s3://videogen/outputs/text2video_20240115_103045_abc123.mp4",
        "file": "text2video_20240115_103045_abc123.mp4",
        "path": "./outputs/text2video_20240115_103045_abc123.mp4",
        "posterUri": "s3://videogen/outputs/text2video_20240115_103045_abc123.jpg",
        "metadataUri": "s3://videogen/outputs/text2video_20240115_103045_abc123.json",
    },
    "jobName": "existing",
    "podName": "existing-abcde",
    "attempts": 1,
    "queuedTime": "2024-01-15T10:30:00Z",
    "startTime": "2024-01-15T10:30:05Z",
    "completionTime": "2024-01-15T10:30:45Z",
    "timings": {"queued": 5.0, "modelLoad": 3.25, "inference": 30.5, "encode": 1.5, "upload": 0.2},
    "peakGpuMemoryBytes": 8589934592,
}


def test_status_can_be_written_via_the_status_subresource(kube, existing) -> None:
    kube.patch("videojob", existing, {"status": FULL_STATUS}, subresource="status")
    obj = kube.get("videojob", existing)
    assert obj["status"] == FULL_STATUS
    assert obj["metadata"]["generation"] == 1  # a status write is not a spec change


def test_status_written_with_the_main_resource_is_ignored(kube, existing) -> None:
    kube.patch("videojob", existing, {"status": {"state": "completed"}})
    assert kube.get("videojob", existing).get("status", {}).get("state") != "completed"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"state": "running"}, "status.state"),
        ({"progress": {"percent": 101}}, "status.progress.percent"),
        (
            {
                "conditions": [
                    {
                        "type": "Running",
                        "status": "Yes",
                        "reason": "X",
                        "message": "",
                        "lastTransitionTime": "2024-01-15T10:30:15Z",
                    }
                ]
            },
            "status.conditions[0].status",
        ),
        (
            {
                "conditions": [
                    {"type": "Running", "status": "True", "message": "", "lastTransitionTime": "2024-01-15T10:30:15Z"}
                ]
            },
            "status.conditions[0].reason",
        ),
    ],
    ids=["unknown-state", "percent-101", "condition-status-yes", "condition-without-reason"],
)
def test_invalid_status_is_refused(kube, existing, status, expected) -> None:
    result = kube.patch("videojob", existing, {"status": status}, subresource="status", check=False)
    kube.assert_refused(result, expected)


def test_duplicate_condition_types_are_refused(kube, existing) -> None:
    cond = {
        "type": "Running",
        "status": "True",
        "reason": "PodRunning",
        "message": "",
        "lastTransitionTime": "2024-01-15T10:30:15Z",
    }
    result = kube.patch(
        "videojob", existing, {"status": {"conditions": [cond, cond]}}, subresource="status", check=False
    )
    kube.assert_refused(result, "status.conditions[1]", "Duplicate value")


def test_status_writes_are_allowed_after_cancel(kube, existing) -> None:
    kube.patch("videojob", existing, {"spec": {"cancel": True}})
    kube.patch("videojob", existing, {"status": {"state": "cancelled", "reason": "Cancelled"}}, subresource="status")
    assert kube.get("videojob", existing)["status"]["state"] == "cancelled"


def test_kubectl_get_shows_the_printer_columns(kube, existing) -> None:
    kube.patch(
        "videojob", existing, {"status": {"state": "processing", "progress": {"percent": 42}}}, subresource="status"
    )
    out = kube("get", "vj").stdout
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "MODE", "MODEL", "STATUS", "PROGRESS", "AGE"]
    assert row.split()[:5] == ["existing", "image-to-video", "smoke-wan-i2v", "processing", "42"]
    wide = kube("get", "vj", "-o", "wide").stdout.splitlines()[0].split()
    assert {"REASON", "OUTPUT"} <= set(wide)


def test_videojobs_are_listed_in_the_videogen_category(kube, existing) -> None:
    out = kube("get", "videogen", "-o", "name").stdout.split()
    assert f"videojob.videogen.dev/{existing}" in out


# --- kubectl explain -------------------------------------------------------------------------------


def test_kubectl_explain_prints_the_field_docs_of_the_types(kube) -> None:
    frames = kube("explain", "videojob.spec.numFrames").stdout
    doc = VideoJobSpec.model_fields["num_frames"].description
    assert doc and " ".join(doc.split()) in " ".join(frames.split())
    reasons = " ".join(kube("explain", "videojob.status.reason").stdout.split())
    for reason in Reason:
        assert f"- {reason.value}: {reason.doc}" in reasons
