"""Denoising across several GPUs of one pod (``spec.gpus`` > 1): torchrun starts one worker process per GPU, each
loads the pipeline, and diffusers' context parallelism (Ulysses attention) splits the transformer's tokens across
them; every worker ends with the whole video.

The runner's own process stays the one that talks to S3, reports progress and exits with the runner's exit codes:
it hands the generation to the workers (:func:`generate_in_processes`) and reads back rank 0's frames, or the
exit code and message of a worker's failure. Rank 0 tells each finished step on stdout; the other workers print
nothing there. The hand-over files are pickles in the job's private temporary folder, written and read only by
this job's processes.

``python -m videogen_runner.parallel JOB_FILE`` is the worker (what torchrun runs).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videogen_common import logs
from videogen_common.runner_contract import ExitCode
from videogen_runner.errors import RunnerError

log = logging.getLogger(__name__)

#: The line rank 0 prints after each denoising step: ``<marker> <steps done> <total>``.
STEP_MARKER = "videogen-parallel-step"
_RESULT = "result.pkl"


@dataclass(frozen=True)
class ParallelJob:
    """What each worker needs to load the pipeline and run the same generation."""

    model_path: Path
    pipeline_class: str
    #: A videogen_runner.acceleration.Placement (typed loosely: this module is imported before torch).
    placement: Any
    flow_shift: float | None
    #: A videogen_runner.generate.Generation: prompt, parameters, the decoded input image or video.
    generation: Any
    degree: int
    #: Diffusers' ulysses_anything: tokens or heads that do not divide by ``degree`` (CUDA only).
    uneven: bool
    #: The video tokens the transformer attends over (the plan's count); each process must see its share only.
    tokens: int
    folder: Path
    #: The job's log fields (videojob, job id, request id): a worker's lines go to the pod's log beside the runner's.
    log_fields: dict[str, str] = field(default_factory=dict)


class WorkerFailedError(RunnerError):
    """A worker failed; carries the exit code its exception maps to, so the job exits as a one-process run would."""

    def __init__(self, exit_code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def generate_in_processes(job: ParallelJob, on_step: Any) -> Any:
    """Run the generation in ``job.degree`` worker processes under torchrun; rank 0's GenerationResult.

    A SIGTERM to this process (TerminatedError) stops torchrun, which stops its workers, before it propagates.
    """
    job_file = job.folder / "job.pkl"
    job_file.write_bytes(pickle.dumps(job))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={job.degree}",
        "-m",
        "videogen_runner.parallel",
        str(job_file),
    ]
    log.info("context-parallel denoising in %d processes: %s", job.degree, " ".join(command))
    # torchrun sets OMP_NUM_THREADS to 1 when unset, and says so in a banner of plain lines in the pod's JSON log.
    env = os.environ | {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            parts = line.split()
            if len(parts) == 3 and parts[0] == STEP_MARKER:
                on_step(int(parts[1]), int(parts[2]))
            elif line.strip():
                log.info("worker: %s", line.rstrip())
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    result_file = job.folder / _RESULT
    if code == 0 and result_file.is_file():
        return pickle.loads(result_file.read_bytes())  # noqa: S301 (rank 0 of this job wrote it, see the docstring)
    raise worker_failure(job.folder, code)


def worker_failure(folder: Path, code: int) -> WorkerFailedError:
    """The failure a worker recorded (rank 0's first), else an internal error naming torchrun's exit status."""
    for error_file in sorted(folder.glob("error-*.json")):
        try:
            doc = json.loads(error_file.read_text())
            return WorkerFailedError(ExitCode(int(doc["exitCode"])), str(doc["message"]))
        except (OSError, ValueError, KeyError):
            continue
    return WorkerFailedError(ExitCode.INTERNAL, f"context-parallel workers ended with status {code} and no result")


def _enable_context_parallel(pipe: Any, job: ParallelJob) -> None:
    import diffusers
    import torch

    config_class: Any = diffusers.ContextParallelConfig
    config = config_class(ulysses_degree=job.degree, ulysses_anything=job.uneven)
    if job.placement.device == "cuda":
        pipe.transformer.enable_parallelism(config=config)
        return
    # diffusers picks each rank's device as ``rank % torch.accelerator.device_count()``, which is a division by
    # zero on a host without accelerators; one "device" (the CPU) is the truth there.
    from unittest import mock

    with mock.patch.object(torch.accelerator, "device_count", return_value=1):
        pipe.transformer.enable_parallelism(config=config)


def _watch_tokens(pipe: Any) -> list[int]:
    """The sequence length the first block's self-attention receives, recorded on its first call: the proof that
    the tokens were split (without the split each process would quietly compute everything itself)."""
    seen: list[int] = []
    blocks = getattr(pipe.transformer, "blocks", None)
    attention = getattr(blocks[0], "attn1", None) if blocks is not None and len(blocks) else None
    if attention is None:
        return seen

    def record(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        hidden = args[0] if args else kwargs.get("hidden_states")
        if not seen and hidden is not None:
            seen.append(int(hidden.shape[1]))

    attention.register_forward_pre_hook(record, with_kwargs=True)
    return seen


def _check_split(seen: list[int], job: ParallelJob) -> None:
    share = -(-job.tokens // job.degree)
    if not seen:
        log.warning("the first block's attention was not observed: the token split is not checked")
        return
    if seen[0] > share:
        raise RuntimeError(
            f"context parallelism did not split the tokens: a process attended over {seen[0]} of {job.tokens} "
            f"(its share is {share})"
        )
    log.info("each of %d processes attended over %d of %d tokens", job.degree, seen[0], job.tokens)


def worker_main(job_file: Path) -> int:
    """One rank: load, parallelise, generate; rank 0 writes the result. Any failure is written for the launcher."""
    import torch
    import torch.distributed as dist

    from videogen_runner.acceleration import prepare_process
    from videogen_runner.errors import exit_code_for
    from videogen_runner.generate import generate, load_pipeline

    rank = int(os.environ["RANK"])
    job: ParallelJob = pickle.loads(job_file.read_bytes())  # noqa: S301 (this job's launcher wrote it)
    # The pod's log is JSON lines, the workers' too: the runner's format and fields, torch's lines through them.
    logs.adopt_library_loggers("torch")
    logs.bind_process(**job.log_fields)
    try:
        if job.placement.device == "cuda":
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
            dist.init_process_group("nccl")
        else:
            dist.init_process_group("gloo")
        prepare_process(job.placement)
        started = time.perf_counter()
        pipe = load_pipeline(job.model_path, job.pipeline_class, job.placement, job.flow_shift)
        _enable_context_parallel(pipe, job)
        seen = _watch_tokens(pipe)
        loaded = time.perf_counter() - started

        def on_step(step: int, total: int) -> None:
            if rank == 0:
                print(f"{STEP_MARKER} {step} {total}", flush=True)

        result = generate(pipe, job.generation, job.placement, on_step)
        result.timings["load"] = loaded
        _check_split(seen, job)
        if rank == 0:
            partial = job.folder / f"{_RESULT}.partial"
            partial.write_bytes(pickle.dumps(result))
            partial.replace(job.folder / _RESULT)
        dist.destroy_process_group()
    except BaseException as exc:
        code = exit_code_for(exc)
        message = str(exc) or type(exc).__name__
        if code is ExitCode.INTERNAL:
            message = f"in context-parallel worker {rank}: {type(exc).__name__}: {message}"
        (job.folder / f"error-{rank}.json").write_text(json.dumps({"exitCode": int(code), "message": message}))
        log.exception("worker %d failed", rank)
        return int(code)
    return 0


if __name__ == "__main__":
    from videogen_runner.settings import RunnerSettings

    logs.configure_logging(RunnerSettings().log_format)
    sys.exit(worker_main(Path(sys.argv[1])))
