"""The operator's model policy comes from its settings: defaults per mode, the allow-list (comma-separated, as the
API reads its own, so the chart passes both one value) and what a missing model means."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.operator.factories import videomodel
from videogen_common.model_choice import ModelUnavailable, allowlist_problem, resolve_model
from videogen_common.resources.videojob import Mode
from videogen_common.resources.videojob_status import Reason
from videogen_common.resources.videomodel import ModelState, VideoModelStatus
from videogen_operator.settings import OperatorSettings

WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"


def test_the_policy_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOGEN_OPERATOR_MODEL_ALLOWLIST", f" {WAN}, Lightricks/LTX-Video ,")
    monkeypatch.setenv("VIDEOGEN_OPERATOR_DEFAULT_MODELS", '{"text-to-video": "wan"}')
    monkeypatch.setenv("VIDEOGEN_OPERATOR_MISSING_MODEL_POLICY", "fail")
    policy = OperatorSettings().model_policy()
    assert policy.allowlist == (WAN, "Lightricks/LTX-Video")
    assert policy.default_models == {Mode.TEXT_TO_VIDEO: "wan"}
    assert policy.missing_model_policy == "fail"


def test_by_default_any_model_may_run_and_an_empty_list_allows_none() -> None:
    # The setting's default is "*"; the chart passes its preloaded models instead, or nothing (then nothing runs).
    assert OperatorSettings().model_policy().allowlist == ("*",)
    assert allowlist_problem("someone/anything", OperatorSettings().model_policy()) is None
    none = OperatorSettings.model_validate({"model_allowlist": ""}).model_policy()
    assert allowlist_problem("someone/anything", none) == (
        "model someone/anything is not allowed here: the model allow-list is empty, so no model may be used"
    )


def test_a_default_model_for_a_mode_that_does_not_exist_fails_at_start() -> None:
    with pytest.raises(ValidationError, match="default_models"):
        OperatorSettings.model_validate({"default_models": {"text-to-picture": "wan"}})


def test_a_ready_model_outside_the_allow_list_is_refused_for_good() -> None:
    ready = VideoModelStatus(state=ModelState.READY, path="/models/wan", modes=[Mode.TEXT_TO_VIDEO])
    models = [videomodel("wan", WAN, ready)]
    policy = OperatorSettings(model_allowlist=["Lightricks/LTX-Video"]).model_policy()
    for reference in ("wan", WAN):
        refused = resolve_model(Mode.TEXT_TO_VIDEO, reference, models, policy)
        assert isinstance(refused, ModelUnavailable)
        assert (refused.reason, refused.permanent) == (Reason.MODEL_NOT_ALLOWED, True)
        assert refused.message == f"model {WAN} is not allowed here; use one of: Lightricks/LTX-Video"
