"""spec.gpus > 1: the denoiser runs context-parallel (diffusers' Ulysses attention) in one process per GPU under
torchrun. The gate: on the smoke Wan model, two CPU processes talking over gloo make the frames one process makes.
The plan's choices around it (no step cache, no compile, one GPU when offloading, LTX refused) are pure functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.runner.test_plan import H200, LTX, WAN_T2V_13B, model_folder, plan
from tests.runner.test_runner_end_to_end import download, make_job, progress_bucket, run_in_process, smoke_models
from tests.runner.test_runner_end_to_end import s3_env as runner_s3_env
from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.runner_contract import RuntimeOptions
from videogen_dev.smoke_weights import WAN_T2V
from videogen_runner.errors import InvalidInputError
from videogen_runner.families import read_model_info
from videogen_runner.plan import Hardware, RunPlan, hardware_from_flags, make_plan

pytestmark = pytest.mark.runner
__all__ = ["progress_bucket", "smoke_models"]  # fixtures, used by name

CPU = Hardware(device="cpu")
# Tiny and short: 3 latent frames of 4x4 patches (48 tokens) and the smoke model's 2 heads divide by 2.
SMALL: dict[str, Any] = {"numFrames": 9, "fps": 16, "width": 64, "height": 64, "numInferenceSteps": 2, "seed": 5}


def smoke_plan(folder: Path, gpus: int, **fields: Any) -> RunPlan:
    spec = VideoJobSpec.model_validate({"mode": "text-to-video", "prompt": "a cat", "gpus": gpus, **SMALL, **fields})
    options = RuntimeOptions(device="cpu")
    return make_plan(spec, read_model_info(folder), options, CPU, repo_id=folder.name, revision=None, seed=5)


def test_two_gloo_processes_make_the_frames_one_process_makes(smoke_models: dict[str, Path], tmp_path: Path) -> None:
    from videogen_runner.acceleration import placement_for
    from videogen_runner.generate import Generation, generate, load_pipeline
    from videogen_runner.parallel import ParallelJob, generate_in_processes

    folder = smoke_models[WAN_T2V]
    runs = {}
    steps: list[tuple[int, int]] = []
    for gpus in (0, 2):
        p = smoke_plan(folder, gpus)
        placement = placement_for(p, RuntimeOptions(device="cpu"))
        gen = Generation(p.pipeline, "a cat playing with a ball", p.negative_prompt, p.used)
        if gpus == 0:
            assert p.processes == 1 and p.used.context_parallel is None
            runs[gpus] = generate(load_pipeline(folder, p.pipeline, placement, p.flow_shift), gen, placement, print)
            continue
        assert p.parallelism.value == {"kind": "ulysses", "degree": 2, "uneven": False}, p.parallelism
        assert p.used.context_parallel == 2
        job = ParallelJob(folder, p.pipeline, placement, p.flow_shift, gen, 2, False, tmp_path)
        runs[gpus] = generate_in_processes(job, lambda step, total: steps.append((step, total)))

    one, two = (runs[g].frames.astype(np.int16) for g in (0, 2))
    assert one.shape == two.shape == (9, 64, 64, 3)
    assert one.std() > 5, "the frames are flat: equality would prove nothing"
    difference = np.abs(one - two)
    print(f"2 processes vs 1: max |diff| {difference.max()} levels, {np.count_nonzero(difference)} of {one.size}")
    # float32 sums in another order: at most a rounding flip of one 8-bit level on a few values.
    assert difference.max() <= 1 and np.count_nonzero(difference) <= one.size // 1000
    assert steps == [(1, 2), (2, 2)]
    assert "load" in runs[2].timings and "denoise" in runs[2].timings


def test_a_job_with_two_gpus_runs_two_processes_end_to_end(
    s3: Any, progress_bucket: str, smoke_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job(s3, progress_bucket, smoke_models[WAN_T2V], mode="text-to-video", gpus=2, **SMALL)
    job.doc.runtime = RuntimeOptions(device="cpu")
    outcome = run_in_process(job, runner_s3_env(s3), tmp_path, monkeypatch)
    assert outcome.exit_code == 0, outcome.result
    assert outcome.result["used"]["contextParallel"] == 2
    metadata = json.loads(download(s3, f"{job.prefix}/out.json", tmp_path / "out.json").read_text())
    assert metadata["plan"]["parallelism"]["value"] == {"kind": "ulysses", "degree": 2, "uneven": False}
    assert metadata["used"]["contextParallel"] == 2


def test_a_workers_failure_is_the_jobs_exit_code_and_message(
    s3: Any, progress_bucket: str, smoke_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A model folder whose weights are missing: the plan passes (configs only), each worker's load fails.
    broken = tmp_path / "broken-wan"
    broken.mkdir()
    for item in smoke_models[WAN_T2V].iterdir():
        if item.is_dir():
            (broken / item.name).mkdir()
            for f in item.iterdir():
                if not f.name.endswith(".safetensors"):
                    (broken / item.name / f.name).write_bytes(f.read_bytes())
        else:
            (broken / item.name).write_bytes(item.read_bytes())
    job = make_job(s3, progress_bucket, broken, mode="text-to-video", gpus=2, **SMALL)
    job.doc.runtime = RuntimeOptions(device="cpu")
    outcome = run_in_process(job, runner_s3_env(s3), tmp_path, monkeypatch)
    # The worker's own failure (an OSError from diffusers' loader, which exit_code_for maps to 12 as it does in a
    # one-process run) comes back as the job's exit code and message, not torchrun's status.
    assert outcome.exit_code == 12, outcome.result
    assert "no file named diffusion_pytorch_model" in outcome.result["message"], outcome.result


def test_the_plan_under_context_parallelism(tmp_path: Path) -> None:
    wan = model_folder(tmp_path, "Wan2.1-T2V-1.3B-Diffusers", WAN_T2V_13B, 30)
    (wan / "transformer" / "config.json").write_text(json.dumps({"num_layers": 30, "num_attention_heads": 12}))
    # 480x832x81 on 4 H200s: 21 x 30 x 52 tokens and 12 heads divide by 4; no step cache, no compile over the hooks.
    four = plan(wan, gpus=4, width=832, height=480, numFrames=81, fps=16, speed="fast")
    assert four.parallelism.value == {"kind": "ulysses", "degree": 4, "uneven": False}
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
