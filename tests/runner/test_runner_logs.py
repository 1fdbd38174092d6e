"""The runner's log: JSON lines naming the job, its VideoJob and the request id the operator passed in its env."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runner.test_runner_end_to_end import make_job, progress_bucket, run_subprocess, s3_env, smoke_models
from videogen_common.logs import REQUEST_ID_ENV
from videogen_common.runner_contract import ExitCode
from videogen_dev.smoke_weights import LTX

__all__ = ["progress_bucket", "smoke_models"]  # the fixtures, used by name


def test_every_runner_line_is_json_with_the_job_and_the_request_id(s3, progress_bucket: str, tmp_path: Path) -> None:
    # A model folder that is not there: the run fails fast (before any weight), after naming its job.
    job = make_job(
        s3, progress_bucket, tmp_path / "no-such-model", mode="text-to-video", numFrames=9, width=64, height=64
    )
    outcome = run_subprocess(job, s3_env(s3) | {REQUEST_ID_ENV: "req-runner-1"}, tmp_path)

    assert outcome.exit_code == ExitCode.INVALID_INPUT, outcome.log
    lines = [json.loads(line) for line in outcome.log.splitlines()]
    assert lines, "the runner logged nothing"
    for line in lines:
        assert line["request_id"] == "req-runner-1", line
        assert line["videojob"] == job.doc.videojob.name and line["namespace"] == job.doc.videojob.namespace
        assert line["job_id"] == job.doc.videojob.name.replace("-", "_")
    assert any(line["level"] == "WARNING" and "InvalidInput" in line["message"] for line in lines), lines


def test_a_whole_generation_logs_only_json_lines_libraries_warnings_too(
    s3, progress_bucket: str, smoke_models: dict[str, Path], tmp_path: Path
) -> None:
    # torch gives its own logger a handler of its own; torchao (imported by transformers when installed) warns
    # through it while the pipeline's modules import. Those lines must come out as JSON like the runner's own.
    job = make_job(
        s3, progress_bucket, smoke_models[LTX], mode="text-to-video", numFrames=9, width=64, height=64,
        numInferenceSteps=1,
    )  # fmt: skip
    outcome = run_subprocess(job, s3_env(s3), tmp_path)

    assert outcome.exit_code == ExitCode.SUCCEEDED, outcome.log
    not_json = [line for line in outcome.log.splitlines() if line.strip() and not line.startswith("{")]
    assert not not_json, not_json[:5]
    loggers = {json.loads(line)["logger"] for line in outcome.log.splitlines()}
    assert "videogen_runner.run" in loggers, loggers
