"""``videogen-runner plan`` on the real checkpoints' model folders, without their weights.

Each folder holds what the real repos' ``model_index.json`` and component configs say (class names, scheduler,
block count) and, where the memory plan matters, safetensors headers declaring the real parameter counts. The plan
is what ``run`` follows, so these pin what a GPU node would do with Wan2.1 and LTX-Video 0.9.0-0.9.8.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from videogen_common.families import LTX_095_DISTILLED
from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.resources.videomodel import ModelOverrides
from videogen_common.runner_contract import ExitCode, RuntimeOptions
from videogen_runner.errors import InvalidInputError
from videogen_runner.families import read_model_info
from videogen_runner.plan import Hardware, RunPlan, hardware_from_flags, make_plan

pytestmark = pytest.mark.runner

WAN_NEGATIVE_START = "色调艳丽"
LTX_NEGATIVE = "worst quality, inconsistent motion, blurry, jittery, distorted"


def write_header_only_safetensors(path: Path, count: int) -> None:
    """A safetensors file declaring one bf16 tensor of ``count`` parameters (only headers are ever read)."""
    header = {"weight": {"dtype": "BF16", "shape": [count], "data_offsets": [0, 2 * count]}}
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)


# What the real repos' model_index.json list (library, class) per component, and the parameter counts.
WAN_T2V_13B = {
    "_class_name": "WanPipeline",
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"],
    "transformer": ["diffusers", "WanTransformer3DModel"],
    "vae": ["diffusers", "AutoencoderKLWan"],
    "scheduler": ["diffusers", "UniPCMultistepScheduler"],
}
WAN_I2V_14B = {
    **WAN_T2V_13B,
    "_class_name": "WanImageToVideoPipeline",
    "image_encoder": ["transformers", "CLIPVisionModel"],
    "image_processor": ["transformers", "CLIPImageProcessor"],
}
LTX = {
    "_class_name": "LTXPipeline",
    "text_encoder": ["transformers", "T5EncoderModel"],
    "tokenizer": ["transformers", "T5Tokenizer"],
    "transformer": ["diffusers", "LTXVideoTransformer3DModel"],
    "vae": ["diffusers", "AutoencoderKLLTXVideo"],
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
}
LTX_CONDITION = {**LTX, "_class_name": "LTXConditionPipeline"}

PARAMETERS = {
    "WanPipeline": {"transformer": 1_418_000_000, "text_encoder": 5_680_000_000, "vae": 127_000_000},
    "WanImageToVideoPipeline": {
        "transformer": 16_400_000_000,
        "text_encoder": 5_680_000_000,
        "vae": 127_000_000,
        "image_encoder": 632_000_000,
    },
    "LTXPipeline": {"transformer": 1_920_000_000, "text_encoder": 4_760_000_000, "vae": 419_000_000},
    "LTXConditionPipeline": {"transformer": 13_000_000_000, "text_encoder": 4_760_000_000, "vae": 419_000_000},
}


def model_folder(root: Path, name: str, index: dict[str, Any], layers: int) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps(index))
    scheduler = folder / "scheduler"
    scheduler.mkdir()
    if index["_class_name"].startswith("Wan"):
        config = {"_class_name": "UniPCMultistepScheduler", "flow_shift": 3.0, "use_flow_sigmas": True}
    else:
        config = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 1.0, "use_dynamic_shifting": False}
    (scheduler / "scheduler_config.json").write_text(json.dumps(config))
    for component, count in PARAMETERS[index["_class_name"]].items():
        (folder / component).mkdir()
        write_header_only_safetensors(folder / component / "model.safetensors", count)
    (folder / "transformer" / "config.json").write_text(json.dumps({"num_layers": layers}))
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "wan-t2v": model_folder(root, "Wan2.1-T2V-1.3B-Diffusers", WAN_T2V_13B, 30),
        "wan-i2v": model_folder(root, "Wan2.1-I2V-14B-480P-Diffusers", WAN_I2V_14B, 40),
        "ltx": model_folder(root, "LTX-Video", LTX, 28),
        "ltx-097": model_folder(root, "LTX-Video-0.9.7-dev", LTX_CONDITION, 48),
        "ltx-097-distilled": model_folder(root, "LTX-Video-0.9.7-distilled", LTX_CONDITION, 48),
    }


H200 = hardware_from_flags("NVIDIA H200", 141)


def plan(
    folder: Path,
    mode: str = "text-to-video",
    hardware: Hardware = H200,
    runtime: RuntimeOptions | None = None,
    overrides: dict[str, Any] | None = None,
    **fields: Any,
) -> RunPlan:
    doc: dict[str, Any] = {"mode": mode, "prompt": "a cat", **fields}
    if mode != "text-to-video":
        doc["input"] = {"uri": "s3://inputs/in.png"}
    spec = VideoJobSpec.model_validate(doc)
    info = read_model_info(folder)
    return make_plan(
        spec,
        info,
        runtime or RuntimeOptions(),
        hardware,
        repo_id=folder.name,
        revision=None,
        seed=1,
        overrides=ModelOverrides.model_validate(overrides) if overrides is not None else None,
    )


@pytest.mark.parametrize(
    ("model", "mode", "pipeline"),
    [
        ("wan-t2v", "text-to-video", "WanPipeline"),
        ("wan-t2v", "video-to-video", "WanVideoToVideoPipeline"),
        ("wan-i2v", "image-to-video", "WanImageToVideoPipeline"),
        ("ltx", "text-to-video", "LTXPipeline"),
        ("ltx", "image-to-video", "LTXImageToVideoPipeline"),
        ("ltx", "video-to-video", "LTXConditionPipeline"),
        ("ltx-097", "text-to-video", "LTXConditionPipeline"),
        ("ltx-097", "image-to-video", "LTXConditionPipeline"),
        ("ltx-097", "video-to-video", "LTXConditionPipeline"),
        ("ltx-097-distilled", "text-to-video", "LTXConditionPipeline"),
        ("ltx-097-distilled", "image-to-video", "LTXConditionPipeline"),
    ],
)
def test_pipeline_per_mode_follows_the_model_index_class(
    folders: dict[str, Path], model: str, mode: str, pipeline: str
) -> None:
    assert plan(folders[model], mode).pipeline == pipeline


def test_wan_keeps_its_vae_and_image_encoder_in_float32_and_nothing_else_on_the_gpu(folders: dict[str, Path]) -> None:
    assert plan(folders["wan-i2v"], "image-to-video").component_dtypes == {
        "text_encoder": "bfloat16",
        "transformer": "bfloat16",
        "vae": "float32",
        "image_encoder": "float32",
    }
    assert set(plan(folders["ltx"]).component_dtypes.values()) == {"bfloat16"}
    assert set(plan(folders["ltx"], hardware=Hardware("cpu")).component_dtypes.values()) == {"float32"}


def test_wan_generates_at_16_fps_for_the_requested_duration_and_ltx_at_the_requested_fps(
    folders: dict[str, Path],
) -> None:
    wan = plan(folders["wan-t2v"], numFrames=48, fps=24).used
    # 48 frames at 24 fps are 2 s: 33 frames (4k+1) at 16 fps cover them; the video has the 48 asked for.
    assert (wan.generated_frames, wan.generated_fps, wan.num_frames, wan.fps) == (33, 16, 48, 24)
    native = plan(folders["wan-t2v"], numFrames=48, fps=16).used
    assert (native.generated_frames, native.num_frames) == (49, 49)
    ltx = plan(folders["ltx"], numFrames=64, fps=24).used
    assert (ltx.generated_frames, ltx.generated_fps, ltx.num_frames, ltx.fps) == (65, 24, 65, 24)


def test_request_guidance_and_steps_win_and_the_models_recommendations_are_reported(
    folders: dict[str, Path],
) -> None:
    wan = plan(folders["wan-t2v"])
    assert (wan.used.guidance_scale, wan.used.num_inference_steps) == (7.5, 50)  # the reference API's defaults
    assert wan.recommended == {"guidanceScale": 5.0, "numInferenceSteps": 50, "nativeFps": 16}
    asked = plan(folders["ltx-097"], guidanceScale=4.0, numInferenceSteps=30).used
    assert (asked.guidance_scale, asked.num_inference_steps) == (4.0, 30)
    assert plan(folders["ltx-097"]).timesteps is None


def test_a_distilled_ltx_runs_its_own_timesteps_without_guidance(folders: dict[str, Path]) -> None:
    distilled = plan(folders["ltx-097-distilled"], guidanceScale=7.5, numInferenceSteps=50)
    assert distilled.distilled
    assert distilled.timesteps == list(LTX_095_DISTILLED.distilled_timesteps or ())
    assert (distilled.used.guidance_scale, distilled.used.num_inference_steps) == (1.0, 8)


def test_an_empty_negative_prompt_means_the_models_standard_one(folders: dict[str, Path]) -> None:
    wan = plan(folders["wan-t2v"])
    assert wan.negative_prompt.startswith(WAN_NEGATIVE_START)
    assert wan.used.negative_prompt_source == "model"
    assert plan(folders["ltx"]).negative_prompt == LTX_NEGATIVE
    own = plan(folders["ltx"], negativePrompt="rain")
    assert (own.negative_prompt, own.used.negative_prompt_source) == ("rain", "request")


def test_wan_flow_shift_is_3_at_480p_and_5_at_720p(folders: dict[str, Path]) -> None:
    assert plan(folders["wan-t2v"], width=832, height=480).flow_shift == 3.0
    assert plan(folders["wan-i2v"], "image-to-video", width=1280, height=720).flow_shift == 5.0
    # LTX's scheduler has no flow_shift: it shifts by resolution itself.
    assert plan(folders["ltx"], width=704, height=512).flow_shift is None


@pytest.mark.parametrize("model", ["ltx", "ltx-097", "ltx-097-distilled"])
@pytest.mark.parametrize("asked", ["auto", "_native_flash", "_native_cudnn"])
def test_masked_attention_never_runs_on_a_backend_that_refuses_masks(
    folders: dict[str, Path], model: str, asked: str
) -> None:
    chosen = plan(folders[model], runtime=RuntimeOptions(attention_backend=asked)).attention_backend
    assert chosen.value == "native", chosen


def test_automatic_attention_is_sdpa_unless_diffusers_accepts_flash_attention_3(folders: dict[str, Path]) -> None:
    # flash_attn_3 is not installed here, so diffusers refuses _flash_3 and auto must not pick it (nor FA2, ever).
    chosen = plan(folders["wan-t2v"]).attention_backend
    assert chosen.value == "native", chosen
    asked = plan(folders["wan-t2v"], runtime=RuntimeOptions(attention_backend="_native_flash")).attention_backend
    assert asked.value == "_native_flash"


def test_flash_attention_3_is_chosen_only_on_hopper_where_diffusers_accepts_it_and_never_for_ltx(
    folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from videogen_runner import plan as plan_module

    # As on an image with flash_attn_3 installed: diffusers' own requirement check passes for _flash_3 only.
    monkeypatch.setattr(plan_module, "_diffusers_accepts", lambda name: name == "_flash_3")
    assert plan(folders["wan-t2v"]).attention_backend.value == "_flash_3"
    ada = hardware_from_flags("NVIDIA L40S", 48)
    assert plan(folders["wan-t2v"], hardware=ada).attention_backend.value == "native"
    assert plan(folders["ltx-097"]).attention_backend.value == "native"


def test_compile_is_on_by_default_on_a_gpu_without_offload_and_never_over_offload(folders: dict[str, Path]) -> None:
    roomy = plan(folders["wan-t2v"], width=832, height=480, numFrames=81, fps=16)
    assert (roomy.offload.value, roomy.compile.value) == ("none", True)
    # The 14B I2V model on a 24 GB card: its blocks stream from host memory, so no compile even when asked.
    small_card = hardware_from_flags("NVIDIA L4", 24)
    tight = plan(folders["wan-i2v"], "image-to-video", small_card, RuntimeOptions(compile=True))
    assert tight.offload.value == "group"
    assert tight.compile.value is False and "offload" in tight.compile.why
    cpu = plan(folders["wan-t2v"], hardware=Hardware("cpu"))
    assert (cpu.offload.value, cpu.compile.value) == ("none", False)


def test_a_long_ltx_decode_is_tiled_below_a_big_card(folders: dict[str, Path]) -> None:
    # 121 frames at 512x704 (the spec allows 128): about 61 GB to decode untiled.
    l40s = hardware_from_flags("NVIDIA L40S", 48)
    ltx = plan(folders["ltx"], hardware=l40s, width=704, height=512, numFrames=121, fps=24)
    assert ltx.vae_tiling.value is True
    wan = plan(folders["wan-t2v"], hardware=hardware_from_flags("NVIDIA L40S", 48), width=832, height=480)
    assert wan.vae_tiling.value is False  # Wan's causal VAE decodes a few frames at a time


def test_speed_presets_choose_a_step_cache_and_fp8_only_where_it_can_run(folders: dict[str, Path]) -> None:
    quality = plan(folders["wan-t2v"])
    assert (quality.step_cache.value, quality.fp8.value, quality.used.speed) == (None, False, "quality")
    balanced = plan(folders["wan-t2v"], speed="balanced")
    fast = plan(folders["wan-t2v"], speed="fast")
    assert balanced.step_cache.value == {"kind": "FirstBlockCache", "threshold": 0.05}
    assert fast.step_cache.value == {"kind": "FirstBlockCache", "threshold": 0.2}
    # The cache's hooks branch on tensor values: no fullgraph compile over them.
    assert fast.compile.value is False
    assert fast.parallelism.value == 1


def test_fp8_runs_at_balanced_and_fast_on_gpus_with_fp8_tensor_cores_only(folders: dict[str, Path]) -> None:
    quality, balanced = plan(folders["wan-t2v"]), plan(folders["wan-t2v"], speed="balanced")
    assert (quality.fp8.value, quality.used.fp8) == (False, False)
    assert (balanced.fp8.value, balanced.used.fp8) == (True, True)
    assert "float8 Linear layers in the transformer's blocks" in balanced.fp8.why
    # The step cache keeps the compile off at balanced: FP8 then runs eager, and the plan says so.
    assert "eager" in balanced.fp8.why
    for gpu in ("NVIDIA A100-SXM4-80GB", "Tesla T4"):
        older = plan(folders["wan-t2v"], hardware=hardware_from_flags(gpu, 80), speed="fast")
        assert (older.fp8.value, older.used.fp8) == (False, False)
        assert "8.9" in older.fp8.why
    assert plan(folders["ltx-097"], hardware=hardware_from_flags("NVIDIA L40S", 48), speed="fast").fp8.value is True
    cpu = plan(folders["wan-t2v"], hardware=Hardware("cpu"), speed="fast").fp8
    assert cpu.value is False and "8.9" in cpu.why


def test_fp8_is_compiled_with_the_blocks_where_the_plan_compiles_and_never_over_offload(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    # No step cache (a one-block transformer has nothing to skip): compiled, FP8 inside the compiled blocks.
    one_block = model_folder(tmp_path, "Wan2.1-one-block", WAN_T2V_13B, 1)
    compiled = plan(one_block, speed="balanced", width=832, height=480, numFrames=81, fps=16)
    assert (compiled.compile.value, compiled.fp8.value) == (True, True)
    assert "compiled with the blocks" in compiled.fp8.why
    # The 14B model on a 24 GB Ada card needs group offload: no FP8 over its hooks.
    l4 = hardware_from_flags("NVIDIA L4", 24)
    offloaded = plan(folders["wan-i2v"], "image-to-video", l4, speed="balanced")
    assert offloaded.offload.value == "group"
    assert offloaded.fp8.value is False and "group offload" in offloaded.fp8.why


def test_fp8_is_off_for_a_transformer_whose_width_float8_matmuls_cannot_take(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, "narrow-wan", WAN_T2V_13B, 4)
    config = {"num_layers": 4, "num_attention_heads": 2, "attention_head_dim": 12}
    (folder / "transformer" / "config.json").write_text(json.dumps(config))
    narrow = plan(folder, speed="fast").fp8
    assert narrow.value is False and "width 24 is not a multiple of 16" in narrow.why


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"width": 2048, "height": 2048}, "wan2.1 runs at most 921600"),
        ({"numFrames": 64, "fps": 4}, "makes at most 129 frames"),  # 16 s of video is 257 frames at Wan's 16 fps
    ],
)
def test_sizes_and_durations_beyond_the_checkpoint_are_invalid_input(
    folders: dict[str, Path], fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        plan(folders["wan-t2v"], **fields)


# A Wan fine-tune trained on 24 fps clips at 1080p, with its own recommendations, negative prompt and shift.
FINE_TUNE = {
    "nativeFps": 24,
    "recommendedGuidanceScale": 6.0,
    "recommendedNumInferenceSteps": 30,
    "negativePrompt": "static, blurry",
    "flowShift": [{"minPixels": 1024 * 576, "shift": 7.0}, {"minPixels": 0, "shift": 2.0}],
    "maxPixels": 1920 * 1088,
    "maxFrames": 161,
}


def test_a_videomodels_overrides_replace_the_tables_knowledge_and_the_plan_says_so(folders: dict[str, Path]) -> None:
    tuned = plan(folders["wan-t2v"], overrides=FINE_TUNE, numFrames=48, fps=24, width=832, height=480)
    # Its native 24 fps: 48 frames at 24 fps are generated as such (49 on Wan's 4k+1 grid), no retime.
    assert (tuned.used.generated_frames, tuned.used.generated_fps, tuned.used.num_frames) == (49, 24, 49)
    assert tuned.recommended == {"guidanceScale": 6.0, "numInferenceSteps": 30, "nativeFps": 24}
    assert (tuned.negative_prompt, tuned.used.negative_prompt_source) == ("static, blurry", "model")
    assert tuned.flow_shift == 2.0
    assert plan(folders["wan-t2v"], overrides=FINE_TUNE, width=1280, height=720).flow_shift == 7.0
    # Each override is reported with the table's value it replaced.
    assert set(tuned.overrides) == set(FINE_TUNE)
    assert tuned.overrides["nativeFps"].value == 24
    assert tuned.overrides["nativeFps"].why == "VideoModel override (wan2.1's own: 16)"
    assert tuned.overrides["maxPixels"].why == "VideoModel override (wan2.1's own: 921600)"
    assert all(d.why.startswith("VideoModel override") for d in tuned.overrides.values())
    assert tuned.to_json()["overrides"]["flowShift"]["value"][0] == {"minPixels": 1024 * 576, "shift": 7.0}
    # Without overrides: the table's knowledge, and nothing reported as overridden.
    assert plan(folders["wan-t2v"], width=832, height=480).overrides == {}


def test_the_requests_own_values_win_over_a_videomodels_overrides(folders: dict[str, Path]) -> None:
    asked = plan(
        folders["wan-t2v"], overrides=FINE_TUNE, guidanceScale=4.0, numInferenceSteps=20, negativePrompt="rain"
    )
    assert (asked.used.guidance_scale, asked.used.num_inference_steps) == (4.0, 20)
    assert (asked.negative_prompt, asked.used.negative_prompt_source) == ("rain", "request")
    # The reference API's defaults are the request's values too: the recommendation is only reported.
    defaults = plan(folders["wan-t2v"], overrides=FINE_TUNE)
    assert (defaults.used.guidance_scale, defaults.used.num_inference_steps) == (7.5, 50)
    # An empty standard negative prompt runs none.
    assert plan(folders["ltx"], overrides={"negativePrompt": ""}).negative_prompt == ""


def test_overridden_limits_are_the_ones_the_plan_refuses_by_naming_the_videomodel(folders: dict[str, Path]) -> None:
    # Beyond the table's 1280x720 and 129 frames, within the VideoModel's.
    wide = plan(folders["wan-t2v"], overrides=FINE_TUNE, width=1920, height=1080, numFrames=128, fps=20)
    assert (wide.used.width, wide.used.height, wide.used.generated_frames) == (1920, 1088, 157)
    small = {"maxPixels": 832 * 480, "maxFrames": 49}
    with pytest.raises(InvalidInputError, match=r"at most 399360 \(the VideoModel's spec.overrides.maxPixels\)"):
        plan(folders["wan-t2v"], overrides=small, width=1280, height=720)
    with pytest.raises(InvalidInputError, match=r"at most 49 frames \(the VideoModel's spec.overrides.maxFrames\)"):
        plan(folders["wan-t2v"], overrides=small, width=832, height=480, numFrames=81, fps=16)


def test_a_flow_shift_override_on_a_scheduler_without_one_is_reported_unused(folders: dict[str, Path]) -> None:
    ltx = plan(folders["ltx"], overrides={"flowShift": [{"minPixels": 0, "shift": 5.0}]})
    assert ltx.flow_shift is None
    assert any("spec.overrides.flowShift is not used" in note for note in ltx.notes), ltx.notes


def test_the_plan_command_takes_a_videomodels_overrides(folders: dict[str, Path]) -> None:
    argv = [sys.executable, "-m", "videogen_runner.cli", "plan", str(folders["wan-t2v"]), "--mode", "text-to-video"]
    overrides = ["--overrides", json.dumps(FINE_TUNE), "--width", "1920", "--height", "1080", "--gpu", "H200"]
    proc = subprocess.run([*argv, *overrides], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["overrides"]["nativeFps"] == {"value": 24, "why": "VideoModel override (wan2.1's own: 16)"}
    assert printed["flow_shift"] == 7.0 and printed["negative_prompt"] == "static, blurry"
    refused = subprocess.run(
        [*argv, "--width", "1920", "--height", "1080"], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == ExitCode.INVALID_INPUT and "at most 921600" in refused.stderr


def test_the_plan_command_prints_the_same_plan_as_json(folders: dict[str, Path]) -> None:
    argv = [
        sys.executable,
        "-m",
        "videogen_runner.cli",
        "plan",
        str(folders["ltx-097-distilled"]),
        "--mode",
        "image-to-video",
        "--num_frames",
        "48",
        "--fps",
        "24",
        "--width",
        "704",
        "--height",
        "480",
        "--speed",
        "fast",
        "--gpu",
        "NVIDIA H200",
        "--gpu-memory-gib",
        "141",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    expected = plan(
        folders["ltx-097-distilled"], "image-to-video", numFrames=48, fps=24, width=704, height=480, speed="fast"
    )
    assert printed["used"] == {**expected.used.to_wire(), "seed": 0}
    assert printed["pipeline"] == "LTXConditionPipeline"
    assert printed["attention_backend"]["value"] == "native"
    assert printed["timesteps"] == expected.timesteps
    assert printed["memory"]["weights_bytes"] == 2 * sum(PARAMETERS["LTXConditionPipeline"].values())

    bad = subprocess.run([*argv[:7], "--width", "4096"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == ExitCode.INVALID_INPUT
    assert "less than or equal to 2048" in bad.stderr
