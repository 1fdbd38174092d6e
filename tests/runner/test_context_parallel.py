"""spec.gpus > 1: the denoiser runs context-parallel (diffusers' Ulysses attention) in one process per GPU under
torchrun. The gate: on the smoke Wan model, two CPU processes talking over gloo make the video one process makes.
The plan's choices around it (no step cache, no compile, one GPU when offloading, LTX refused) are pure functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.runner.test_plan import H200, LTX, WAN_T2V_13B, model_folder, plan
from tests.runner.test_runner_end_to_end import (
    decoded_frames,
    download,
    make_job,
    progress_bucket,
    progress_history,
    run_in_process,
    smoke_models,
)
from tests.runner.test_runner_end_to_end import s3_env as runner_s3_env
from videogen_common.runner_contract import ExitCode, RuntimeOptions
from videogen_dev.smoke_weights import WAN_T2V
from videogen_runner.errors import InvalidInputError, exit_code_for
from videogen_runner.parallel import worker_failure
from videogen_runner.plan import Hardware, hardware_from_flags

pytestmark = pytest.mark.runner
__all__ = ["progress_bucket", "smoke_models"]  # fixtures, used by name

CPU = Hardware(device="cpu")
# Tiny and short: 3 latent frames of 4x4 patches (48 tokens) and the smoke model's 2 heads divide by 2.
SMALL: dict[str, Any] = {"numFrames": 9, "fps": 16, "width": 64, "height": 64, "numInferenceSteps": 2, "seed": 5}


def test_two_gloo_processes_make_the_video_one_process_makes(
    s3: Any,
    progress_bucket: str,
    smoke_models: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The gate, through ``videogen-runner run``: the same job with spec.gpus 0 (one process) and 2 (torchrun, two
    CPU processes over gloo, Ulysses attention) on the smoke Wan model."""
    videos = {}
    for gpus in (0, 2):
        capfd.readouterr()  # what came before (the smoke models' making) is not the run's log
        job = make_job(s3, progress_bucket, smoke_models[WAN_T2V], mode="text-to-video", gpus=gpus, **SMALL)
        job.doc.runtime = RuntimeOptions(device="cpu")
        run_dir = tmp_path / str(gpus)
        run_dir.mkdir()
        outcome = run_in_process(job, runner_s3_env(s3), run_dir, monkeypatch)
        assert outcome.exit_code == 0, outcome.result
        videos[gpus] = decoded_frames(download(s3, job.doc.output.video_key, run_dir / "out.mp4"))
        metadata = json.loads(download(s3, job.doc.output.metadata_key, run_dir / "out.json").read_text())
        parallelism = metadata["plan"]["parallelism"]["value"]
        if gpus == 0:
            assert parallelism == 1 and "contextParallel" not in outcome.result["used"]
            continue
        assert parallelism == {"kind": "ulysses", "degree": 2, "uneven": False, "tokens": 48}
        assert outcome.result["used"]["contextParallel"] == metadata["used"]["contextParallel"] == 2
        # Rank 0's steps reach the job's progress object through the runner's process.
        steps = {(r.step, r.total_steps) for r in progress_history(s3, job.doc.progress) if r.phase == "denoising"}
        assert steps == {(1, 2), (2, 2)}, steps
        assert {"load", "denoise", "decode"} <= set(outcome.result["timings"])
        # The workers' lines share the pod's log: JSON naming the job as the runner's own (no torchrun banner, no
        # plain warnings).
        log = capfd.readouterr().err.splitlines()
        assert [line for line in log if line.strip() and not line.startswith("{")] == []
        workers = [json.loads(line) for line in log if '"videogen_runner.generate"' in line]
        assert workers and all(line["videojob"] == job.doc.videojob.name for line in workers), workers[:3]

    one, two = (videos[g].astype(np.int16) for g in (0, 2))
    assert one.shape == two.shape == (9, 64, 64, 3)
    assert one.std() > 5, "the frames are flat: equality would prove nothing"
    difference = np.abs(one - two)
    print(
        f"2 processes vs 1: max |diff| {difference.max()} levels, {np.count_nonzero(difference)} of {one.size} differ"
    )
    # The same float32 math in another order: a rounding flip of one 8-bit level (and the encoder's answer to it)
    # at most, on a few values; measured here: none.
    assert difference.max() <= 2 and np.count_nonzero(difference) <= one.size // 1000


def test_a_workers_recorded_failure_is_the_jobs_exit_code_and_message(tmp_path: Path) -> None:
    # What a worker writes when it fails (worker_main): rank 0's record wins; none is an internal error.
    (tmp_path / "error-1.json").write_text(json.dumps({"exitCode": 13, "message": "rank 1 broke"}))
    (tmp_path / "error-0.json").write_text(json.dumps({"exitCode": 11, "message": "out of GPU memory"}))
    failure = worker_failure(tmp_path, 1)
    assert (failure.exit_code, str(failure)) == (ExitCode.OUT_OF_MEMORY, "out of GPU memory")
    assert exit_code_for(failure) is ExitCode.OUT_OF_MEMORY
    for record in tmp_path.iterdir():
        record.unlink()
    failure = worker_failure(tmp_path, -9)
    assert failure.exit_code is ExitCode.INTERNAL and "status -9 and no result" in str(failure)


def test_the_plan_under_context_parallelism(tmp_path: Path) -> None:
    wan = model_folder(tmp_path, "Wan2.1-T2V-1.3B-Diffusers", WAN_T2V_13B, 30)
    (wan / "transformer" / "config.json").write_text(json.dumps({"num_layers": 30, "num_attention_heads": 12}))
    # 480x832x81 on 4 H200s: 21 x 30 x 52 tokens and 12 heads divide by 4; no step cache, no compile over the hooks.
    four = plan(wan, gpus=4, width=832, height=480, numFrames=81, fps=16, speed="fast")
    assert four.parallelism.value == {"kind": "ulysses", "degree": 4, "uneven": False, "tokens": 21 * 30 * 52}
    assert four.used.context_parallel == 4 and four.processes == 4
    assert four.step_cache.value is None and four.compile.value is False
    # 12 heads do not divide by 8: diffusers' uneven Ulysses on GPUs; refused on CPU processes, naming the fix.
    assert plan(wan, gpus=8, width=832, height=480).parallelism.value["uneven"] is True
    with pytest.raises(InvalidInputError, match="divide by 8"):
        plan(wan, hardware=CPU, runtime=RuntimeOptions(device="cpu"), gpus=8)
    # A GPU too small for the whole model: offloading, so one GPU denoises and the plan says why.
    small = plan(wan, hardware=hardware_from_flags("NVIDIA L4", 8), gpus=2)
    assert small.offload.value != "none" and small.parallelism.value == 1
    assert "offload" in small.parallelism.why and small.used.context_parallel is None
    # One GPU: as before.
    assert plan(wan, hardware=H200).parallelism.value == 1
    # LTX's masked attention cannot be split: refused before any weight loads, naming spec.gpus.
    ltx = model_folder(tmp_path, "LTX-Video", LTX, 28)
    with pytest.raises(InvalidInputError, match=r"set spec\.gpus to 1"):
        plan(ltx, gpus=2)
