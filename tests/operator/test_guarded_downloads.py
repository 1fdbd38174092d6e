"""VideoModel downloads through a running operator: the allow-list holds kubectl-made VideoModels too."""

from __future__ import annotations

from typing import Any

from tests.operator.conftest import Namespace
from tests.operator.test_job_ownership_and_queues import model_status, videomodel
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
