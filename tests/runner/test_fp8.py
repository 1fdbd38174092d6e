"""FP8 linear layers (``videogen_runner.fp8``) on a tiny Wan, on the CPU: which layers turn float8, and what that
does to the frames against ``quality`` on the same seed.

torchao refuses float8 dynamic quantization on a CPU by a check of its own (``_check_hardware_support``: CUDA
compute capability 8.9+); the float8 tensors it makes then run on the CPU through the same ``torch._scaled_mm`` op
as on a GPU (PyTorch's CPU kernel). These tests lift that one check. Speed is a GPU matter and is not measured here.
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.runner_contract import RuntimeOptions
from videogen_dev.smoke_weights import WAN_T2V, make_smoke_models
from videogen_runner.acceleration import Placement, apply_placement, placement_for
from videogen_runner.errors import RunnerError
from videogen_runner.families import read_model_info
from videogen_runner.fp8 import apply_fp8, fp8_layer_names
from videogen_runner.plan import hardware_from_flags, make_plan

pytestmark = pytest.mark.runner

# The tiny Wan's steps as the step-cache test runs them: 8 steps with guidance, 9 frames of 64x64, seed 3.
STEPS, GUIDANCE, SEED = 8, 5.0, 3


@pytest.fixture(scope="module")
def smoke_wan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    (folder,) = make_smoke_models(tmp_path_factory.mktemp("smoke"), [WAN_T2V])
    return folder


@pytest.fixture(scope="module")
def wide_wan(smoke_wan: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Wan with a transformer float8 matmuls can take: 2 heads of 16 (the smoke model's 12 make a width
    of 24, not a multiple of 16), feed-forward 64, and four blocks. The other components are the smoke model's."""
    diffusers: Any = importlib.import_module("diffusers")  # its model constructors carry no types
    folder = tmp_path_factory.mktemp("fp8") / "tiny-wan-t2v-wide"
    shutil.copytree(smoke_wan, folder, ignore=shutil.ignore_patterns("transformer"))
    config = json.loads((smoke_wan / "transformer" / "config.json").read_text())
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    config |= {"attention_head_dim": 16, "ffn_dim": 64, "num_layers": 4}
    torch.manual_seed(0)
    diffusers.WanTransformer3DModel(**config).save_pretrained(folder / "transformer")
    return folder


@pytest.fixture
def torchao_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchao.quantization import quant_api

    monkeypatch.setattr(quant_api, "_check_hardware_support", lambda _granularity: None)


def load_bf16_transformer(folder: Path) -> Any:
    """The pipeline with the transformer in bf16 as on a GPU (per-row float8 scales are made from bf16 weights; the
    modules diffusers keeps in float32 stay so), the VAE and text encoder in float32 (the CPU has no fast bf16)."""
    diffusers: Any = importlib.import_module("diffusers")
    dtypes = {"default": torch.bfloat16, "vae": torch.float32, "text_encoder": torch.float32}
    pipe = diffusers.WanPipeline.from_pretrained(folder, dtype=dtypes)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def frames_of(pipe: Any) -> np.ndarray:
    out = pipe(
        prompt="a red cube on a table",
        negative_prompt="blurry",
        height=64,
        width=64,
        num_frames=9,
        num_inference_steps=STEPS,
        guidance_scale=GUIDANCE,
        generator=torch.Generator().manual_seed(SEED),
        output_type="np",
    )
    frames: np.ndarray = np.clip(np.asarray(out.frames[0]) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def cpu_fp8_placement() -> Placement:
    return Placement(
        device="cpu",
        dtype=torch.bfloat16,
        float32_components=("vae", "text_encoder"),
        offload="none",
        attention_backend="native",
        compile=False,
        compile_cache_dir=None,
        vae_tiling=False,
        fp8=True,
    )


def test_the_plans_fp8_reaches_the_placement(wide_wan: Path) -> None:
    spec = VideoJobSpec.model_validate({"mode": "text-to-video", "prompt": "a cat", "speed": "balanced"})
    info = read_model_info(wide_wan)
    options = RuntimeOptions(offload="none")
    h200 = make_plan(spec, info, options, hardware_from_flags("H200", 141), repo_id="x/y", revision=None, seed=0)
    a100 = make_plan(spec, info, options, hardware_from_flags("A100", 80), repo_id="x/y", revision=None, seed=0)
    assert (placement_for(h200, options).fp8, placement_for(a100, options).fp8) == (True, False)


def test_fp8_turns_the_blocks_linear_layers_float8_and_its_frames_stay_close_to_quality(
    wide_wan: Path, torchao_on_the_cpu: None, record_property: Any
) -> None:
    from torchao.quantization import Float8Tensor

    quality = frames_of(load_bf16_transformer(wide_wan))

    pipe = load_bf16_transformer(wide_wan)
    transformer = pipe.transformer
    in_blocks = {
        f"blocks.{i}.{name}"
        for i, block in enumerate(transformer.blocks)
        for name, module in block.named_modules()
        if isinstance(module, torch.nn.Linear)
    }
    # Every Linear layer of the four blocks is 32 or 64 wide: all of them (attention q/k/v/out twice, the two
    # feed-forward layers: 10 per block).
    assert set(fp8_layer_names(transformer)) == in_blocks and len(in_blocks) == 40
    apply_placement(pipe, cpu_fp8_placement())
    layers = dict(transformer.named_modules())
    assert all(isinstance(layers[name].weight, Float8Tensor) for name in in_blocks)
    # The embedders and the output projection keep their precision (bf16; the timestep embedder float32).
    outside = [name for name, m in layers.items() if isinstance(m, torch.nn.Linear) and name not in in_blocks]
    assert "proj_out" in outside and any(name.startswith("condition_embedder.") for name in outside)
    assert all(type(layers[name].weight) is torch.nn.Parameter for name in outside)
    assert {layers[name].weight.dtype for name in outside} == {torch.bfloat16, torch.float32}

    fp8 = frames_of(pipe)
    db = psnr(fp8, quality)
    record_property("fp8_psnr_vs_quality_db", db)
    print(f"FP8 vs quality (bf16 transformer), same seed: PSNR {db:.1f} dB")
    # Float8 changes the numbers (so it ran), but not the picture.
    assert np.any(fp8 != quality)
    assert db > 25, db


def test_a_transformer_without_layers_float8_can_take_is_refused_rather_than_reported_as_fp8(smoke_wan: Path) -> None:
    pipe = load_bf16_transformer(smoke_wan)  # the smoke model: width 24, feed-forward 32
    assert fp8_layer_names(pipe.transformer) == []
    with pytest.raises(RunnerError, match="no Linear layer"):
        apply_fp8(pipe.transformer)
