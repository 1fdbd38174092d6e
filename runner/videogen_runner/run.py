"""One VideoJob, start to finish: check, fetch input, load, generate, encode, publish.

Everything that can be found wrong without the weights (model folder, mode, parameters, S3, the input file) is
checked first, so a bad job fails in seconds with InvalidInputError rather than after a minute of loading.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from videogen_common import logs
from videogen_common.resources.videojob import Mode
from videogen_common.resources.videojob_status import UsedParameters
from videogen_common.runner_contract import ExitCode, ResultMetadata, RunnerInput, RunResult
from videogen_runner import media
from videogen_runner.families import read_model_info
from videogen_runner.params import draw_seed, model_revision
from videogen_runner.phases import phase
from videogen_runner.plan import detect_hardware, make_plan
from videogen_runner.progress import ProgressReporter
from videogen_runner.settings import RunnerSettings
from videogen_runner.storage import Publisher, download

log = logging.getLogger(__name__)


@dataclass
class JobState:
    """What a run has established so far; a failure report uses whatever is there."""

    used: UsedParameters | None = None
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory_bytes: int | None = None


def expected_steps(used: UsedParameters) -> int:
    """Denoising steps the pipeline will run: video-to-video (the one mode with a strength) runs the last
    ``strength`` part of the schedule."""
    if used.strength is not None:
        return max(1, int(used.num_inference_steps * used.strength))
    return used.num_inference_steps


def execute(
    doc: RunnerInput, client: Any, progress: ProgressReporter, state: JobState, settings: RunnerSettings
) -> RunResult:
    """Run the job; raises RunnerError (or anything else) on failure, leaving nothing in the output keys."""
    started = time.perf_counter()
    spec = doc.spec

    # 1. Every decision, from the spec, the model folder's configs and the hardware (``videogen-runner plan``
    # prints the same plan). A runtime option this image cannot honour is found here, not after the load.
    model_path = Path(doc.model.path)
    info = read_model_info(model_path)
    plan = make_plan(
        spec,
        info,
        doc.runtime,
        detect_hardware(doc.runtime.device),
        repo_id=doc.model.repo_id,
        revision=model_revision(doc.model, model_path),
        seed=draw_seed(spec.seed),
        overrides=doc.model.overrides,
    )
    used = plan.used
    pipeline_class = plan.pipeline
    state.used = used
    total_steps = expected_steps(used)
    log.info("job %s/%s: %s", doc.videojob.namespace, doc.videojob.name, used.to_json())
    # Synchronous, so an unreachable S3 fails the try now (transient) instead of after the generation.
    progress.report_now("starting", 0, total_steps)

    with tempfile.TemporaryDirectory(prefix="videogen-") as tmp:
        work = Path(tmp)

        # 2. The input file, decoded and fitted before the weights load.
        image: Image.Image | None = None
        video: list[Image.Image] | None = None
        if spec.input is not None:  # the spec has one exactly when its mode is not text-to-video
            progress.report("downloading-input", 0, total_steps)
            with phase(state.timings, "download-input"):
                local = work / ("input" + Path(spec.input.key).suffix.lower())
                download(client, spec.input.bucket, spec.input.key, local)
                if spec.mode == Mode.IMAGE_TO_VIDEO:
                    image = media.read_image(local, used.width, used.height)
                else:
                    # Sampled at the rate the model generates at, for the duration asked for.
                    video = media.read_video(
                        local,
                        used.width,
                        used.height,
                        used.generated_frames or used.num_frames,
                        used.generated_fps or used.fps,
                        settings.video_limits(),
                    )

        # 3. Weights, placement, generation. Imported here: torch and diffusers take seconds to import, and a
        # job that fails the checks above should not pay for them.
        with phase(state.timings, "import"):
            import torch  # noqa: F401  first: its loggers then exist, and are ours before diffusers or torchao warn

            logs.adopt_library_loggers("torch")
            from videogen_runner.acceleration import (
                compile_artifacts_file,
                load_compile_artifacts,
                placement_for,
                prepare_process,
                save_compile_artifacts,
            )
            from videogen_runner.generate import Generation, generate, import_pipeline_class, load_pipeline

            import_pipeline_class(pipeline_class)

        placement = placement_for(plan, doc.runtime)
        progress.report("loading", 0, total_steps)
        prepare_process(placement)
        artifacts = compile_artifacts_file(
            placement, f"{plan.model}-{pipeline_class}-{used.width}x{used.height}x{used.generated_frames}"
        )
        load_compile_artifacts(artifacts)

        def on_step(step: int, total: int) -> None:
            progress.report("denoising", step, total)
            if step == total:
                progress.report("decoding", step, total)

        gen = Generation(
            pipeline_class=pipeline_class,
            prompt=spec.prompt,
            negative_prompt=plan.negative_prompt,
            used=used,
            image=image,
            video=video,
            timesteps=plan.timesteps,
        )
        if plan.processes > 1:
            # spec.gpus > 1: one process per GPU under torchrun, context-parallel (videogen_runner.parallel).
            from videogen_runner.parallel import ParallelJob, generate_in_processes

            parallelism = plan.parallelism.value
            job = ParallelJob(
                model_path=model_path,
                pipeline_class=pipeline_class,
                placement=placement,
                flow_shift=plan.flow_shift,
                generation=gen,
                degree=plan.processes,
                uneven=bool(parallelism["uneven"]),
                tokens=int(parallelism["tokens"]),
                folder=work,
                log_fields=dict(logs.context()),
            )
            result = generate_in_processes(job, on_step)
        else:
            with phase(state.timings, "load"):
                pipe = load_pipeline(model_path, pipeline_class, placement, plan.flow_shift)
            progress.report("encoding-prompt", 0, total_steps)
            result = generate(pipe, gen, placement, on_step)
            del pipe
        save_compile_artifacts(artifacts)
        state.timings |= result.timings
        state.peak_memory_bytes = result.peak_memory_bytes
        steps_run = len(result.step_seconds)

        # 4. MP4 and poster.
        progress.report("encoding-video", steps_run, steps_run)
        video_file = work / "video.mp4"
        poster_file = work / "poster.jpg"
        with phase(state.timings, "encode-video"):
            media.write_mp4(
                result.frames,
                video_file,
                used.fps,
                settings.mp4_preset,
                source_fps=used.generated_fps or used.fps,
                output_frames=used.num_frames,
            )
            media.write_poster(result.frames[0], poster_file)

        # 5. Publish: poster and video, then the metadata that marks the set complete.
        progress.report("uploading", steps_run, steps_run)
        out = doc.output
        publisher = Publisher(client, out.bucket)
        try:
            with phase(state.timings, "upload"):
                publisher.put_file(poster_file, out.poster_key, "image/jpeg")
                publisher.put_file(video_file, out.video_key, "video/mp4")
            state.timings["total"] = time.perf_counter() - started
            metadata = ResultMetadata(
                videojob=doc.videojob,
                mode=spec.mode,
                model=spec.model,
                prompt=spec.prompt,
                negative_prompt=plan.negative_prompt,
                used=used,
                video_uri=out.uri(out.video_key),
                poster_uri=out.uri(out.poster_key),
                input_uri=spec.input.uri if spec.input else None,
                timings={k: round(v, 4) for k, v in state.timings.items()},
                step_seconds_median=round(statistics.median(result.step_seconds), 4) if steps_run else None,
                peak_gpu_memory_bytes=result.peak_memory_bytes,
                device=placement.device,
                dtype=str(placement.dtype).removeprefix("torch."),
                attention_backend=placement.attention_backend,
                offload=placement.offload,
                compiled=placement.compile,
                plan=plan.to_json(),
                created_at=datetime.now(UTC),
            )
            metadata_json = metadata.model_dump_json(by_alias=True, indent=2)
            publisher.put_text(metadata_json, out.metadata_key, "application/json")
            if out.record_key is not None:
                publisher.put_text(metadata_json, out.record_key, "application/json")
        except BaseException:
            publisher.rollback()
            raise

    progress.close()
    progress.report_now("succeeded", steps_run, steps_run)
    return RunResult(
        exit_code=int(ExitCode.SUCCEEDED),
        reason=ExitCode.SUCCEEDED.reason,
        message=f"{used.num_frames} frames at {used.width}x{used.height}, {used.fps} fps",
        used=used,
        video_uri=out.uri(out.video_key),
        metadata_uri=out.uri(out.metadata_key),
        poster_uri=out.uri(out.poster_key),
        timings={k: round(v, 3) for k, v in state.timings.items()},
        peak_gpu_memory_bytes=result.peak_memory_bytes,
    )
