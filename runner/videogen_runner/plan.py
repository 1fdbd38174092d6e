"""Every decision a run takes, made from the spec, the model folder's configs and the hardware, before any weight loads.

``videogen-runner plan`` prints a :class:`RunPlan` as JSON; ``run`` makes the same plan through the same function
(:func:`make_plan`) and then follows it, so what the plan says is what runs. The hardware is an argument
(:class:`Hardware`): a plan for an H200 can be made on a laptop. No torch import here; the attention check imports
diffusers' dispatch table (no weights).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from videogen_common.families import Checkpoint, FamilyName, GenerationShape, limits_problem
from videogen_common.families import is_distilled as named_distilled
from videogen_common.resources.videojob import Speed, VideoJobSpec
from videogen_common.resources.videojob_status import UsedParameters
from videogen_common.resources.videomodel import ModelOverrides
from videogen_common.runner_contract import RuntimeOptions
from videogen_common.weights import disk_dtypes, gpu_component_dtypes, read_record
from videogen_runner.errors import InvalidInputError, RunnerError
from videogen_runner.families import ModelInfo, pipeline_class_for
from videogen_runner.params import negative_prompt_for, resolve_used

GIB: Final = 1 << 30
# Above this many pixels per frame the VAE decodes in tiles whatever the memory estimate says.
_TILING_PIXELS: Final = 1280 * 720
# Parameters that stay resident while denoising (the text encoder is freed after encoding).
_DENOISE_COMPONENTS: Final = ("transformer", "vae", "image_encoder")
# VAE decode activations per output pixel-frame, untiled: LTX-Video's decode of 161 frames at 512x704 needs about
# 80 GB (1.4 kB per pixel-frame). Wan's causal VAE decodes one latent frame (4 video frames) at a time.
_DECODE_BYTES_PER_PIXEL_FRAME: Final = 1400
_DECODE_FRAMES_AT_ONCE: Final[dict[FamilyName, int | None]] = {FamilyName.WAN: 4, FamilyName.LTX: None}
# Attention backends that accept an attention mask (LTX's text cross-attention always passes one); the flash and
# sage kernels, and SDPA pinned to its flash or cuDNN kernel, refuse masks.
MASK_SAFE_BACKENDS: Final = frozenset({"native", "_native_efficient", "_native_math", "flex", "xformers"})
# Step caches per preset (diffusers' FirstBlockCache: skip the remaining blocks while the first block's residual
# changes less than the threshold; 0.05 is diffusers' conservative default).
_FIRST_BLOCK_CACHE_THRESHOLD: Final = {Speed.BALANCED: 0.05, Speed.FAST: 0.2}
# Compute capability of GPUs by name, for plans made away from the GPU (``--gpu``); FP8 needs 8.9 or newer.
_GPU_CAPABILITY: Final = (
    ("B200", (10, 0)),
    ("B100", (10, 0)),
    ("H200", (9, 0)),
    ("H100", (9, 0)),
    ("H800", (9, 0)),
    ("H20", (9, 0)),
    ("L40", (8, 9)),
    ("L4", (8, 9)),
    ("4090", (8, 9)),
    ("ADA", (8, 9)),
    ("A100", (8, 0)),
    ("A800", (8, 0)),
    ("A10", (8, 6)),
    ("A40", (8, 6)),
    ("A6000", (8, 6)),
    ("3090", (8, 6)),
    ("T4", (7, 5)),
    ("V100", (7, 0)),
)


@dataclass(frozen=True)
class Hardware:
    """Where the run would happen: ``cpu``, or ``cuda`` with the GPU's name, memory and compute capability."""

    device: str
    gpu_name: str | None = None
    gpu_memory_bytes: int | None = None
    capability: tuple[int, int] | None = None
    #: GPUs this process sees; None when planning away from the GPU (as many as spec.gpus asks for).
    gpu_count: int | None = None


def hardware_from_flags(gpu_name: str | None, gpu_memory_gib: float | None) -> Hardware:
    """The hardware named on the command line; unknown GPU names plan as compute capability 8.0 (no FP8, no FA3)."""
    if gpu_name is None:
        return Hardware(device="cpu")
    upper = gpu_name.upper()
    capability = next((cap for key, cap in _GPU_CAPABILITY if key in upper), (8, 0))
    memory = int(gpu_memory_gib * GIB) if gpu_memory_gib is not None else 80 * GIB
    return Hardware(device="cuda", gpu_name=gpu_name, gpu_memory_bytes=memory, capability=capability)


def detect_hardware(device_option: str) -> Hardware:
    """This machine's hardware, as ``RuntimeOptions.device`` allows it."""
    import torch

    if device_option == "cpu" or (device_option == "auto" and not torch.cuda.is_available()):
        return Hardware(device="cpu")
    props = torch.cuda.get_device_properties(0)
    return Hardware(
        device="cuda",
        gpu_name=str(props.name),
        gpu_memory_bytes=int(props.total_memory),
        capability=(int(props.major), int(props.minor)),
        gpu_count=torch.cuda.device_count(),
    )


@dataclass(frozen=True)
class Decision:
    """A choice and why it was taken."""

    value: Any
    why: str


@dataclass(frozen=True)
class MemoryPlan:
    """The estimate offload and VAE tiling were chosen from (bytes)."""

    gpu_bytes: int | None
    weights_bytes: int
    denoise_set_bytes: int
    activation_headroom_bytes: int
    vae_decode_bytes_untiled: int


@dataclass(frozen=True)
class RunPlan:
    """What a run will do; ``videogen-runner plan`` prints it, ``run`` follows it and publishes it in the metadata."""

    model: str
    checkpoint: str
    distilled: bool
    device: str
    gpu: str | None
    pipeline: str
    component_dtypes: dict[str, str]
    #: Where the weights are read to (``deviceMap``) and how they are stored on disk.
    load: Decision
    scheduler: str
    flow_shift: float | None
    timesteps: list[float] | None
    used: UsedParameters
    negative_prompt: str
    recommended: dict[str, Any]
    attention_backend: Decision
    offload: Decision
    compile: Decision
    vae_tiling: Decision
    step_cache: Decision
    fp8: Decision
    parallelism: Decision
    memory: MemoryPlan
    #: The VideoModel's ``spec.overrides`` of the model-family table, by field, each with the table's own value.
    overrides: dict[str, Decision] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def dtype(self) -> str:
        return "float32" if self.device == "cpu" else "bfloat16"

    @property
    def processes(self) -> int:
        """Processes that denoise together (one per GPU; 1 without context parallelism)."""
        value = self.parallelism.value
        return int(value["degree"]) if isinstance(value, dict) else 1

    @property
    def float32_components(self) -> tuple[str, ...]:
        return tuple(c for c, d in self.component_dtypes.items() if d == "float32" and self.dtype != "float32")

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["used"] = self.used.to_wire()
        return doc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def is_distilled(info: ModelInfo, repo_id: str) -> bool:
    """Whether the checkpoint is a guidance-distilled one: its repo id or folder says so (Lightricks name them
    ``...-distilled``; a Hub snapshot's folder keeps the repo name)."""
    return named_distilled(repo_id, str(info.path))


def count_parameters(folder: Path) -> int:
    """Parameters in a component folder, from the safetensors headers only (no tensor is read)."""
    import struct

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


def memory_plan(info: ModelInfo, hardware: Hardware, width: int, height: int, frames: int) -> MemoryPlan:
    bytes_per_param = 4 if hardware.device == "cpu" else 2
    params = {c: count_parameters(info.path / c) for c in info.components if (info.path / c).is_dir()}
    at_once = _DECODE_FRAMES_AT_ONCE[info.family.name] or frames
    return MemoryPlan(
        gpu_bytes=hardware.gpu_memory_bytes,
        weights_bytes=sum(params.values()) * bytes_per_param,
        denoise_set_bytes=sum(params.get(c, 0) for c in _DENOISE_COMPONENTS) * bytes_per_param,
        # A fixed part for the transformer plus a share that grows with the latent video.
        activation_headroom_bytes=4 * GIB + width * height * frames * 48,
        vae_decode_bytes_untiled=width * height * min(at_once, frames) * _DECODE_BYTES_PER_PIXEL_FRAME,
    )


def choose_offload(memory: MemoryPlan) -> str:
    """``none`` when everything fits with room for activations, ``model`` when the denoising set fits, else
    ``group`` (transformer blocks streamed from host memory, overlapped with compute)."""
    assert memory.gpu_bytes is not None
    usable = 0.9 * memory.gpu_bytes
    if memory.weights_bytes + memory.activation_headroom_bytes <= usable:
        return "none"
    if memory.denoise_set_bytes + memory.activation_headroom_bytes <= usable:
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


def _diffusers_accepts(name: str) -> bool:
    try:
        check_attention_backend(name)
    except InvalidInputError:
        return False
    return True


def choose_attention(requested: str, hardware: Hardware, checkpoint: Checkpoint) -> Decision:
    """``auto`` is PyTorch SDPA, or FlashAttention 3 on Hopper where diffusers itself accepts it (checked now, not
    after the load); never FlashAttention 2 (slower than SDPA on an H200: 1.68 vs 1.25 s/step on Wan 1.3B). A model
    whose attention is masked (LTX) always gets a backend that takes masks, whatever was asked."""
    if requested != "auto":
        check_attention_backend(requested)
        if checkpoint.masked_attention and requested not in MASK_SAFE_BACKENDS:
            return Decision("native", f"{requested} refuses attention masks, which {checkpoint.name} passes")
        return Decision(requested, "asked for (runtime.attentionBackend)")
    if hardware.device != "cuda":
        return Decision("native", "PyTorch SDPA (CPU)")
    if checkpoint.masked_attention:
        return Decision("native", f"{checkpoint.name} passes attention masks: PyTorch SDPA takes them")
    if hardware.capability is not None and hardware.capability[0] == 9 and _diffusers_accepts("_flash_3"):
        return Decision("_flash_3", "FlashAttention 3 on Hopper (diffusers accepts the installed flash_attn_3)")
    return Decision("native", "PyTorch SDPA (its own flash/cuDNN kernels for bf16)")


def choose_parallelism(gpus: int, info: ModelInfo, hardware: Hardware, used: UsedParameters, offload: str) -> Decision:
    """``spec.gpus`` > 1: one process per GPU (torchrun), the transformer context-parallel across them with
    diffusers' Ulysses attention (each process keeps the whole model, attends over all heads of its share of the
    tokens after an all-to-all). Ring attention needs a kernel that returns the log-sum-exp, which PyTorch SDPA
    does not (diffusers refuses it), so Ulysses it is. On a CPU (tests) the processes talk over gloo."""
    if gpus < 2:
        return Decision(1, "one process" if hardware.device == "cpu" else "one GPU (spec.gpus)")
    if hardware.device == "cuda" and hardware.gpu_count is not None and hardware.gpu_count < gpus:
        raise RunnerError(f"spec.gpus is {gpus} but this pod sees {hardware.gpu_count} GPUs")
    if offload != "none":
        return Decision(
            1,
            f"{offload} offload: context parallelism keeps the whole model on each GPU, which does not fit; "
            "one GPU denoises (set spec.gpus to 1 to leave the others free)",
        )
    heads = _read_json(info.path / "transformer" / "config.json").get("num_attention_heads")
    family = info.family
    frames = used.generated_frames or used.num_frames
    tokens = ((frames - 1) // family.frame_step + 1) * (used.width // family.side_multiple)
    tokens *= used.height // family.side_multiple
    even = isinstance(heads, int) and heads % gpus == 0 and tokens % gpus == 0
    where = "GPUs (NCCL)" if hardware.device == "cuda" else "CPU processes (gloo)"
    if not even and hardware.device != "cuda":
        # diffusers' uneven ("anything") Ulysses allocates its size exchange on CUDA.
        raise InvalidInputError(
            f"spec.gpus {gpus} on CPU processes needs the {heads} attention heads and the {tokens} video tokens to "
            f"divide by {gpus}: change spec.gpus, the size or the frames"
        )
    how = "evenly" if even else f"unevenly ({heads} heads, {tokens} tokens; diffusers' ulysses_anything)"
    return Decision(
        {"kind": "ulysses", "degree": gpus, "uneven": not even, "tokens": tokens},
        f"spec.gpus {gpus}: Ulysses context parallelism over {gpus} {where}, tokens split {how}",
    )


def choose_compile(
    options: RuntimeOptions, hardware: Hardware, offload: str, step_cache: str | None, parallel: bool = False
) -> Decision:
    """Compile the repeated blocks where it is safe: never over offload hooks (group offload marks its hooks
    ``torch.compiler.disable``, which fullgraph refuses), step-cache hooks (they branch on tensor values) or
    context-parallel hooks (their collectives are not traced with the blocks here; not verified, so not done)."""
    if options.compile is False:
        return Decision(False, "off (runtime.compile false)")
    if offload != "none":
        return Decision(False, f"never over {offload} offload hooks")
    if parallel:
        return Decision(False, "not over context-parallel hooks (compiling them is not verified)")
    if step_cache is not None:
        return Decision(False, "the step cache's hooks branch on tensor values, which fullgraph cannot trace")
    if options.compile is True:
        return Decision(True, "asked for (runtime.compile true)")
    if hardware.device != "cuda":
        return Decision(False, "auto: compiled on GPUs only (inductor's CPU compile costs more than it saves)")
    return Decision(True, "auto: regional compile of the repeated blocks, no offload")


def choose_step_cache(speed: Speed, info: ModelInfo, parallel: bool = False) -> Decision:
    """The preset's step cache, if the transformer has the two or more blocks FirstBlockCache needs; never under
    context parallelism, where each process would decide to skip from its own share of the tokens and the
    processes' collectives would no longer match."""
    threshold = _FIRST_BLOCK_CACHE_THRESHOLD.get(speed)
    if threshold is None:
        return Decision(None, "quality: every step computed in full")
    if parallel:
        return Decision(None, f"{speed}: no step cache under context parallelism (each process would skip alone)")
    layers = _read_json(info.path / "transformer" / "config.json").get("num_layers")
    if isinstance(layers, int) and layers < 2:
        return Decision(None, f"the transformer has {layers} block; FirstBlockCache needs two or more")
    return Decision({"kind": "FirstBlockCache", "threshold": threshold}, f"{speed} preset")


def choose_fp8(
    speed: Speed, hardware: Hardware, info: ModelInfo, offload: str, parallel: bool, compiled: Decision
) -> Decision:
    """FP8 linear layers (torchao float8 e4m3, per-row scales; :mod:`videogen_runner.fp8`) at balanced/fast, on GPUs
    with FP8 tensor cores (compute capability 8.9+), in the transformer's blocks. Applied before the compile when
    there is one (inductor then fuses the activations' quantization into the blocks), else run eager.

    Not over offload: the hooks move weights between host and GPU, and torchao's float8 tensors keep theirs inside
    (diffusers swaps those for group offload, pinned host copies depend on torchao); not verified here, and offload
    means memory was short, a case FP8's smaller weights would rather be planned into. Not under context
    parallelism either (not verified)."""
    if speed == Speed.QUALITY:
        return Decision(False, "quality: bf16")
    if hardware.device != "cuda" or hardware.capability is None or hardware.capability < (8, 9):
        return Decision(False, "this device has no FP8 tensor cores (compute capability 8.9+ needed)")
    if importlib.util.find_spec("torchao") is None:
        return Decision(False, "torchao is not installed: FP8 is not applied")
    if offload != "none":
        return Decision(False, f"not with {offload} offload (its hooks moving float8 weights are not verified)")
    if parallel:
        return Decision(False, "not under context parallelism (not verified)")
    config = _read_json(info.path / "transformer" / "config.json")
    heads, head_dim = config.get("num_attention_heads"), config.get("attention_head_dim")
    if isinstance(heads, int) and isinstance(head_dim, int) and (heads * head_dim) % 16:
        return Decision(False, f"the transformer's width {heads * head_dim} is not a multiple of 16 (float8 matmuls)")
    how = "compiled with the blocks" if compiled.value else f"eager ({compiled.why})"
    return Decision(
        True,
        f"{speed}: float8 Linear layers in the transformer's blocks, activations quantized per row as they come "
        f"(torchao); {how}",
    )


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if value is not None else "none"
    return text if len(text) <= 60 else text[:57] + "..."


def override_decisions(table: Checkpoint, overrides: ModelOverrides | None) -> dict[str, Decision]:
    """Each piece of the model-family table's knowledge the VideoModel replaced (``spec.overrides``), with the
    table's value it replaced: the plan says where every default and limit came from."""
    if overrides is None:
        return {}
    given = overrides.to_wire()
    return {
        name: Decision(given[name], f"VideoModel override ({table.name}'s own: {_shown(getattr(table, field))})")
        for name, field in overrides.checkpoint_fields().items()
    }


def choose_vae_tiling(option: str, width: int, height: int, offload: str, memory: MemoryPlan) -> Decision:
    if option != "auto":
        return Decision(option == "on", f"runtime.vaeTiling {option}")
    if width * height > _TILING_PIXELS:
        return Decision(True, "large frames")
    if offload != "none":
        return Decision(True, "offloading: the GPU is short of memory")
    if memory.gpu_bytes is not None and memory.vae_decode_bytes_untiled > 0.25 * memory.gpu_bytes:
        return Decision(True, "the untiled decode would need over a quarter of the GPU's memory")
    return Decision(False, "the untiled decode fits")


def _weight_components(info: ModelInfo) -> list[str]:
    # Tokenizers, schedulers and processors hold no weights.
    return [c for c in info.components if not c.startswith(("tokenizer", "scheduler")) and "processor" not in c]


def _component_dtypes(info: ModelInfo, hardware: Hardware) -> dict[str, str]:
    modules = _weight_components(info)
    if hardware.device == "cpu":
        return dict.fromkeys(modules, "float32")
    # The same decision the download pod stored the weights by (videogen_common.weights).
    return gpu_component_dtypes(info.family.name, modules)


def choose_load(info: ModelInfo, hardware: Hardware, offload: str) -> Decision:
    """On a GPU with nothing offloaded the weights are read straight onto it (diffusers' ``device_map``): no copy in
    host memory and no cast on the CPU, which bf16 weights on disk (stored so by the download) also spare. Otherwise
    into host memory, as offload hooks or a CPU run need them there."""
    on_disk = disk_dtypes(info.path, _weight_components(info))
    converted = read_record(info.path) is not None
    stored = (
        "weights stored in bf16 when the VideoModel was downloaded"
        if converted
        else "weights as the checkpoint has them"
    )
    value = {"deviceMap": None, "weightsOnDisk": on_disk, "convertedAtDownload": converted}
    if hardware.device == "cuda" and offload == "none":
        return Decision(value | {"deviceMap": "cuda"}, f"read straight onto the GPU (device_map); {stored}")
    if hardware.device == "cuda":
        return Decision(value, f"read into host memory for {offload} offload; {stored}")
    upcast = " (bf16 ones run as float32 on the CPU)" if "bfloat16" in on_disk.values() else ""
    return Decision(value, f"CPU: read into host memory; {stored}{upcast}")


def make_plan(
    spec: VideoJobSpec,
    info: ModelInfo,
    options: RuntimeOptions,
    hardware: Hardware,
    *,
    repo_id: str,
    revision: str | None,
    seed: int,
    overrides: ModelOverrides | None = None,
) -> RunPlan:
    """Every decision of a run; InvalidInputError for anything the model or this image cannot do. ``overrides``
    (the VideoModel's ``spec.overrides``) replace the model-family table's knowledge of the checkpoint."""
    pipeline_class = pipeline_class_for(info, spec.mode)
    distilled = is_distilled(info, repo_id) and info.pipeline.distilled is not None
    table = info.pipeline.checkpoint_for(distilled)
    checkpoint = overrides.apply_to(table) if overrides is not None else table
    used = resolve_used(spec, info, pipeline_class, checkpoint, repo_id=repo_id, revision=revision, seed=seed)
    generated = used.generated_frames or used.num_frames
    shape = GenerationShape(used.width, used.height, used.num_frames, generated, used.generated_fps or used.fps)
    # The same check the API makes at submit and the operator before it creates a pod (videogen_common.families).
    if problem := limits_problem(checkpoint, shape, num_frames=spec.num_frames, fps=spec.fps, gpus=spec.gpus):
        raise InvalidInputError(problem)
    scheduler_config = _read_json(info.path / "scheduler" / "scheduler_config.json")
    flow_shift = checkpoint.flow_shift_for(used.width, used.height) if "flow_shift" in scheduler_config else None
    notes = []
    if "flow_shift" in checkpoint.overrides and "flow_shift" not in scheduler_config:
        scheduler = scheduler_config.get("_class_name", "this scheduler")
        notes.append(f"spec.overrides.flowShift is not used: {scheduler} has no flow_shift (it shifts by itself)")

    memory = memory_plan(info, hardware, used.width, used.height, generated)
    if hardware.device == "cpu":
        offload = Decision("none", "CPU: the weights are in host memory already")
    elif options.offload != "auto":
        offload = Decision(options.offload, f"runtime.offload {options.offload}")
    else:
        offload = Decision(choose_offload(memory), "auto: from the weights' size and the GPU's memory")
    parallelism = choose_parallelism(spec.gpus, info, hardware, used, str(offload.value))
    parallel = parallelism.value != 1
    if parallel:
        used = used.model_copy(update={"context_parallel": parallelism.value["degree"]})
    step_cache = choose_step_cache(spec.speed, info, parallel)
    compiled = choose_compile(options, hardware, offload.value, step_cache.value, parallel)
    fp8 = choose_fp8(spec.speed, hardware, info, str(offload.value), parallel, compiled)
    used = used.model_copy(update={"fp8": bool(fp8.value)})
    if distilled:
        steps = len(checkpoint.distilled_timesteps or ())
        notes.append(f"distilled checkpoint: guidance 1 and its {steps} fixed timesteps replace the request's")
    if (used.generated_frames, used.generated_fps) != (used.num_frames, used.fps):
        notes.append(
            f"generated at the model's {used.generated_fps} fps, then retimed to {used.fps} fps by repeating or "
            "dropping frames at their timestamps (ffmpeg fps filter)"
        )
    return RunPlan(
        model=repo_id,
        checkpoint=checkpoint.name,
        distilled=distilled,
        device=hardware.device,
        gpu=hardware.gpu_name,
        pipeline=pipeline_class,
        component_dtypes=_component_dtypes(info, hardware),
        load=choose_load(info, hardware, str(offload.value)),
        scheduler=str(scheduler_config.get("_class_name", "")),
        flow_shift=flow_shift,
        timesteps=list(checkpoint.distilled_timesteps) if checkpoint.distilled_timesteps else None,
        used=used,
        negative_prompt=negative_prompt_for(spec, checkpoint),
        recommended={
            "guidanceScale": checkpoint.recommended_guidance_scale,
            "numInferenceSteps": checkpoint.recommended_steps,
            "nativeFps": checkpoint.native_fps,
        },
        attention_backend=choose_attention(options.attention_backend, hardware, checkpoint),
        offload=offload,
        compile=compiled,
        vae_tiling=choose_vae_tiling(options.vae_tiling, used.width, used.height, offload.value, memory),
        step_cache=step_cache,
        fp8=fp8,
        parallelism=parallelism,
        memory=memory,
        overrides=override_decisions(table, overrides),
        notes=notes,
    )
