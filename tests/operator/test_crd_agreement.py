"""What the operator reads from a spec and writes into a status exists in the CRDs (the single source of truth)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.operator.factories import condition, job, pod, videojob
from videogen_common.runner_contract import OutputLocation
from videogen_dev.settings import REPO_ROOT
from videogen_operator.download_job import STATUS_FIELDS, model_status
from videogen_operator.videojob_status import REASONS, conditions_for, next_status, summarize


def schema(crd: str) -> dict[str, Any]:
    doc = yaml.safe_load((REPO_ROOT / "crds" / crd).read_text())
    properties: dict[str, Any] = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    return properties


def test_every_videojob_status_field_written_is_in_the_crd() -> None:
    status_schema = schema("videojob.yaml")["status"]["properties"]
    processing = summarize(videojob(), job(active=1), [pod("cat-a", "Running")], None, OUTPUT)
    completed = summarize(videojob(), job(conditions=[condition("Complete")]), [], None, OUTPUT)
    for summary in (processing, completed):
        status = next_status({}, summary, 1, "2024-01-15T10:31:00Z")
        assert set(status) <= set(status_schema), set(status) - set(status_schema)
        assert set(status.get("output", {})) <= set(status_schema["output"]["properties"])
        assert status["state"] in status_schema["state"]["enum"]


def test_condition_reasons_match_the_crd_pattern() -> None:
    pattern = re.compile(
        schema("videojob.yaml")["status"]["properties"]["conditions"]["items"]["properties"]["reason"]["pattern"]
    )
    for state, reasons in REASONS.items():
        for reason in reasons:
            for _, (_, cond_reason, _) in conditions_for({"state": state, "reason": reason, "jobName": "x"}).items():
                assert pattern.fullmatch(cond_reason), cond_reason


def test_every_videomodel_status_field_written_is_in_the_crd() -> None:
    status_schema = schema("videomodel.yaml")["status"]["properties"]
    assert set(STATUS_FIELDS) <= set(status_schema)
    status = model_status({}, {"state": "Ready", "message": ""}, 1, "t")
    assert set(status) <= set(status_schema)


def test_spec_fields_the_operator_reads_are_in_the_crd() -> None:
    spec_schema = schema("videojob.yaml")["spec"]["properties"]
    read = {"mode", "model", "gpus", "maxRetries", "activeDeadlineSeconds", "priority", "queueName", "cancel", "output"}
    assert read <= set(spec_schema)
    scheduling = spec_schema["scheduling"]["properties"]
    assert set(scheduling) == {"priorityClassName", "runtimeClassName", "nodeSelector", "tolerations"}
    assert {"repoId", "revision", "family"} <= set(schema("videomodel.yaml")["spec"]["properties"])


OUTPUT = OutputLocation.for_video("videogen", "outputs", "text2video_20240115_103045_abc123.mp4")
