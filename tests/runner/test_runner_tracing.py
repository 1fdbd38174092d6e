"""The runner's spans reach an OTLP/HTTP endpoint: a ``run`` span continuing the operator's TRACEPARENT, with a child
span per phase named as the phases in ``timings``."""

from __future__ import annotations

from pathlib import Path

from tests.otlp_receiver import OtlpReceiver, otlp_receiver
from tests.runner.test_runner_end_to_end import make_job, progress_bucket, run_subprocess, s3_env, smoke_models
from videogen_common.runner_contract import ExitCode
from videogen_common.tracing import TRACEPARENT_ENV
from videogen_dev.smoke_weights import WAN_T2V

__all__ = ["otlp_receiver", "progress_bucket", "smoke_models"]  # fixtures, used by name

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


def test_a_run_exports_its_span_and_one_per_phase_in_the_operators_trace(
    s3, progress_bucket: str, smoke_models: dict[str, Path], tmp_path: Path, otlp_receiver: OtlpReceiver
) -> None:
    job = make_job(
        s3, progress_bucket, smoke_models[WAN_T2V], mode="text-to-video", numFrames=9, width=64, height=64,
        numInferenceSteps=2, seed=0,
    )  # fmt: skip
    env = s3_env(s3) | {TRACEPARENT_ENV: TRACEPARENT, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint}

    outcome = run_subprocess(job, env, tmp_path)

    assert outcome.exit_code == ExitCode.SUCCEEDED, outcome.log
    # Exported before the process ended (no waiting: the runner flushes on its way out).
    spans = otlp_receiver.received()
    (run,) = [s for s in spans if s.name == "run"]
    assert (run.trace_id, run.parent_span_id) == (TRACE_ID, PARENT_SPAN_ID)
    assert run.service == "videogen-runner"
    assert run.attributes["videogen.videojob"] == job.doc.videojob.name
    assert run.attributes["videogen.exit_code"] == 0
    phases = {s.name: s for s in spans if s.parent_span_id == run.span_id}
    # One name per phase: the spans are the phases the result's timings report.
    assert set(phases) == set(outcome.result["timings"]) - {"total"}, (sorted(phases), outcome.result["timings"])
    assert {"import", "load", "encode-prompt", "denoise", "decode", "encode-video", "upload"} <= set(phases)
    assert all(s.trace_id == TRACE_ID for s in spans)


def test_a_failed_run_exports_its_span_with_an_error_status(
    s3, progress_bucket: str, tmp_path: Path, otlp_receiver: OtlpReceiver
) -> None:
    # A model folder that is not there: the run fails fast, before any weight.
    job = make_job(s3, progress_bucket, tmp_path / "no-such-model", mode="text-to-video", numFrames=9)
    env = s3_env(s3) | {TRACEPARENT_ENV: TRACEPARENT, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint}

    outcome = run_subprocess(job, env, tmp_path)

    assert outcome.exit_code == ExitCode.INVALID_INPUT, outcome.log
    (run,) = [s for s in otlp_receiver.received() if s.name == "run"]
    assert run.trace_id == TRACE_ID
    assert run.status == "STATUS_CODE_ERROR"
    assert run.attributes["videogen.exit_code"] == int(ExitCode.INVALID_INPUT)
