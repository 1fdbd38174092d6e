"""``videogen-runner``: ``run`` one VideoJob, the one command of the runner image."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from opentelemetry.trace import StatusCode
from pydantic import ValidationError

from videogen_common import logs, tracing
from videogen_common.resources.videojob_status import UsedParameters
from videogen_common.runner_contract import INPUT_ENV, ExitCode, RunnerInput, RunResult
from videogen_runner.errors import InvalidInputError, TerminatedError, exit_code_for
from videogen_runner.settings import RunnerSettings, S3Settings

log = logging.getLogger("videogen_runner")


def _offline_environment() -> None:
    # Weights come from the model cache only; a missing file must fail, not start a download.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Read when CUDA first allocates: growing segments instead of fixed blocks keep the VAE decode's large,
    # short-lived buffers from fragmenting the pool.
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")


def _quiet_libraries() -> None:
    """Progress bars and deprecation chatter would bury the runner's own log lines in the pod log."""
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def load_input(path: str | None) -> RunnerInput:
    """The RunnerInput from ``--input PATH`` or else the ``VIDEOGEN_RUNNER_INPUT`` variable."""
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise InvalidInputError(f"cannot read the input document {path}: {e}") from e
    elif (text_env := os.environ.get(INPUT_ENV)) is not None:
        text = text_env
    else:
        raise InvalidInputError(f"no input: pass --input PATH or set {INPUT_ENV}")
    try:
        return RunnerInput.model_validate_json(text)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors(include_url=False)
        )
        raise InvalidInputError(f"invalid input document: {problems}") from e


def write_termination_message(result: RunResult, settings: RunnerSettings) -> None:
    message = result.to_termination_message()
    print(message, flush=True)
    try:
        Path(settings.termination_log).write_text(message)
    except OSError as e:
        # Outside Kubernetes there is no /dev/termination-log; the same text went to stdout above.
        log.warning("cannot write termination message to %s: %s", settings.termination_log, e)


def failure_result(exc: BaseException, used: UsedParameters | None) -> RunResult:
    """What a run that raised ``exc`` reports: exit code, reason and a message a person can act on."""
    code = exit_code_for(exc)
    message = str(exc) or type(exc).__name__
    if code is ExitCode.OUT_OF_MEMORY:
        message = "out of GPU memory; try fewer frames or a smaller width/height"
        if used is not None:
            message += f" (ran {used.num_frames} frames at {used.width}x{used.height})"
    elif code is ExitCode.INTERNAL:
        message = f"internal error: {type(exc).__name__}: {message}"
    return RunResult(exit_code=int(code), reason=code.reason, message=message, used=used)


def cmd_run(args: argparse.Namespace) -> int:
    _offline_environment()
    settings = RunnerSettings()

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        raise TerminatedError("terminated (SIGTERM): the Job was cancelled or the pod evicted")

    signal.signal(signal.SIGTERM, on_sigterm)

    from videogen_common.s3 import make_client
    from videogen_runner.progress import ProgressReporter
    from videogen_runner.run import JobState, execute

    state = JobState()
    progress: ProgressReporter | None = None
    tracing.configure_tracing("videogen-runner")
    # The operator's span that created the Job, when it passed one: the run joins the job's trace.
    with tracing.span_from("videogen_runner", "run", os.environ.get(tracing.TRACEPARENT_ENV)) as span:
        try:
            doc = load_input(args.input)
            ref = doc.videojob
            fields = logs.videojob_fields(ref.name, ref.namespace, request_id=os.environ.get(logs.REQUEST_ID_ENV))
            # The whole process runs this one job: its threads' lines (the progress writer's) name it too.
            logs.bind_process(**fields)
            span.set_attributes({f"videogen.{k}": v for k, v in fields.items() if v is not None})
            client = make_client(S3Settings())
            progress = ProgressReporter(client, doc.progress, doc.videojob.uid)
            result = execute(doc, client, progress, state, settings)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                exc = TerminatedError("interrupted")
            result = failure_result(exc, state.used)
            result.timings = {k: round(v, 3) for k, v in state.timings.items()}
            level = logging.ERROR if result.exit_code != ExitCode.INVALID_INPUT else logging.WARNING
            log.log(level, "%s: %s", result.reason, result.message, exc_info=result.exit_code == ExitCode.INTERNAL)
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR, f"{result.reason}: {result.message}")
            if progress is not None:
                progress.close()
                try:
                    progress.report_now("failed", message=result.message[:500])
                except Exception as e:
                    log.warning("could not record the failure in the progress object: %s", e)
        span.set_attribute("videogen.exit_code", result.exit_code)
    write_termination_message(result, settings)
    # The batch processor holds the last spans: export them before the process (and the pod) ends.
    tracing.shutdown_tracing()
    return result.exit_code


# Request fields as ``plan`` flags, named like the REST fields (snake_case; the kebab-case spelling works too).
_PLAN_FIELDS: tuple[tuple[str, type], ...] = (
    ("prompt", str),
    ("negative_prompt", str),
    ("num_frames", int),
    ("fps", int),
    ("width", int),
    ("height", int),
    ("seed", int),
    ("guidance_scale", float),
    ("num_inference_steps", int),
    ("strength", float),
    ("speed", str),
)


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the run's decisions as JSON, from the model folder's configs alone (no weights are read)."""
    from videogen_common.resources.videojob import Mode, VideoJobSpec
    from videogen_common.resources.videomodel import ModelOverrides
    from videogen_common.runner_contract import RuntimeOptions
    from videogen_runner.families import read_model_info
    from videogen_runner.plan import detect_hardware, hardware_from_flags, make_plan

    fields = {name: value for name, _ in _PLAN_FIELDS if (value := getattr(args, name)) is not None}
    if args.mode != Mode.TEXT_TO_VIDEO:
        # The spec needs an input for these modes; the plan never reads it.
        fields["input"] = {"uri": "s3://plan/input"}
    fields.setdefault("prompt", "a plan")
    try:
        spec = VideoJobSpec.model_validate({"mode": args.mode, **fields})
        runtime = RuntimeOptions.model_validate_json(args.runtime)
        overrides = ModelOverrides.model_validate_json(args.overrides) if args.overrides else None
        folder = Path(args.model)
        info = read_model_info(folder)
        hardware = (
            hardware_from_flags(args.gpu, args.gpu_memory_gib)
            if args.gpu or runtime.device == "cpu"
            else detect_hardware(runtime.device)
        )
        plan = make_plan(
            spec,
            info,
            runtime,
            hardware,
            repo_id=args.repo_id or folder.name,
            revision=None,
            seed=spec.seed if spec.seed != -1 else 0,
            overrides=overrides,
        )
    except (ValidationError, InvalidInputError) as e:
        print(f"videogen-runner plan: {e}", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)
    print(json.dumps(plan.to_json(), indent=2, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videogen-runner", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one VideoJob (the document from --input or $" + INPUT_ENV + ")")
    run.add_argument("--input", help="path of the RunnerInput JSON (default: the $" + INPUT_ENV + " variable)")
    run.set_defaults(func=cmd_run)

    plan = sub.add_parser("plan", help="print, as JSON, every decision a run would take, without loading weights")
    plan.add_argument("model", help="the model folder (with model_index.json and the components' configs)")
    plan.add_argument("--mode", required=True, choices=["text-to-video", "image-to-video", "video-to-video"])
    for name, kind in _PLAN_FIELDS:
        plan.add_argument(f"--{name}", f"--{name.replace('_', '-')}", dest=name, type=kind, default=None)
    plan.add_argument("--repo-id", help="the repo id the folder came from (default: the folder's name)")
    plan.add_argument("--runtime", default="{}", help="RuntimeOptions as camelCase JSON (the operator's setting)")
    plan.add_argument("--overrides", help="a VideoModel's spec.overrides as camelCase JSON")
    plan.add_argument("--gpu", help="plan for this GPU (e.g. H200) instead of this machine's")
    plan.add_argument("--gpu-memory-gib", type=float, help="the GPU's memory (with --gpu; default 80)")
    plan.set_defaults(func=cmd_plan)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_libraries()
    args = build_parser().parse_args(argv)
    logs.configure_logging(RunnerSettings().log_format, logging.DEBUG if args.verbose else logging.INFO)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
