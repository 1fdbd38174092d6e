"""Benchmark: time one generation of the runner's own code phase by phase and compare the steps to the FLOP floor.

The model is a diffusers folder, or a preset name: the preset's folder under ``--cache-dir`` when its weights are
there, else the same architecture with random weights built from its config (the speed is the same). The floor
is ``steps x forwards per step x transformer FLOPs per forward / measured matmul rate`` (bf16 on a GPU, float32 on
a CPU), with the FLOPs counted from the transformer's config (matmuls and attention). Placement, loading,
generation and MP4 encoding are the runner's (``videogen_runner.*``); figures, not a test:

    .venv/bin/python bench/runner_bench.py wan2.1-t2v-1.3b --steps 8 --json
    .venv/bin/python bench/runner_bench.py <smoke model folder> --device cpu --width 64 --height 64 --frames 9

``bench/device/runner-gpu.sh`` runs the reference shapes on one GPU from a copy of the repository.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from PIL import Image

from videogen_common.families import Family, FamilyName, model_pipeline, nearest_valid_frames, nearest_valid_side
from videogen_common.resources.videojob import Mode, Speed, VideoJobSpec
from videogen_common.runner_contract import RuntimeOptions
from videogen_runner.families import ModelInfo, pipeline_class_for, read_model_info
from videogen_runner.plan import detect_hardware, make_plan

#: Real architectures (diffusers configs of the published checkpoints) for random-weight benchmarking.
PRESETS: Final[dict[str, dict[str, Any]]] = {
    "wan2.1-t2v-1.3b": {
        "class_name": "WanPipeline",
        "transformer": {
            "patch_size": (1, 2, 2),
            "num_attention_heads": 12,
            "attention_head_dim": 128,
            "in_channels": 16,
            "out_channels": 16,
            "text_dim": 4096,
            "freq_dim": 256,
            "ffn_dim": 8960,
            "num_layers": 30,
            "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads",
            "eps": 1e-6,
        },
    },
    "wan2.1-i2v-14b-480p": {
        "class_name": "WanImageToVideoPipeline",
        "transformer": {
            "patch_size": (1, 2, 2),
            "num_attention_heads": 40,
            "attention_head_dim": 128,
            "in_channels": 36,
            "out_channels": 16,
            "text_dim": 4096,
            "freq_dim": 256,
            "ffn_dim": 13824,
            "num_layers": 40,
            "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads",
            "eps": 1e-6,
            "image_dim": 1280,
            "added_kv_proj_dim": 5120,
        },
    },
    "ltx-video-2b": {
        "class_name": "LTXPipeline",
        "transformer": {
            "in_channels": 128,
            "out_channels": 128,
            "patch_size": 1,
            "patch_size_t": 1,
            "num_attention_heads": 32,
            "attention_head_dim": 64,
            "cross_attention_dim": 2048,
            "num_layers": 28,
            "caption_channels": 4096,
        },
    },
}

# Text encoders of the real checkpoints: UMT5-XXL for Wan, T5 v1.1 XXL for LTX.
_XXL: Final[dict[str, Any]] = {
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 32,
}


@dataclass
class BenchFigures:
    model: str
    device: str
    weights: str
    pipeline: str
    width: int
    height: int
    frames: int
    steps: int
    #: spec.speed, and what the plan made of the runtime options.
    speed: str
    attention_backend: str
    compiled: bool
    #: The plan's load decision: straight onto the GPU or not, and the weights' dtypes on disk.
    load: str
    #: Importing the pipeline's modules (diffusers and transformers), apart from reading the weights.
    import_s: float
    load_s: float
    encode_prompt_s: float
    #: The first step alone: with --compile it carries the compilation (or the compile cache's load).
    first_step_s: float
    step_median_s: float
    denoise_s: float
    decode_s: float
    #: The frames made 8-bit on the device and copied to the host.
    frames_to_host_s: float
    #: None where imageio-ffmpeg is not installed (a bare GPU machine): that step is CPU work, measured elsewhere.
    encode_mp4_s: float | None
    upload_s: float | None
    peak_memory_bytes: int | None
    transformer_tflop_per_step: float
    matmul_tflops: float
    floor_step_s: float
    step_to_floor: float
    total_s: float
    total_to_denoise: float


def transformer_flops(pipe: Any, family: Family, width: int, height: int, frames: int) -> float:
    """Matmul + attention FLOPs of one transformer forward (batch 1), from its config and the latent shape."""
    cfg = pipe.transformer.config
    dim = cfg.num_attention_heads * cfg.attention_head_dim
    if family.name is FamilyName.WAN:
        spatial, temporal = pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal
        pt, ph, pw = cfg.patch_size
        ffn, text_tokens = cfg.ffn_dim, 512
    else:
        spatial, temporal = pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio
        pt, ph, pw = cfg.patch_size_t, cfg.patch_size, cfg.patch_size
        ffn, text_tokens = 4 * dim, 128
    tokens = ((frames - 1) // temporal + 1) // pt * (height // spatial // ph) * (width // spatial // pw)
    image_tokens = 0
    encoder = getattr(pipe, "image_encoder", None)
    if encoder is not None:
        vision = encoder.config
        image_tokens = (vision.image_size // vision.patch_size) ** 2 + 1
    context = text_tokens + image_tokens
    per_layer = (
        8 * tokens * dim**2  # self-attention q, k, v, out
        + 4 * tokens**2 * dim  # self-attention scores and values
        + 4 * tokens * dim**2  # cross-attention q, out
        + 4 * context * dim**2  # cross-attention k, v over text (and image) tokens
        + 4 * tokens * context * dim  # cross-attention scores and values
        + 4 * tokens * dim * ffn  # feed-forward
    )
    return float(per_layer * cfg.num_layers)


def matmul_rate(device: str) -> float:
    """Measured dense matmul FLOP/s: bf16 on a GPU, float32 on a CPU."""
    import torch

    n, dtype, iters = (8192, torch.bfloat16, 20) if device == "cuda" else (1024, torch.float32, 5)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * iters / (time.perf_counter() - start)


@contextmanager
def _default_dtype(dtype: Any) -> Iterator[None]:
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_random_pipeline(preset: str, device: str, dtype: Any) -> Any:
    """The preset's architecture with random weights, built straight on the device (no checkpoint needed)."""
    import importlib

    import torch

    # Untyped constructors (diffusers' register_to_config, transformers' dtype wrappers): handle them as Any.
    diffusers: Any = importlib.import_module("diffusers")
    transformers: Any = importlib.import_module("transformers")

    # The tiny smoke tokenizer: prompt encoding by the XXL encoder costs the same whatever the tokens say.
    from videogen_dev.smoke_weights import build_tokenizer

    spec = PRESETS[preset]
    wan = spec["class_name"].startswith("Wan")
    vae_dtype = torch.float32 if wan else dtype
    # Parameters are created in their final dtype on the device: a 14B transformer plus T5-XXL made in float32
    # first would need about 80 GB at once.
    with torch.device(device), _default_dtype(dtype):
        if wan:
            transformer = diffusers.WanTransformer3DModel(**spec["transformer"])
            text_encoder = transformers.UMT5EncoderModel(transformers.UMT5Config(vocab_size=256384, **_XXL))
        else:
            transformer = diffusers.LTXVideoTransformer3DModel(**spec["transformer"])
            text_encoder = transformers.T5EncoderModel(transformers.T5Config(vocab_size=32128, **_XXL))
    with torch.device(device), _default_dtype(vae_dtype):
        # The constructors' defaults are Wan2.1's and LTX-Video 0.9.0's VAEs.
        vae = diffusers.AutoencoderKLWan() if wan else diffusers.AutoencoderKLLTXVideo()
    # Schedulers keep their sigmas in float32 on the CPU, as from_pretrained makes them.
    if wan:
        scheduler = diffusers.UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
        )
    else:
        scheduler = diffusers.FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True)
    components: dict[str, Any] = {
        "transformer": transformer.to(dtype),
        "vae": vae.to(vae_dtype),
        "text_encoder": text_encoder.to(dtype),
        "tokenizer": build_tokenizer(),
        "scheduler": scheduler,
    }
    if spec["class_name"] == "WanImageToVideoPipeline":
        with torch.device(device):
            components["image_encoder"] = transformers.CLIPVisionModel(
                transformers.CLIPVisionConfig(
                    hidden_size=1280,
                    intermediate_size=5120,
                    num_hidden_layers=32,
                    num_attention_heads=16,
                    image_size=224,
                    patch_size=14,
                )
            ).to(torch.float32)
        components["image_processor"] = transformers.CLIPImageProcessor()
    pipe = getattr(diffusers, spec["class_name"])(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _synthetic_inputs(width: int, height: int, frames: int) -> tuple[Image.Image, list[Image.Image]]:
    ramp = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None].repeat(height, 0).repeat(3, 2)
    image = Image.fromarray(ramp)
    return image, [Image.fromarray(np.roll(ramp, i * 4, axis=1)) for i in range(frames)]


def run_bench(args: argparse.Namespace) -> BenchFigures:
    import torch

    from videogen_runner.acceleration import apply_placement, placement_for, prepare_process
    from videogen_runner.generate import Generation, generate, import_pipeline_class, load_pipeline
    from videogen_runner.media import write_mp4

    started = time.perf_counter()
    folder = Path(args.model)
    if not (folder / "model_index.json").is_file() and args.model in PRESETS:
        folder = Path(args.cache_dir) / args.model
    random_preset = not (folder / "model_index.json").is_file()
    if random_preset and args.model not in PRESETS:
        raise SystemExit(f"{args.model}: neither a diffusers folder nor a preset ({', '.join(PRESETS)})")
    options = RuntimeOptions(
        device=args.device,
        compile=args.compile,
        compile_cache_dir=args.compile_cache_dir,
        attention_backend=args.attention_backend,
        offload="none" if random_preset else args.offload,
    )
    if random_preset:
        info = ModelInfo(path=folder, pipeline=model_pipeline(PRESETS[args.model]["class_name"]), components=())
    else:
        info = read_model_info(folder)
    pipeline_class = pipeline_class_for(info, Mode(args.mode))
    # The same grid the runner uses, so the figures are for what a job with these numbers would run.
    args.width = nearest_valid_side(args.width, info.family)
    args.height = nearest_valid_side(args.height, info.family)
    args.frames = nearest_valid_frames(args.frames, info.family)
    checkpoint = info.pipeline.checkpoint
    # Through the runner's own plan, at the model's native fps so the frames are the ones generated. Constructed,
    # not validated: the reference shapes (LTX's 161 frames) go beyond what a VideoJob may ask for.
    spec = VideoJobSpec.model_construct(
        mode=Mode(args.mode),
        prompt="a cat playing with a ball of yarn in the sun",
        negative_prompt="blurry, low quality",
        num_frames=args.frames,
        fps=checkpoint.native_fps or args.fps,
        width=args.width,
        height=args.height,
        seed=0,
        guidance_scale=args.guidance,
        num_inference_steps=args.steps,
        strength=1.0,
        speed=Speed(args.speed),
    )
    plan = make_plan(spec, info, options, detect_hardware(options.device), repo_id=args.model, revision=None, seed=0)
    placement = placement_for(plan, options)
    prepare_process(placement)

    t = time.perf_counter()
    import_pipeline_class(pipeline_class)
    import_s = time.perf_counter() - t
    t = time.perf_counter()
    if random_preset:
        pipe = build_random_pipeline(args.model, placement.device, placement.dtype)
        apply_placement(pipe, placement)
    else:
        pipe = load_pipeline(folder, pipeline_class, placement, plan.flow_shift)
    load_s = time.perf_counter() - t
    if placement.device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    flops = transformer_flops(pipe, info.family, args.width, args.height, args.frames)
    image, video = _synthetic_inputs(args.width, args.height, args.frames)
    used = plan.used
    gen = Generation(
        pipeline_class=pipeline_class,
        prompt="a cat playing with a ball of yarn in the sun",
        negative_prompt=plan.negative_prompt,
        used=used,
        image=image if args.mode == Mode.IMAGE_TO_VIDEO else None,
        video=video if args.mode == Mode.VIDEO_TO_VIDEO else None,
    )
    result = generate(pipe, gen, placement, lambda step, total: None)

    with tempfile.TemporaryDirectory() as tmp:
        mp4 = Path(tmp) / "bench.mp4"
        encode_mp4_s = None
        upload_s = None
        if importlib.util.find_spec("imageio_ffmpeg") is not None:
            t = time.perf_counter()
            write_mp4(result.frames, mp4, used.fps, source_fps=used.generated_fps)
            encode_mp4_s = time.perf_counter() - t
        if args.upload_bucket and encode_mp4_s is not None:
            from videogen_common.s3 import S3Settings, make_client

            client = make_client(S3Settings())
            t = time.perf_counter()
            client.upload_file(str(mp4), args.upload_bucket, "bench/bench.mp4")
            upload_s = time.perf_counter() - t
            client.delete_object(Bucket=args.upload_bucket, Key="bench/bench.mp4")
    total_s = time.perf_counter() - started

    forwards = 2 if used.guidance_scale > 1.0 else 1
    rate = matmul_rate(placement.device)
    floor = forwards * flops / rate
    median = statistics.median(result.step_seconds) if result.step_seconds else float("nan")
    denoise = result.timings["denoise"]
    return BenchFigures(
        model=args.model,
        device=_device_name(placement.device),
        weights="random" if random_preset else str(folder),
        pipeline=pipeline_class,
        width=args.width,
        height=args.height,
        frames=args.frames,
        steps=args.steps,
        speed=args.speed,
        attention_backend=placement.attention_backend,
        compiled=placement.compile,
        load="random weights built on the device" if random_preset else plan.load.why,
        import_s=import_s,
        load_s=load_s,
        encode_prompt_s=result.timings["encode-prompt"],
        first_step_s=result.step_seconds[0] if result.step_seconds else float("nan"),
        step_median_s=median,
        denoise_s=denoise,
        decode_s=result.timings["decode"],
        frames_to_host_s=result.timings["frames-to-host"],
        encode_mp4_s=encode_mp4_s,
        upload_s=upload_s,
        peak_memory_bytes=result.peak_memory_bytes,
        transformer_tflop_per_step=forwards * flops / 1e12,
        matmul_tflops=rate / 1e12,
        floor_step_s=floor,
        step_to_floor=median / floor,
        total_s=total_s,
        total_to_denoise=total_s / denoise if denoise else float("nan"),
    )


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


def build_parser() -> argparse.ArgumentParser:
    bench = argparse.ArgumentParser(
        prog="runner_bench.py",
        description="time load/encode/steps/decode/MP4/upload of one generation against the FLOP floor",
    )
    bench.add_argument("model", help=f"a diffusers folder or a preset: {', '.join(PRESETS)}")
    bench.add_argument("--cache-dir", default="/models", help="where presets' weights would be (default /models)")
    bench.add_argument("--mode", default=Mode.TEXT_TO_VIDEO.value, choices=[m.value for m in Mode])
    bench.add_argument("--width", type=int, default=832)
    bench.add_argument("--height", type=int, default=480)
    bench.add_argument("--frames", type=int, default=81)
    bench.add_argument("--fps", type=int, default=16)
    bench.add_argument("--steps", type=int, default=10)
    bench.add_argument("--guidance", type=float, default=5.0)
    bench.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    bench.add_argument("--offload", default="auto", choices=["auto", "none", "model", "group", "sequential"])
    bench.add_argument("--attention-backend", default="auto")
    bench.add_argument("--compile", action="store_true", help="torch.compile the repeated transformer blocks")
    bench.add_argument("--speed", default="quality", choices=[s.value for s in Speed], help="spec.speed preset")
    bench.add_argument(
        "--compile-cache-dir", help="persistent inductor/Triton cache folder (a second run shows the warm-cache cost)"
    )
    bench.add_argument("--upload-bucket", help="also time the upload to this bucket (S3 from VIDEOGEN_S3_*)")
    bench.add_argument("--json", action="store_true", help="one JSON line instead of a table")
    bench.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return bench


def main(argv: list[str] | None = None) -> int:
    # As in the runner's pods: progress bars and library chatter stay out of the runner's log lines (stderr).
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    print_figures(run_bench(args), args.json, 28)
    return 0


def print_figures(figures: Any, as_json: bool, width: int) -> None:
    """A figures dataclass as one JSON line, or one aligned `name: value` line per figure."""
    if as_json:
        print(json.dumps(asdict(figures)))
        return
    for key, value in asdict(figures).items():
        print(f"{key:>{width}}: {value:.4g}" if isinstance(value, float) else f"{key:>{width}}: {value}")


if __name__ == "__main__":
    sys.exit(main())
