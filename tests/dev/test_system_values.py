"""`make up`'s chart values: in container mode the chart's own non-root users (local-values' root is only for pods
run as processes of the venv) and the API's and operator's pods annotated with the image they run, so an image
rebuilt from changed code rolls them; ports from the local environment's settings."""

from __future__ import annotations

import yaml

from videogen_dev import system
from videogen_dev.release import CHART
from videogen_dev.settings import DevSettings

CHART_VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
IMAGE_IDS = {"api": "sha256:aaa", "operator": "sha256:ooo", "runner": "sha256:rrr"}


def test_container_mode_runs_the_charts_non_root_users_and_rolls_pods_when_their_image_changes() -> None:
    settings = DevSettings(node_containers=True, api_port=28080, operator_health_port=28081)
    values = system.chart_values(settings, IMAGE_IDS)
    chart_pod = CHART_VALUES["podSecurityContext"]
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        assert values["podSecurityContext"][key] == chart_pod[key] != 0
    assert values["runner"]["runAsUser"] == CHART_VALUES["runner"]["runAsUser"]
    assert values["api"]["podAnnotations"] == {system.IMAGE_ID_ANNOTATION: "sha256:aaa"}
    assert values["operator"]["podAnnotations"] == {system.IMAGE_ID_ANNOTATION: "sha256:ooo"}
    assert (values["api"]["port"], values["operator"]["healthPort"]) == (28080, 28081)
    assert system.api_url(settings) == "http://127.0.0.1:28080"


def test_process_mode_keeps_local_values_root_for_the_venvs_processes() -> None:
    values = system.chart_values(DevSettings(node_containers=False), {})
    assert [values["podSecurityContext"][k] for k in ("runAsUser", "runAsGroup", "fsGroup")] == [None, None, None]
    assert values["runner"]["runAsUser"] is None
    assert "podAnnotations" not in values["api"] and "podAnnotations" not in values["operator"]
