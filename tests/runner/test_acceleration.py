"""Placement decisions made before any weight loads: offload from the weights' size, attention backend, compile.

Pure functions over a model folder's safetensors headers and the runtime options; the GPU is an argument
(``Hardware``), so the choices a GPU node makes are checked here without one.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
import torch

from videogen_common.families import PIPELINES, WAN21
from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.runner_contract import RuntimeOptions
from videogen_runner.acceleration import Placement, placement_for, prepare_process
from videogen_runner.errors import InvalidInputError
from videogen_runner.families import ModelInfo
from videogen_runner.plan import (
    GIB,
    Hardware,
    RunPlan,
    check_attention_backend,
    choose_attention,
    choose_offload,
    count_parameters,
    make_plan,
    memory_plan,
)

pytestmark = pytest.mark.runner


def write_header_only_safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    """A safetensors file whose header declares these tensors (the data is not there: only headers are read)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        size = 2
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


def wan_like(tmp_path: Path, transformer: int, text_encoder: int, vae: int) -> ModelInfo:
    """A model folder with these parameter counts per component (each as one [n] tensor)."""
    for component, count in (("transformer", transformer), ("text_encoder", text_encoder), ("vae", vae)):
        (tmp_path / component).mkdir()
        write_header_only_safetensors(tmp_path / component / "model.safetensors", {"weight": [count]})
    return ModelInfo(
        path=tmp_path,
        pipeline=PIPELINES["WanPipeline"],
        components=("transformer", "text_encoder", "vae", "tokenizer", "scheduler"),
    )


def test_parameters_are_counted_from_the_headers_of_every_shard(tmp_path: Path) -> None:
    write_header_only_safetensors(tmp_path / "a.safetensors", {"w": [1000, 30], "b": [30]})
    write_header_only_safetensors(tmp_path / "b.safetensors", {"w2": [7, 7, 2]})
    assert count_parameters(tmp_path) == 30_000 + 30 + 98


# A 1.3B transformer with a 5.7B text encoder (Wan2.1-T2V-1.3B's shape, in bf16: about 14 GB in all).
@pytest.mark.parametrize(
    ("gpu_gib", "expected"),
    [
        (80, "none"),  # everything fits with room for activations: no offload at all
        (16, "model"),  # the transformer and VAE fit with headroom, but not everything: each on the GPU in turn
        (4, "group"),  # not even the denoising set fits: blocks are streamed from host memory
    ],
)
def test_offload_is_chosen_from_the_weights_and_the_gpu_size(tmp_path: Path, gpu_gib: int, expected: str) -> None:
    info = wan_like(tmp_path, transformer=1_300_000_000, text_encoder=5_700_000_000, vae=127_000_000)
    assert choose_offload(memory_plan(info, gpu(gpu_gib), 832, 480, 81)) == expected


def test_larger_frames_need_more_room_before_offload_is_skipped(tmp_path: Path) -> None:
    info = wan_like(tmp_path, transformer=1_300_000_000, text_encoder=5_700_000_000, vae=127_000_000)
    assert choose_offload(memory_plan(info, gpu(24), 832, 480, 81)) == "none"
    assert choose_offload(memory_plan(info, gpu(24), 1280, 720, 161)) == "model"


def gpu(gib: int) -> Hardware:
    return Hardware(device="cuda", gpu_name="test GPU", gpu_memory_bytes=gib * GIB, capability=(9, 0))


def test_automatic_attention_on_the_cpu_is_pytorch_sdpa() -> None:
    assert choose_attention("auto", Hardware(device="cpu"), WAN21).value == "native"


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("flash_attention", "is not a diffusers attention backend"),
        ("_flash_3_hub", "runs offline"),
        ("flash", "cannot run in this image"),  # flash-attn is not installed in this environment
    ],
)
def test_attention_backends_the_image_cannot_run_are_refused_naming_the_setting(backend: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        choose_attention(backend, gpu(80), WAN21)
    assert "runner_runtime" in str(caught.value)


def test_an_installed_backend_is_accepted_as_asked() -> None:
    check_attention_backend("_native_cudnn")
    assert choose_attention("_native_cudnn", gpu(80), WAN21).value == "_native_cudnn"


def plan_for(info: ModelInfo, options: RuntimeOptions, hardware: Hardware) -> RunPlan:
    spec = VideoJobSpec.model_validate({"mode": "text-to-video", "prompt": "a cat", "numFrames": 9, "fps": 16})
    return make_plan(spec, info, options, hardware, repo_id="org/model", revision=None, seed=0)


def test_cpu_placement_is_float32_without_offload_and_compiles_only_when_asked(tmp_path: Path) -> None:
    info = wan_like(tmp_path, transformer=1000, text_encoder=1000, vae=100)
    cpu = Hardware(device="cpu")
    plain = placement_for(plan_for(info, RuntimeOptions(device="cpu"), cpu), RuntimeOptions(device="cpu"))
    assert (plain.device, plain.dtype, plain.offload, plain.compile) == ("cpu", torch.float32, "none", False)
    options = RuntimeOptions(device="cpu", compile=True, compile_cache_dir="/c")
    compiled = placement_for(plan_for(info, options, cpu), options)
    assert (compiled.compile, compiled.compile_cache_dir) == (True, "/c")


@pytest.mark.parametrize(("class_name", "float32"), [("WanPipeline", ("vae", "image_encoder")), ("LTXPipeline", ())])
def test_only_wan_keeps_its_vae_and_image_encoder_in_float32_on_the_gpu(
    tmp_path: Path, class_name: str, float32: tuple[str, ...]
) -> None:
    # Planned for a GPU this machine does not have: the hardware is an argument.
    components = ("transformer", "text_encoder", "vae", "image_encoder", "tokenizer", "scheduler")
    info = ModelInfo(path=tmp_path, pipeline=PIPELINES[class_name], components=components)
    options = RuntimeOptions(offload="none", attention_backend="native")
    placement = placement_for(plan_for(info, options, gpu(80)), options)
    assert (placement.dtype, placement.float32_components) == (torch.bfloat16, float32)


def compiled_placement(cache: Path) -> Placement:
    return Placement(
        device="cpu",
        dtype=torch.float32,
        float32_components=(),
        offload="none",
        attention_backend="native",
        compile=True,
        compile_cache_dir=str(cache),
        vae_tiling=False,
    )


def test_the_compile_cache_folder_replaces_torchs_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor_default")
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)
    prepare_process(compiled_placement(tmp_path / "cache"))
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "cache" / "inductor")
    assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "cache" / "triton")


def test_an_unwritable_compile_cache_leaves_torchs_default_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor_default")
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a folder cannot be made under a file, whoever runs this (root included)
    prepare_process(compiled_placement(blocker / "cache"))
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/tmp/torchinductor_default"
    assert "not writable" in caplog.text
