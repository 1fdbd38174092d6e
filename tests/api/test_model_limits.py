"""A request over its model's checkpoint limits is a 400 at submit naming the field and the limit (the runner's own
check, videogen_common.families), not a runner exit 10 after the job was queued and its pod started."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Operator, ServeApi
from tests.api.test_errors import T2V, error_of
from videogen_common.resources.meta import GROUP, VERSION

SMOKE_WAN = "videogen-smoke/tiny-wan-t2v"


def _create_videomodel(operator: Operator, name: str, spec: dict[str, Any]) -> None:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VideoModel", "metadata": {"name": name}, "spec": spec}
    operator.objects.create_namespaced_custom_object(GROUP, VERSION, operator.namespace, "videomodels", body)


def _create_undownloaded(operator: Operator, name: str, repo_id: str, family: str) -> None:
    """A VideoModel as examples/videomodel-smoke.yaml declares it (spec.family), before its download ran."""
    _create_videomodel(operator, name, {"repoId": repo_id, "family": family})


def test_over_the_checkpoints_limits_is_a_400_naming_the_field_and_the_limit(
    serve_api: ServeApi, operator: Operator
) -> None:
    api = serve_api(auto_download=True, max_concurrent_jobs=10)
    # The smoke Wan model as the operator leaves it once downloaded: its family and model_index.json class known.
    operator.create_model(
        "smoke-wan-t2v",
        SMOKE_WAN,
        family="wan",
        pipelineClass="WanPipeline",
        modes=["text-to-video", "video-to-video"],
    )
    # Declared with spec.family only and still waiting for its download: the family's limits apply already.
    _create_undownloaded(operator, "smoke-ltx", "videogen-smoke/tiny-ltx", "ltx")

    def post(model: str, **fields: Any) -> Any:
        return api.http.post(T2V, json={"prompt": "x", "model": model, **fields})

    too_wide = error_of(post("smoke-wan-t2v", width=1920, height=1080), 400)
    assert "width x height 1920x1088" in too_wide and "at most 921600" in too_wide, too_wide
    # 128 frames at 12 fps last 10.7 s: 173 frames on the 4k+1 grid at Wan's 16 fps, over the 129 it makes.
    too_long = error_of(post(SMOKE_WAN, num_frames=128, fps=12), 400)
    assert "num_frames 128 at fps 12" in too_long and "173 frames" in too_long, too_long
    assert "at most 129 frames" in too_long, too_long
    ltx_too_big = error_of(post("smoke-ltx", width=2048, height=2048), 400)
    assert "ltx-video" in ltx_too_big and "at most 921600" in ltx_too_big, ltx_too_big
    assert operator.videojobs() == []

    # At the limits (Wan's 720p, 129 generated frames: 120 frames at 15 fps are 8 s), and a model whose family is
    # unknown here (the runner decides), the jobs are accepted.
    for model, fields in [
        ("smoke-wan-t2v", {"width": 1280, "height": 720}),
        (SMOKE_WAN, {"num_frames": 120, "fps": 15}),
        ("smoke-ltx", {"width": 1280, "height": 704, "num_frames": 128}),
        ("videogen-smoke/unknown-family", {"width": 2048, "height": 2048}),
    ]:
        response = post(model, **fields)
        assert response.status_code == 202, (model, response.text)
    assert len(operator.videojobs()) == 4


def _create_ready_with_overrides(operator: Operator, name: str, overrides: dict[str, Any]) -> None:
    """The smoke Wan model as the operator leaves it once downloaded, declared with ``spec.overrides``."""
    _create_videomodel(operator, name, {"repoId": SMOKE_WAN, "overrides": overrides})
    status = {"state": "Ready", "path": f"/models/{name}", "family": "wan", "pipelineClass": "WanPipeline"}
    operator.objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, operator.namespace, "videomodels", name, {"status": status},
        _content_type="application/merge-patch+json",
    )  # fmt: skip


def test_a_videomodels_overridden_limits_are_the_ones_the_api_refuses_by(
    serve_api: ServeApi, operator: Operator
) -> None:
    api = serve_api(auto_download=True, max_concurrent_jobs=10)
    _create_ready_with_overrides(operator, "smoke-wan-small", {"maxPixels": 832 * 480})
    _create_ready_with_overrides(operator, "smoke-wan-hd", {"maxPixels": 1920 * 1088, "maxFrames": 257})

    def post(model: str, **fields: Any) -> Any:
        return api.http.post(T2V, json={"prompt": "x", "model": model, **fields})

    lowered = error_of(post("smoke-wan-small", width=1280, height=720), 400)
    assert "at most 399360 (the VideoModel's spec.overrides.maxPixels)" in lowered, lowered
    # Over the table's 1280x720 and 129 frames, within what the VideoModel raised them to.
    for fields in [{"width": 1920, "height": 1080}, {"num_frames": 128, "fps": 8}]:
        response = post("smoke-wan-hd", **fields)
        assert response.status_code == 202, (fields, response.text)
    assert len(operator.videojobs()) == 2
