"""A stand-in for ``videogen-runner run`` that honours the runner contract in well under a second of work.

What it does is steered by words in the prompt, so a test says what should happen in the VideoJob itself:

- ``exit=N``: fail with exit code N (10 invalid input, 11 out of memory, 12 transient...) after the steps;
- ``steps=N`` (default spec.numInferenceSteps) and ``step_seconds=S`` (default 0.05): the denoising loop;
- ``upload_early``: upload the outputs before the loop and do not roll them back on SIGTERM (so the operator's
  own clean-up on cancel is what removes them).

Like the real runner it writes a ProgressReport per step, uploads video, poster and then metadata (and its copy at
the job record's key), writes a RunResult termination message, and on SIGTERM rolls back its uploads and exits 143.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from videogen_common.resources.videojob import Mode
from videogen_common.resources.videojob_status import Reason, UsedParameters
from videogen_common.runner_contract import (
    INPUT_ENV,
    ExitCode,
    ProgressReport,
    ResultMetadata,
    RunnerInput,
    RunResult,
)
from videogen_common.s3 import S3Settings, make_client
from videogen_common.termination import TERMINATION_LOG, TERMINATION_LOG_ENV


def option(prompt: str, name: str, default: str | None = None) -> str | None:
    found = re.search(rf"\b{name}=(\S+)", prompt)
    return found.group(1) if found else default


def main() -> None:
    job = RunnerInput.model_validate_json(os.environ[INPUT_ENV])
    s3 = make_client(S3Settings())
    prompt = job.spec.prompt
    exit_code = int(option(prompt, "exit", "0") or 0)
    steps = int(option(prompt, "steps", str(job.spec.num_inference_steps)) or 1)
    step_seconds = float(option(prompt, "step_seconds", "0.05") or 0)
    early = "upload_early" in prompt
    out = job.output
    uploaded: list[str] = []
    termination = Path(os.environ.get(TERMINATION_LOG_ENV, TERMINATION_LOG))

    def finish(result: RunResult) -> None:
        termination.write_text(result.to_termination_message())
        sys.exit(result.exit_code)

    def on_term(signum: int, frame: FrameType | None) -> None:
        if not early:
            for key in uploaded:
                s3.delete_object(Bucket=out.bucket, Key=key)
        finish(RunResult(exit_code=ExitCode.TERMINATED, reason=Reason.TERMINATED, message="terminated by SIGTERM"))

    signal.signal(signal.SIGTERM, on_term)

    def report(phase: Any, step: int, message: str = "") -> None:
        if job.progress is None:
            return
        doc = ProgressReport(
            videojob_uid=job.videojob.uid,
            phase=phase,
            step=step,
            total_steps=steps,
            percent=100.0 * step / steps,
            updated_at=datetime.now(UTC),
            message=message,
        )
        s3.put_object(Bucket=job.progress.bucket, Key=job.progress.key, Body=doc.to_json().encode())

    used = UsedParameters(
        model=job.model.repo_id,
        revision=job.model.revision,
        pipeline="StandInPipeline",
        num_frames=job.spec.num_frames,
        width=job.spec.width,
        height=job.spec.height,
        fps=job.spec.fps,
        seed=job.spec.seed if job.spec.seed >= 0 else 42,
        num_inference_steps=steps,
        guidance_scale=job.spec.guidance_scale,
        strength=job.spec.strength if job.spec.mode == Mode.VIDEO_TO_VIDEO else None,
    )

    def upload() -> None:
        s3.put_object(Bucket=out.bucket, Key=out.video_key, Body=b"not really an mp4")
        uploaded.append(out.video_key)
        s3.put_object(Bucket=out.bucket, Key=out.poster_key, Body=b"not really a jpeg")
        uploaded.append(out.poster_key)
        metadata = ResultMetadata(
            videojob=job.videojob,
            mode=job.spec.mode,
            model=job.spec.model,
            prompt=prompt,
            negative_prompt=job.spec.negative_prompt,
            used=used,
            video_uri=out.uri(out.video_key),
            poster_uri=out.uri(out.poster_key),
            timings={"total": 0.1},
            device="cpu",
            dtype="float32",
            attention_backend="none",
            offload="none",
            compiled=False,
            created_at=datetime.now(UTC),
            # The model folder the operator resolved, so tests can check it reached the runner.
            input_uri=f"file://{job.model.path}",
        )
        s3.put_object(Bucket=out.bucket, Key=out.metadata_key, Body=metadata.to_json().encode())
        uploaded.append(out.metadata_key)
        if out.record_key is not None:
            s3.put_object(Bucket=out.bucket, Key=out.record_key, Body=metadata.to_json().encode())
            uploaded.append(out.record_key)

    report("starting", 0)
    if early:
        upload()
    for step in range(1, steps + 1):
        time.sleep(step_seconds)
        report("denoising", step, f"denoising step {step}/{steps}")
    if exit_code:
        code = ExitCode(exit_code)
        report("failed", steps, f"stand-in failure {code.reason}")
        finish(
            RunResult(exit_code=code, reason=code.reason, message=f"stand-in runner failed on purpose: {code.reason}")
        )
    if not early:
        upload()
    report("succeeded", steps)
    finish(
        RunResult(
            exit_code=ExitCode.SUCCEEDED,
            reason=Reason.SUCCEEDED,
            used=used,
            video_uri=out.uri(out.video_key),
            metadata_uri=out.uri(out.metadata_key),
            poster_uri=out.uri(out.poster_key),
            timings={"total": steps * step_seconds},
        )
    )


if __name__ == "__main__":
    main()
