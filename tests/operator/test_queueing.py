"""Admission under the cap: priority first, then creation order."""

from tests.operator.factories import videomodel
from videogen_operator.model_resolution import ModelUnavailable, ResolvedModel, resolve_model
from videogen_operator.queueing import QueueEntry, admitted, queue_position
from videogen_operator.settings import OperatorSettings


def entry(name: str, created: str, priority: int = 0) -> QueueEntry:
    return QueueEntry(uid=name, namespace="ns", name=name, priority=priority, created=created)


WAITING = [
    entry("c", "2024-01-15T10:00:03Z"),
    entry("a", "2024-01-15T10:00:01Z"),
    entry("b", "2024-01-15T10:00:02Z"),
]


def test_first_in_first_out_up_to_the_free_places() -> None:
    assert [e.name for e in admitted(WAITING, running=1, cap=3)] == ["a", "b"]


def test_nothing_is_admitted_when_the_cap_is_reached() -> None:
    assert admitted(WAITING, running=3, cap=3) == []
    assert admitted(WAITING, running=5, cap=3) == []


def test_higher_priority_goes_first() -> None:
    urgent = [*WAITING, entry("z", "2024-01-15T10:00:09Z", priority=10)]
    assert [e.name for e in admitted(urgent, running=0, cap=2)] == ["z", "a"]


def test_no_cap_admits_everyone() -> None:
    assert len(admitted(WAITING, running=100, cap=None)) == 3


def test_queue_position_counts_from_one() -> None:
    assert queue_position(WAITING, "c") == 3
    assert queue_position(WAITING, "missing") is None


def test_videomodel_name_resolves_to_its_ready_snapshot() -> None:
    models = [videomodel("wan", "Wan-AI/Wan", "Ready", path="/models/hub/x/snapshots/abc", resolvedRevision="abc")]
    resolved = resolve_model({"mode": "text-to-video", "model": "wan"}, models, OperatorSettings())
    assert resolved == ResolvedModel("Wan-AI/Wan", "/models/hub/x/snapshots/abc", "abc")


def test_repo_id_resolves_through_a_videomodel_that_downloads_it() -> None:
    models = [videomodel("wan", "Wan-AI/Wan", "Ready", path="/p", resolvedRevision="abc")]
    resolved = resolve_model({"mode": "text-to-video", "model": "Wan-AI/Wan"}, models, OperatorSettings())
    assert isinstance(resolved, ResolvedModel) and resolved.path == "/p"


def test_a_model_that_is_not_ready_waits_or_fails_per_setting() -> None:
    models = [videomodel("wan", "Wan-AI/Wan", "Downloading")]
    spec = {"mode": "text-to-video", "model": "wan"}
    waiting = resolve_model(spec, models, OperatorSettings())
    assert waiting == ModelUnavailable("WaitingForModel", "waiting for VideoModel wan to finish downloading", False)
    failing = resolve_model(spec, models, OperatorSettings(missing_model_policy="fail"))
    assert isinstance(failing, ModelUnavailable) and failing.permanent


def test_a_failed_download_fails_the_videojob() -> None:
    models = [videomodel("wan", "Wan-AI/Wan", "Failed", message="401 gated")]
    resolved = resolve_model({"mode": "text-to-video", "model": "wan"}, models, OperatorSettings())
    assert isinstance(resolved, ModelUnavailable) and resolved.permanent and "401 gated" in resolved.message


def test_a_model_that_cannot_run_the_mode_fails_the_videojob() -> None:
    models = [videomodel("wan-i2v", "Wan-AI/I2V", "Ready", path="/p", modes=["image-to-video"])]
    resolved = resolve_model({"mode": "text-to-video", "model": "wan-i2v"}, models, OperatorSettings())
    assert isinstance(resolved, ModelUnavailable) and resolved.reason == "ModeNotSupported"


def test_empty_model_uses_the_default_for_the_mode() -> None:
    models = [videomodel("wan", "Wan-AI/Wan", "Ready", path="/p")]
    settings = OperatorSettings(default_models={"text-to-video": "wan"})
    assert isinstance(resolve_model({"mode": "text-to-video"}, models, settings), ResolvedModel)
    missing = resolve_model({"mode": "image-to-video"}, models, settings)
    assert isinstance(missing, ModelUnavailable) and missing.reason == "NoModel"
