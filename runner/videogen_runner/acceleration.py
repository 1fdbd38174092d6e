"""Putting a loaded pipeline on the hardware the way the plan (:mod:`videogen_runner.plan`) decided: device,
dtypes, offload, attention kernel, step cache, torch.compile, VAE tiling; and the process-wide switches before it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from videogen_common.runner_contract import RuntimeOptions
from videogen_runner.plan import RunPlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """How to run, as the plan decided it (:func:`placement_for`)."""

    device: str
    dtype: torch.dtype
    #: Components kept in float32 even on the GPU (Wan's VAE and CLIP image encoder, as diffusers recommends).
    float32_components: tuple[str, ...]
    offload: str
    attention_backend: str
    compile: bool
    compile_cache_dir: str | None
    vae_tiling: bool
    #: diffusers' FirstBlockCache threshold (spec.speed balanced/fast), or None for every step in full.
    first_block_cache: float | None = None
    #: FP8 Linear layers in the transformer's blocks (videogen_runner.fp8; spec.speed balanced/fast on FP8 GPUs).
    fp8: bool = False
    #: ``from_pretrained``'s ``device_map``: "cuda" reads the weights straight onto the GPU; None into host memory.
    device_map: str | None = None

    def dtype_map(self) -> dict[str, torch.dtype]:
        """The ``dtype`` argument of ``from_pretrained``: per component, ``default`` for the rest."""
        return {"default": self.dtype, **dict.fromkeys(self.float32_components, torch.float32)}


def placement_for(plan: RunPlan, options: RuntimeOptions) -> Placement:
    """The plan's hardware decisions as torch objects."""
    cache = plan.step_cache.value
    return Placement(
        device=plan.device,
        dtype=torch.float32 if plan.dtype == "float32" else torch.bfloat16,
        float32_components=plan.float32_components,
        offload=str(plan.offload.value),
        attention_backend=str(plan.attention_backend.value),
        compile=bool(plan.compile.value),
        compile_cache_dir=options.compile_cache_dir,
        vae_tiling=bool(plan.vae_tiling.value),
        first_block_cache=float(cache["threshold"]) if cache is not None else None,
        fp8=bool(plan.fp8.value),
        device_map=plan.load.value["deviceMap"],
    )


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def prepare_process(placement: Placement) -> None:
    """Process-wide switches, before any model is built."""
    if placement.device == "cuda":
        # TF32 for the float32 parts (the Wan VAE): same quality for video, several times the matmul rate. Only
        # torch >= 2.9's fp32_precision API: mixed with the legacy allow_tf32 flags, inductor refuses to compile.
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "tf32"  # type: ignore[attr-defined]
        torch.backends.cudnn.benchmark = True
    if placement.compile and placement.compile_cache_dir:
        cache = Path(placement.compile_cache_dir)
        if not _writable(cache):
            # A cache is an optimization: without it the job still compiles (in /tmp) and runs.
            log.warning(
                "compile cache %s is not writable by uid %d: compiling without a persistent cache (make the folder "
                "writable for the runner's user)",
                cache,
                os.getuid(),
            )
            return
        # On the model cache volume, so each node compiles a model once, not each job. Assigned, not defaulted:
        # importing torch already sets TORCHINDUCTOR_CACHE_DIR to its /tmp default, and inductor and Triton read
        # these variables again when they first write.
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache / "inductor")
        os.environ["TRITON_CACHE_DIR"] = str(cache / "triton")
        os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
        os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")


def compile_artifacts_file(placement: Placement, key: str) -> Path | None:
    """Where the compiled graphs of this (model, shape, torch version) are kept in the compile cache folder, or
    None when nothing is compiled or there is no (writable) folder."""
    if not placement.compile or not placement.compile_cache_dir:
        return None
    folder = Path(placement.compile_cache_dir) / "artifacts"
    if not _writable(folder):
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{key}-torch{torch.__version__}")
    return folder / f"{safe}.bin"


def load_compile_artifacts(path: Path | None) -> bool:
    """Seed torch.compile's caches from an earlier job of the same model and shape (a node compiles each shape once,
    and a new pod's empty /tmp caches do not matter); False when there is none."""
    if path is None or not path.is_file():
        return False
    try:
        torch.compiler.load_cache_artifacts(path.read_bytes())
    except Exception as e:
        # A cache: a broken or foreign file costs a compile, never the job.
        log.warning("compile artifacts %s not loaded (%s): compiling afresh", path, e)
        return False
    log.info("compile artifacts loaded from %s", path)
    return True


def save_compile_artifacts(path: Path | None) -> None:
    """Keep what this job compiled for the next one (written to a temporary name, then renamed: a reader never sees
    half a file)."""
    if path is None:
        return
    saved = torch.compiler.save_cache_artifacts()
    if saved is None:
        return
    partial = path.with_suffix(f".{os.getpid()}.partial")
    try:
        partial.write_bytes(saved[0])
        partial.replace(path)
    except OSError as e:
        log.warning("compile artifacts not saved to %s: %s", path, e)
        return
    log.info("compile artifacts saved to %s", path)


def apply_placement(pipe: Any, placement: Placement) -> None:
    """Move the loaded pipeline onto its device the planned way."""
    if placement.attention_backend != "native":
        pipe.transformer.set_attention_backend(placement.attention_backend)
    if placement.offload == "none":
        pipe.to(placement.device)
    elif placement.offload == "model":
        pipe.enable_model_cpu_offload()
    elif placement.offload == "sequential":
        pipe.enable_sequential_cpu_offload()
    else:
        pipe.enable_group_offload(
            onload_device=torch.device("cuda"),
            offload_device=torch.device("cpu"),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=True,
        )
    if placement.vae_tiling:
        pipe.vae.enable_tiling()
    if placement.fp8:
        from videogen_runner.fp8 import apply_fp8

        # On the device already (quantizing there is fast), before the cache hooks and the compile.
        apply_fp8(pipe.transformer)
    if placement.first_block_cache is not None:
        from diffusers.hooks.first_block_cache import FirstBlockCacheConfig

        pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=placement.first_block_cache))
    if placement.compile:
        # Only the repeated transformer blocks: one compiled graph reused N times compiles in seconds, not minutes.
        pipe.transformer.compile_repeated_blocks(fullgraph=True)
    log.info(
        "placement: device=%s dtype=%s offload=%s attention=%s compile=%s vae_tiling=%s first_block_cache=%s fp8=%s",
        placement.device,
        placement.dtype,
        placement.offload,
        placement.attention_backend,
        placement.compile,
        placement.vae_tiling,
        placement.first_block_cache,
        placement.fp8,
    )


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so wall-clock timings measure the work and not the queueing."""
    if device == "cuda":
        torch.cuda.synchronize()


def peak_memory_bytes(device: str) -> int | None:
    return int(torch.cuda.max_memory_allocated()) if device == "cuda" else None
