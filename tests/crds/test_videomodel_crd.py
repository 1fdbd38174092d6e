"""VideoModel CRD (crds/videomodel.yaml) against a real API server."""

from __future__ import annotations

from typing import Any

import pytest

API_VERSION = "videogen.dev/v1alpha1"


def videomodel(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "VideoModel", "metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize(
    "repo_id",
    [
        "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
        "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
        "Lightricks/LTX-Video",
        "a/b",
        "user_1/model_",
        "videogen-smoke/tiny-wan-t2v",
        "n" * 96 + "/" + "m" * 96,
    ],
)
def test_hugging_face_repo_id_is_accepted(kube, repo_id) -> None:
    kube.apply(videomodel("model", {"repoId": repo_id}))
    assert kube.get("videomodel", "model")["spec"]["repoId"] == repo_id


@pytest.mark.parametrize(
    ("repo_id", "expected"),
    [
        pytest.param("https://huggingface.co/Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "spec.repoId", id="url"),
        pytest.param("hf://Lightricks/LTX-Video", "spec.repoId", id="hf-scheme"),
        pytest.param("/models/Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "spec.repoId", id="absolute-path"),
        pytest.param("./models/wan", "spec.repoId", id="relative-path"),
        pytest.param("../wan/model", "spec.repoId", id="parent-path"),
        pytest.param("a/b/c", "spec.repoId", id="three-parts"),
        pytest.param("", "spec.repoId", id="empty"),
        pytest.param("LTX-Video", "spec.repoId", id="no-namespace"),
        pytest.param("Lightricks/", "spec.repoId", id="empty-name"),
        pytest.param("/LTX-Video", "spec.repoId", id="empty-namespace"),
        pytest.param("Light ricks/LTX-Video", "spec.repoId", id="space"),
        pytest.param("-Lightricks/LTX-Video", "spec.repoId", id="leading-dash"),
        pytest.param("Lightricks/LTX-Video-", "spec.repoId", id="trailing-dash"),
        pytest.param("Lightricks/LTX-Video.", "spec.repoId", id="trailing-dot"),
        pytest.param("Lightricks/LTX--Video", "'--' or '..'", id="double-dash"),
        pytest.param("Lightricks/LTX..Video", "'--' or '..'", id="double-dot"),
        pytest.param("Lightricks/LTX-Video.git", "must not end with '.git'", id="git-suffix"),
        pytest.param("n" * 97 + "/model", "spec.repoId", id="namespace-too-long"),
        pytest.param("Lightricks/LTX-Video@main", "spec.repoId", id="revision-suffix"),
    ],
)
def test_invalid_repo_id_is_refused(kube, repo_id, expected) -> None:
    result = kube.apply(videomodel("bad", {"repoId": repo_id}), check=False)
    kube.assert_refused(result, "spec.repoId", expected)


def test_missing_repo_id_is_refused(kube) -> None:
    result = kube.apply(videomodel("bad", {"family": "wan"}), check=False)
    kube.assert_refused(result, "spec.repoId", "Required value")


def test_unknown_family_is_refused(kube) -> None:
    result = kube.apply(videomodel("bad", {"repoId": "Lightricks/LTX-Video", "family": "hunyuan"}), check=False)
    kube.assert_refused(result, "spec.family", "Unsupported value")


def test_unknown_spec_field_is_refused(kube) -> None:
    result = kube.apply(videomodel("bad", {"repoId": "Lightricks/LTX-Video", "preload": True}), check=False)
    kube.assert_refused(result, 'unknown field "spec.preload"')


@pytest.mark.parametrize("revision", ["", "../main", "main branch"])
def test_invalid_revision_is_refused(kube, revision) -> None:
    result = kube.apply(videomodel("bad", {"repoId": "Lightricks/LTX-Video", "revision": revision}), check=False)
    kube.assert_refused(result, "spec.revision")


def test_name_longer_than_63_characters_is_refused(kube) -> None:
    result = kube.apply(videomodel("m" * 64, {"repoId": "Lightricks/LTX-Video"}), check=False)
    kube.assert_refused(result, "metadata.name must be at most 63 characters")


def test_revision_defaults_to_main(kube) -> None:
    kube.apply(videomodel("ltx", {"repoId": "Lightricks/LTX-Video"}))
    assert kube.get("videomodel", "ltx")["spec"] == {"repoId": "Lightricks/LTX-Video", "revision": "main"}


def test_revision_may_be_a_commit_tag_or_pr_ref(kube) -> None:
    for i, revision in enumerate(["0fad780a534b6463e45facd96134c9f345acfa5b", "v0.9.5", "refs/pr/12"]):
        kube.apply(videomodel(f"ltx-{i}", {"repoId": "Lightricks/LTX-Video", "revision": revision}))


@pytest.fixture
def existing(kube) -> str:
    kube.apply(videomodel("wan", {"repoId": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "family": "wan"}))
    return "wan"


@pytest.mark.parametrize(
    ("field", "value"),
    [("repoId", "Wan-AI/Wan2.1-T2V-14B-Diffusers"), ("revision", "v2"), ("family", "ltx")],
)
def test_updating_videomodel_spec_is_refused(kube, existing, field, value) -> None:
    result = kube.patch("videomodel", existing, {"spec": {field: value}}, check=False)
    kube.assert_refused(result, f"spec.{field} is immutable; create a new VideoModel")


def test_overrides_are_bounded_and_immutable(kube) -> None:
    overrides = {"nativeFps": 24, "negativePrompt": "", "flowShift": [{"minPixels": 0, "shift": 3.0}], "maxFrames": 81}
    kube.apply(videomodel("tuned", {"repoId": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "overrides": overrides}))
    assert kube.get("videomodel", "tuned")["spec"]["overrides"] == overrides
    for bad, message in [
        ({"maxPixels": 2048 * 2048 + 1}, "spec.overrides.maxPixels"),
        ({"flowShift": [{"minPixels": 0, "shift": 3.0}, {"minPixels": 0, "shift": 5.0}]}, "Duplicate value"),
    ]:
        result = kube.apply(videomodel("bad", {"repoId": "a/b", "overrides": bad}), check=False)
        kube.assert_refused(result, message)
    changed = kube.patch("videomodel", "tuned", {"spec": {"overrides": {"nativeFps": 16}}}, check=False)
    kube.assert_refused(changed, "spec.overrides is immutable; create a new VideoModel")


def test_adding_or_removing_family_is_refused(kube, existing) -> None:
    result = kube.patch("videomodel", existing, {"spec": {"family": None}}, check=False)
    kube.assert_refused(result, "spec.family cannot be added or removed")
    kube.apply(videomodel("ltx", {"repoId": "Lightricks/LTX-Video"}))
    result = kube.patch("videomodel", "ltx", {"spec": {"family": "ltx"}}, check=False)
    kube.assert_refused(result, "spec.family cannot be added or removed")


STATUS: dict[str, Any] = {
    "state": "Ready",
    "message": "downloaded 12 files",
    "observedGeneration": 1,
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Downloaded",
            "message": "model is in the cache",
            "lastTransitionTime": "2024-01-15T10:30:15Z",
            "observedGeneration": 1,
        }
    ],
    "family": "wan",
    "resolvedRevision": "0fad780a534b6463e45facd96134c9f345acfa5b",
    "sizeBytes": 28900000000,
    "fileCount": 12,
    "path": "models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers/snapshots/0fad780a534b6463e45facd96134c9f345acfa5b",
    "pipelineClass": "WanPipeline",
    "modes": ["text-to-video", "video-to-video"],
}


def test_status_can_be_written_via_the_status_subresource(kube, existing) -> None:
    kube.patch("videomodel", existing, {"status": STATUS}, subresource="status")
    assert kube.get("videomodel", existing)["status"] == STATUS


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"state": "ready"}, "status.state"),
        ({"modes": ["text-to-image"]}, "status.modes[0]"),
        ({"modes": ["text-to-video", "text-to-video"]}, "status.modes[1]"),
        ({"sizeBytes": -1}, "status.sizeBytes"),
    ],
    ids=["lowercase-state", "unknown-mode", "duplicate-mode", "negative-size"],
)
def test_invalid_videomodel_status_is_refused(kube, existing, status, expected) -> None:
    result = kube.patch("videomodel", existing, {"status": status}, subresource="status", check=False)
    kube.assert_refused(result, expected)


def test_kubectl_get_shows_the_printer_columns(kube, existing) -> None:
    kube.patch("videomodel", existing, {"status": STATUS}, subresource="status")
    header, row = kube("get", "vmod").stdout.splitlines()[:2]
    assert header.split() == ["NAME", "REPO", "REVISION", "FAMILY", "STATUS", "SIZE", "AGE"]
    assert row.split()[:6] == ["wan", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "main", "wan", "Ready", "28900000000"]


def test_videomodels_are_listed_in_the_videogen_category(kube, existing) -> None:
    assert f"videomodel.videogen.dev/{existing}" in kube("get", "videogen", "-o", "name").stdout.split()
