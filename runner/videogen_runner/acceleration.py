"""Where and how a pipeline runs: device, dtypes, offload, attention kernel, torch.compile, VAE tiling.

The plan is made from the model folder and the GPU's size before any weight loads; :func:`apply_placement` then
puts the loaded pipeline on the hardware. On CPU everything is float32, nothing is offloaded, and compiling happens
only when asked for.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import torch

from videogen_common.families import FamilyName
from videogen_common.runner_contract import RuntimeOptions
from videogen_runner.errors import InvalidInputError
from videogen_runner.families import ModelInfo

log = logging.getLogger(__name__)

GIB: Final = 1 << 30
# Above this many pixels per frame the VAE decodes in tiles (its activations grow with the frame, not the model).
_TILING_PIXELS: Final = 1280 * 720
# Parameters that stay resident while denoising (the text encoder is freed after encoding).
_DENOISE_COMPONENTS: Final = ("transformer", "vae", "image_encoder")


@dataclass(frozen=True)
class Placement:
    """How to run; recorded in the metadata."""

    device: str
    dtype: torch.dtype
    #: Components kept in float32 even on the GPU (Wan's VAE and CLIP image encoder, as diffusers recommends).
    float32_components: tuple[str, ...]
    offload: str
    attention_backend: str
    compile: bool
    compile_cache_dir: str | None
    vae_tiling: bool

    def dtype_map(self) -> dict[str, torch.dtype]:
        """The ``dtype`` argument of ``from_pretrained``: per component, ``default`` for the rest."""
        return {"default": self.dtype, **dict.fromkeys(self.float32_components, torch.float32)}


def count_parameters(folder: Path) -> int:
    """Parameters in a component folder, from the safetensors headers only (no tensor is read)."""
    total = 0
    for file in folder.glob("*.safetensors"):
        with file.open("rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(header_len))
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for dim in entry["shape"]:
                count *= int(dim)
            total += count
    return total


def choose_offload(info: ModelInfo, gpu_total_bytes: int, bytes_per_param: int, frame_pixels: int, frames: int) -> str:
    """``none`` when everything fits with room for activations, ``model`` when the denoising set fits, else
    ``group`` (transformer blocks streamed from host memory, overlapped with compute)."""
    params = {c: count_parameters(info.path / c) for c in info.components if (info.path / c).is_dir()}
    everything = sum(params.values()) * bytes_per_param
    denoise_set = sum(params.get(c, 0) for c in _DENOISE_COMPONENTS) * bytes_per_param
    # Rough activation budget: a fixed part for the transformer plus the VAE decode, which scales with pixels.
    headroom = 4 * GIB + frame_pixels * frames * 48
    if everything + headroom <= 0.9 * gpu_total_bytes:
        return "none"
    if denoise_set + headroom <= 0.9 * gpu_total_bytes:
        return "model"
    return "group"


def check_attention_backend(name: str) -> None:
    """Refuse, before any weight loads, a backend diffusers does not have, one that would fetch its kernel from the
    Hugging Face Hub at run time (the runner is offline), or one whose package the image lacks."""
    from diffusers.models.attention_dispatch import AttentionBackendName, _check_attention_backend_requirements

    where = "runtime.attentionBackend (operator setting runner_runtime)"
    backends = {b.value: b for b in AttentionBackendName}
    if name not in backends:
        offline = sorted(v for v in backends if not v.endswith("_hub"))
        raise InvalidInputError(f"{where} {name!r} is not a diffusers attention backend; use auto or one of {offline}")
    if name.endswith("_hub"):
        raise InvalidInputError(
            f"{where} {name!r} downloads its kernel from the Hugging Face Hub when it runs, and the runner runs "
            f"offline: install the kernel's package in the runner image and name the backend without _hub"
        )
    try:
        _check_attention_backend_requirements(backends[name])
    except RuntimeError as err:
        raise InvalidInputError(f"{where} {name!r} cannot run in this image: {err}") from err


def choose_attention_backend(requested: str, device: str) -> str:
    """The fastest installed kernel: FlashAttention 3 on Hopper, then FlashAttention 2, else PyTorch SDPA."""
    if requested != "auto":
        check_attention_backend(requested)
        return requested
    if device != "cuda":
        return "native"
    major, _ = torch.cuda.get_device_capability()
    if major == 9 and importlib.util.find_spec("flash_attn_interface") is not None:
        return "_flash_3"
    if importlib.util.find_spec("flash_attn") is not None:
        return "flash"
    # SDPA itself dispatches to its flash/cuDNN kernels for bf16.
    return "native"


def plan_placement(options: RuntimeOptions, info: ModelInfo, width: int, height: int, frames: int) -> Placement:
    device = options.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return Placement(
            device="cpu",
            dtype=torch.float32,
            float32_components=(),
            offload="none",
            attention_backend=choose_attention_backend(options.attention_backend, "cpu"),
            # Honoured when asked for (inductor compiles C++ for the CPU): slow to compile, but it lets a machine
            # without a GPU run the same compile path and cache folder a GPU node uses.
            compile=options.compile,
            compile_cache_dir=options.compile_cache_dir,
            vae_tiling=options.vae_tiling == "on",
        )
    offload: str = options.offload
    if offload == "auto":
        total = torch.cuda.get_device_properties(0).total_memory
        offload = choose_offload(info, total, 2, width * height, frames)
    vae_tiling = options.vae_tiling == "on" or (
        options.vae_tiling == "auto" and (width * height > _TILING_PIXELS or offload != "none")
    )
    return Placement(
        device="cuda",
        dtype=torch.bfloat16,
        float32_components=("vae", "image_encoder") if info.family.name is FamilyName.WAN else (),
        offload=offload,
        attention_backend=choose_attention_backend(options.attention_backend, "cuda"),
        compile=options.compile,
        compile_cache_dir=options.compile_cache_dir,
        vae_tiling=vae_tiling,
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
        # TF32 for the float32 parts (the Wan VAE): same quality for video, several times the matmul rate.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
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
    if placement.compile:
        # Only the repeated transformer blocks: one compiled graph reused N times compiles in seconds, not minutes.
        pipe.transformer.compile_repeated_blocks(fullgraph=True)
    log.info(
        "placement: device=%s dtype=%s offload=%s attention=%s compile=%s vae_tiling=%s",
        placement.device,
        placement.dtype,
        placement.offload,
        placement.attention_backend,
        placement.compile,
        placement.vae_tiling,
    )


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so wall-clock timings measure the work and not the queueing."""
    if device == "cuda":
        torch.cuda.synchronize()


def peak_memory_bytes(device: str) -> int | None:
    return int(torch.cuda.max_memory_allocated()) if device == "cuda" else None
