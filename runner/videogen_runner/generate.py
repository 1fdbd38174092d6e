"""Load a diffusers pipeline offline and run one generation, timing each phase.

The steps read like a pipeline's ``__call__``: 1. load (straight onto the GPU when nothing is offloaded), 2. encode
the prompt (then free the text encoder), 3. denoise with a per-step callback, 4. decode (timed inside the pipeline by
wrapping ``vae.decode``), 5. the frames to 8 bits where they are, then to the host.
"""

from __future__ import annotations

import inspect
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from videogen_common.resources.videojob_status import UsedParameters
from videogen_runner.acceleration import Placement, apply_placement, peak_memory_bytes, synchronize
from videogen_runner.media import Frames
from videogen_runner.phases import phase, phase_span, record_phase

log = logging.getLogger(__name__)

#: Called after each denoising step with (steps done, total steps).
StepCallback = Callable[[int, int], None]


@dataclass
class Generation:
    """What one generation needs besides the loaded pipeline."""

    pipeline_class: str
    prompt: str
    #: The negative prompt run: the request's, or the model's standard one.
    negative_prompt: str
    used: UsedParameters
    image: Image.Image | None = None
    video: list[Image.Image] | None = None
    #: A distilled checkpoint's fixed schedule (replaces num_inference_steps).
    timesteps: list[float] | None = None


@dataclass
class GenerationResult:
    frames: NDArray[np.uint8]
    timings: dict[str, float] = field(default_factory=dict)
    step_seconds: list[float] = field(default_factory=list)
    peak_memory_bytes: int | None = None


def import_pipeline_class(pipeline_class: str) -> Any:
    """The diffusers class: first access imports its module and the transformers models it uses (seconds of CPU,
    timed apart from reading the weights)."""
    import diffusers

    # Its loading bar would put lines that are not JSON into the pod's log (the denoising one is off per pipeline).
    diffusers.utils.logging.disable_progress_bar()
    return getattr(diffusers, pipeline_class)


def load_pipeline(model_path: Path, pipeline_class: str, placement: Placement, flow_shift: float | None) -> Any:
    """Load ``pipeline_class`` from a local diffusers folder, never touching the network; ``flow_shift`` (the
    plan's, by resolution) replaces the scheduler's. With ``placement.device_map`` each component is read straight
    onto the GPU in its dtype: no float32 copy in host memory, no cast on the CPU."""
    cls = import_pipeline_class(pipeline_class)
    where = {"device_map": placement.device_map} if placement.device_map is not None else {}
    pipe = cls.from_pretrained(str(model_path), dtype=placement.dtype_map(), local_files_only=True, **where)
    pipe.set_progress_bar_config(disable=True)
    if pipeline_class == "LTXConditionPipeline" and pipe.scheduler.config.get("use_dynamic_shifting"):
        # LTXConditionPipeline brings its own (linear-quadratic) sigmas and passes no resolution shift, which a
        # dynamically shifting scheduler (LTX-Video <= 0.9.1 configs) refuses; the fixed schedule is what it wants.
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, use_dynamic_shifting=False)
    if flow_shift is not None and pipe.scheduler.config.get("flow_shift") != flow_shift:
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, flow_shift=flow_shift)
    apply_placement(pipe, placement)
    return pipe


class _Timed:
    """Wraps a callable, adds up the wall time spent in it (GPU work included) and traces each call as a span."""

    def __init__(self, fn: Callable[..., Any], device: str, name: str) -> None:
        self._fn = fn
        self._device = device
        self._name = name
        self.seconds = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        synchronize(self._device)
        with phase_span(self._name):
            start = time.perf_counter()
            try:
                return self._fn(*args, **kwargs)
            finally:
                synchronize(self._device)
                self.seconds += time.perf_counter() - start


def _default_max_sequence_length(pipe: Any) -> int:
    # The pipeline's own __call__ default (Wan 512, LTX 128), which encode_prompt's default does not always match.
    return int(inspect.signature(type(pipe).__call__).parameters["max_sequence_length"].default)


def encode_prompt(pipe: Any, gen: Generation) -> dict[str, Any]:
    """Prompt embeddings as ``__call__`` keyword arguments; the text encoder is dropped afterwards."""
    cfg = gen.used.guidance_scale > 1.0
    device = pipe._execution_device
    max_len = _default_max_sequence_length(pipe)
    with torch.no_grad():
        out = pipe.encode_prompt(
            prompt=gen.prompt,
            negative_prompt=gen.negative_prompt,
            do_classifier_free_guidance=cfg,
            max_sequence_length=max_len,
            device=device,
        )
    if gen.pipeline_class.startswith("LTX"):
        embeds, mask, negative, negative_mask = out
        kwargs = {
            "prompt_embeds": embeds,
            "prompt_attention_mask": mask,
            "negative_prompt_embeds": negative,
            "negative_prompt_attention_mask": negative_mask,
        }
    else:
        embeds, negative = out
        kwargs = {"prompt_embeds": embeds, "negative_prompt_embeds": negative}
    # One job per process: the encoder (UMT5-XXL is ~11 GB) is never needed again, so give its memory to the
    # transformer's activations.
    pipe.text_encoder = None
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return kwargs


def _mode_kwargs(pipe: Any, gen: Generation, generator: torch.Generator) -> dict[str, Any]:
    """The arguments that differ between the pipelines and modes (frames are the generated ones, at the model's
    rate; the retime to the requested fps comes after)."""
    used = gen.used
    name = gen.pipeline_class
    kwargs: dict[str, Any] = {"height": used.height, "width": used.width}
    if gen.timesteps is not None:
        kwargs["timesteps"] = gen.timesteps
    if name == "WanVideoToVideoPipeline":
        # Frame count comes from the video; strength is SDEdit's (how much of the schedule to run).
        return {**kwargs, "video": gen.video, "strength": used.strength}
    kwargs["num_frames"] = used.generated_frames or used.num_frames
    if name.startswith("LTX"):
        # LTX's rotary positions are in seconds: the frame rate changes the motion, so pass the real one.
        kwargs["frame_rate"] = used.generated_fps or used.fps
        if getattr(pipe.vae.config, "timestep_conditioning", False):
            # LTX-Video >= 0.9.1 decodes with a little noise; these are Lightricks' recommended values.
            kwargs |= {"decode_timestep": 0.05, "decode_noise_scale": 0.025}
    if name in ("WanImageToVideoPipeline", "LTXImageToVideoPipeline") or (
        name == "LTXConditionPipeline" and gen.image is not None
    ):
        # LTXConditionPipeline (0.9.5+ in every mode) makes the image a condition on frame 0.
        kwargs["image"] = gen.image
    if name == "LTXConditionPipeline" and gen.video is not None:
        kwargs |= {"latents": _ltx_video_latents(pipe, gen, generator), "denoise_strength": used.strength}
    return kwargs


def _ltx_video_latents(pipe: Any, gen: Generation, generator: torch.Generator) -> torch.Tensor:
    """The input video as LTX latents, for SDEdit-style video-to-video (noised to ``strength``, then denoised).

    LTXConditionPipeline's own ``video=`` argument pins frames as hard conditions instead; starting from the
    noised latents gives ``strength`` the same meaning as in Wan's video-to-video.
    """
    from diffusers.pipelines.ltx.pipeline_ltx_condition import retrieve_latents

    vae = pipe.vae
    device = pipe._execution_device
    video = pipe.video_processor.preprocess_video(gen.video, height=gen.used.height, width=gen.used.width)
    with torch.no_grad():
        latents = retrieve_latents(vae.encode(video.to(device=device, dtype=vae.dtype)), generator=generator)
    normalized: torch.Tensor = pipe._normalize_latents(latents, vae.latents_mean, vae.latents_std)
    return normalized.to(torch.float32)


def frames_to_uint8(video: torch.Tensor) -> Frames:
    """The pipeline's frames (F, C, H, W, in [0, 1]) as 8-bit RGB (F, H, W, C) on the host, converted on the device
    they are on: from a GPU a quarter of the float32 bytes crosses to the host, and the CPU does no arithmetic. NaNs
    (a broken model) become black rather than garbage; then clipped, x255 and rounded half to even in float32, the
    arithmetic the runner used to do in numpy on the pipeline's numpy output, so on a CPU the frames are the same."""
    frames = torch.nan_to_num(video.permute(0, 2, 3, 1).float(), nan=0.0, posinf=1.0, neginf=0.0)
    eight_bit = (frames.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return np.asarray(eight_bit.cpu().numpy(), dtype=np.uint8)


def generate(pipe: Any, gen: Generation, placement: Placement, on_step: StepCallback) -> GenerationResult:
    """Run the loaded pipeline once; returns 8-bit frames and the phase timings."""
    device = placement.device
    timings: dict[str, float] = {}

    with phase(timings, "encode-prompt"):
        prompt_kwargs = encode_prompt(pipe, gen)
        synchronize(device)

    # A CPU generator gives the same noise on every device, so a seed means the same video on CPU and GPU.
    generator = torch.Generator("cpu").manual_seed(gen.used.seed)
    decode = _Timed(pipe.vae.decode, device, "decode")
    # Shadowing the bound method on this instance is the one way to time the decode the pipeline does itself.
    pipe.vae.decode = decode
    step_ends: list[float] = []

    def on_step_end(p: Any, index: int, _t: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        synchronize(device)
        step_ends.append(time.perf_counter())
        on_step(index + 1, int(p.num_timesteps))
        return callback_kwargs

    start, started_ns = time.perf_counter(), time.time_ns()
    mode_kwargs = _mode_kwargs(pipe, gen, generator)
    output = pipe(
        **prompt_kwargs,
        **mode_kwargs,
        num_inference_steps=gen.used.num_inference_steps,
        guidance_scale=gen.used.guidance_scale,
        generator=generator,
        # Frames stay a tensor on the device, for frames_to_uint8.
        output_type="pt",
        callback_on_step_end=on_step_end,
    )
    synchronize(device)
    end = time.perf_counter()
    with phase(timings, "frames-to-host"):
        frames = frames_to_uint8(output.frames[0])

    denoise_end = step_ends[-1] if step_ends else end
    timings["denoise"] = denoise_end - start
    timings["decode"] = decode.seconds
    # The steps run inside the pipeline's call, which the decode ends: its span is recorded once the steps are over.
    record_phase("denoise", started_ns, timings["denoise"])
    step_seconds = [b - a for a, b in zip([start, *step_ends[:-1]], step_ends, strict=True)]
    if step_seconds:
        log.info("denoise %.2fs, median step %.3fs", timings["denoise"], statistics.median(step_seconds))
    return GenerationResult(
        frames=frames, timings=timings, step_seconds=step_seconds, peak_memory_bytes=peak_memory_bytes(device)
    )
