"""The fast load (issue 16, item 8): weights stored in bf16 once, at download, as the runner on a GPU would cast them;
read straight onto the GPU when nothing is offloaded; frames made 8-bit on the device.

No GPU here: the GPU's dtypes are loaded on the CPU (the bits are the same), and diffusers' device_map is exercised
with "cpu", the one device this machine has.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import pytest
import torch
import transformers

from tests.hub_server import folder_repo, local_hub
from tests.operator.test_guarded_downloads import request_for, run_download
from videogen_common.resources.videojob import Mode, VideoJobSpec
from videogen_common.runner_contract import ExitCode, RuntimeOptions
from videogen_common.weights import KEEP_FLOAT32_TENSORS, RECORD_FILE, read_record
from videogen_dev.smoke_weights import LTX, WAN_I2V, WAN_T2V, make_smoke_models
from videogen_operator.bf16_weights import convert_snapshot, float32_to_bf16
from videogen_runner.acceleration import Placement, placement_for
from videogen_runner.families import read_model_info
from videogen_runner.generate import Generation, encode_prompt, frames_to_uint8, generate, load_pipeline
from videogen_runner.plan import Hardware, RunPlan, make_plan

pytestmark = pytest.mark.runner

H200 = Hardware("cuda", "NVIDIA H200", 141 * 2**30, (9, 0), 1)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The smoke models as make-smoke-model writes them (float32, like the real Wan repos) and a bf16-converted
    copy of each (``<name>-bf16``)."""
    root = tmp_path_factory.mktemp("fast-load")
    folders = {p.name: p for p in make_smoke_models(root)}
    for name in list(folders):
        converted = root / f"{name}-bf16"
        shutil.copytree(folders[name], converted)
        assert convert_snapshot(converted) is not None
        folders[converted.name] = converted
    return folders


def bits(values: torch.Tensor) -> bytes:
    return values.to(torch.bfloat16).view(torch.int16).numpy().tobytes()


def test_float32_becomes_bf16_with_torchs_rounding() -> None:
    special = np.array(
        [
            0x00000000,  # +0
            0x80000000,  # -0
            0x00000001,  # the smallest subnormal
            0x3F808000,  # a tie, kept bit even: rounds down
            0x3F818000,  # a tie, kept bit odd: rounds up
            0x3F807FFF,  # just under a tie
            0x7F7FFFFF,  # the largest float rounds to inf, as torch does
            0x7F800000,  # inf
            0xFF800000,  # -inf
        ],
        dtype=np.uint32,
    )
    values = torch.cat([torch.from_numpy(special.view(np.float32)), torch.randn(1 << 20) * 3.0])
    assert float32_to_bf16(values.numpy().tobytes()) == bits(values)

    nans = np.array([0x7FC00000, 0x7F800001, 0xFFFFFFFF, 0xFFFF8000, 0xFFC00001], dtype=np.uint32).view(np.float32)
    out = np.frombuffer(float32_to_bf16(nans.tobytes() + values[:7].numpy().tobytes()), dtype=np.uint16)
    # NaNs (even those with the sign set, whose rounding would carry out of their word) stay NaN, and their
    # neighbours are untouched; torch's own NaN bits differ between its vector and scalar paths.
    assert out[:5].tolist() == [0x7FC0] * 5
    assert out[5:].tobytes() == bits(values[:7])


@pytest.mark.parametrize("class_name", sorted(KEEP_FLOAT32_TENSORS))
def test_the_float32_tensors_kept_are_those_the_installed_libraries_keep(class_name: str) -> None:
    if hasattr(diffusers, class_name):
        kept = getattr(diffusers, class_name)._keep_in_fp32_modules
    else:
        # transformers keeps _keep_in_fp32_modules in float32 for float16 only; the strict list also for bf16.
        kept = getattr(transformers, class_name)._keep_in_fp32_modules_strict
    assert KEEP_FLOAT32_TENSORS[class_name] == frozenset(kept or ())


def gpu_plan(folder: Path, mode: Mode = Mode.TEXT_TO_VIDEO, **runtime: Any) -> RunPlan:
    given: dict[str, Any] = {"input": {"uri": "s3://inputs/in.png"}} if mode != Mode.TEXT_TO_VIDEO else {}
    spec = VideoJobSpec(mode=mode, prompt="a cat", model=folder.name, num_frames=9, width=64, height=64, **given)
    info = read_model_info(folder)
    options = RuntimeOptions(**runtime)
    return make_plan(spec, info, options, H200, repo_id=folder.name, revision=None, seed=1)


def gpu_dtypes_on_the_cpu(plan: RunPlan) -> Placement:
    """The placement a GPU would use (bf16, Wan's VAE and image encoder float32), on this CPU."""
    return Placement(
        device="cpu",
        dtype=torch.bfloat16,
        float32_components=plan.float32_components,
        offload="none",
        attention_backend="native",
        compile=False,
        compile_cache_dir=None,
        vae_tiling=False,
    )


def state(pipe: Any) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{key}": value
        for name, module in pipe.components.items()
        if isinstance(module, torch.nn.Module)
        for key, value in module.state_dict().items()
    }


@pytest.mark.parametrize(
    ("model", "mode"), [(WAN_T2V, "text-to-video"), (WAN_I2V, "image-to-video"), (LTX, "text-to-video")]
)
def test_a_converted_model_loads_bit_for_bit_what_a_gpu_loaded_from_float32(
    smoke: dict[str, Path], model: str, mode: str
) -> None:
    plan = gpu_plan(smoke[model], Mode(mode))
    placement = gpu_dtypes_on_the_cpu(plan)
    original = state(load_pipeline(smoke[model], plan.pipeline, placement, plan.flow_shift))
    converted = state(load_pipeline(smoke[f"{model}-bf16"], plan.pipeline, placement, plan.flow_shift))

    assert original.keys() == converted.keys()
    differ = [
        k for k in original if original[k].dtype != converted[k].dtype or not torch.equal(original[k], converted[k])
    ]
    assert differ == []
    # Float32 where the model class keeps it (Wan's norms and time embedder), bf16 elsewhere in the transformer.
    dtypes = {v.dtype for k, v in converted.items() if k.startswith("transformer.")}
    assert dtypes == ({torch.bfloat16, torch.float32} if model != LTX else {torch.bfloat16})


def test_the_download_record_says_what_was_stored_in_bf16(smoke: dict[str, Path]) -> None:
    record = read_record(smoke[f"{WAN_I2V}-bf16"])
    assert record is not None
    assert (record.components, record.unchanged) == (["text_encoder", "transformer"], ["image_encoder", "vae"])
    assert record.bytes_after < record.bytes_before
    # The VAE and image encoder, which run in float32, are the bytes of the original.
    for component in ("vae", "image_encoder"):
        for file in (smoke[WAN_I2V] / component).glob("*.safetensors"):
            assert (smoke[f"{WAN_I2V}-bf16"] / component / file.name).read_bytes() == file.read_bytes()
    # Done once: a second pass (a retried or repeated download) finds the record and leaves the folder alone.
    assert convert_snapshot(smoke[f"{WAN_I2V}-bf16"]) is None


def test_the_plan_reads_straight_onto_the_gpu_only_when_nothing_is_offloaded(smoke: dict[str, Path]) -> None:
    plan = gpu_plan(smoke[f"{WAN_T2V}-bf16"])
    assert plan.load.value == {
        "deviceMap": "cuda",
        "weightsOnDisk": {"text_encoder": "bfloat16", "transformer": "bfloat16", "vae": "float32"},
        "convertedAtDownload": True,
    }
    assert "weights stored in bf16 when the VideoModel was downloaded" in plan.load.why
    assert placement_for(plan, RuntimeOptions()).device_map == "cuda"

    offloaded = gpu_plan(smoke[WAN_T2V], offload="group")
    assert offloaded.load.value["deviceMap"] is None and not offloaded.load.value["convertedAtDownload"]
    assert offloaded.load.value["weightsOnDisk"] == dict.fromkeys(["text_encoder", "transformer", "vae"], "float32")
    assert "group offload" in offloaded.load.why

    spec = VideoJobSpec(mode=Mode.TEXT_TO_VIDEO, prompt="a cat", num_frames=9, width=64, height=64)
    on_cpu = make_plan(
        spec,
        read_model_info(smoke[f"{WAN_T2V}-bf16"]),
        RuntimeOptions(),
        Hardware("cpu"),
        repo_id="x",
        revision=None,
        seed=1,
    )
    assert on_cpu.load.value["deviceMap"] is None
    assert "bf16 ones run as float32 on the CPU" in on_cpu.load.why
    assert placement_for(on_cpu, RuntimeOptions()).device_map is None


def test_diffusers_device_map_loads_the_same_weights(smoke: dict[str, Path]) -> None:
    # The mechanism a GPU uses with "cuda", exercised with the one device here.
    plan = gpu_plan(smoke[f"{WAN_T2V}-bf16"])
    placement = gpu_dtypes_on_the_cpu(plan)
    mapped = Placement(**{**placement.__dict__, "device_map": "cpu"})
    plain = state(load_pipeline(smoke[f"{WAN_T2V}-bf16"], plan.pipeline, placement, plan.flow_shift))
    direct = state(load_pipeline(smoke[f"{WAN_T2V}-bf16"], plan.pipeline, mapped, plan.flow_shift))
    assert plain.keys() == direct.keys()
    assert all(plain[k].dtype == direct[k].dtype and torch.equal(plain[k], direct[k]) for k in plain)


def numpy_uint8(frames: np.ndarray) -> np.ndarray:
    """What the runner did before, on the pipeline's numpy output."""
    clean = np.nan_to_num(frames, nan=0.0, posinf=1.0, neginf=0.0)
    return np.asarray((np.clip(clean, 0.0, 1.0) * 255.0).round(), dtype=np.uint8)


def test_frames_become_8_bit_on_the_device_as_they_did_in_numpy() -> None:
    video = torch.rand(5, 3, 16, 24) * 1.2 - 0.1
    video[0, 0, 0, :4] = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.5 / 255.0])
    video[1, 1, 1, :3] = torch.tensor([1.5 / 255.0, 2.5 / 255.0, 254.5 / 255.0])
    for dtype in (torch.float32, torch.bfloat16):
        reference = numpy_uint8(video.to(dtype).permute(0, 2, 3, 1).float().numpy())
        assert np.array_equal(frames_to_uint8(video.to(dtype)), reference)


def generation(plan: RunPlan) -> Generation:
    return Generation(
        pipeline_class=plan.pipeline, prompt="a cat playing with a ball", negative_prompt="", used=plan.used
    )


def cpu_plan(folder: Path) -> RunPlan:
    # At Wan's own 16 fps: the frames generated are the video's.
    spec = VideoJobSpec(mode=Mode.TEXT_TO_VIDEO, prompt="a cat", num_frames=9, width=64, height=64, fps=16)
    return make_plan(
        spec, read_model_info(folder), RuntimeOptions(device="cpu"), Hardware("cpu"), repo_id="x", revision=None, seed=7
    )


def frames_of(folder: Path, placement: Placement, plan: RunPlan) -> np.ndarray:
    pipe = load_pipeline(folder, plan.pipeline, placement, plan.flow_shift)
    return generate(pipe, generation(plan), placement, lambda step, total: None).frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_the_runners_frames_are_those_of_the_pipelines_numpy_output(smoke: dict[str, Path]) -> None:
    plan = cpu_plan(smoke[WAN_T2V])
    placement = placement_for(plan, RuntimeOptions(device="cpu"))
    pipe = load_pipeline(smoke[WAN_T2V], plan.pipeline, placement, plan.flow_shift)
    result = generate(pipe, generation(plan), placement, lambda step, total: None)
    assert {"frames-to-host", "decode", "denoise"} <= set(result.timings)

    pipe = load_pipeline(smoke[WAN_T2V], plan.pipeline, placement, plan.flow_shift)
    gen = generation(plan)
    output = pipe(
        **encode_prompt(pipe, gen),
        height=64,
        width=64,
        num_frames=plan.used.generated_frames,
        num_inference_steps=plan.used.num_inference_steps,
        guidance_scale=plan.used.guidance_scale,
        generator=torch.Generator("cpu").manual_seed(plan.used.seed),
        output_type="np",
    )
    assert result.frames.std() > 5, "flat frames: equality would prove nothing"
    assert np.array_equal(result.frames, numpy_uint8(output.frames[0]))


def test_a_model_downloaded_from_the_hub_is_stored_in_bf16_and_makes_the_same_video(
    smoke: dict[str, Path], tmp_path: Path
) -> None:
    """The download pod's program against the stand-in hub serving the float32 smoke model, then the runner's load
    and generation on what it left."""
    with local_hub() as hub:
        hub.add("org/tiny-wan", folder_repo(smoke[WAN_T2V]))
        code, result = run_download(hub, request_for(tmp_path / "hub", "org/tiny-wan"), tmp_path)
        fetched = len(hub.fetched)
        # Downloaded again (a retried attempt, a re-applied VideoModel): nothing is fetched or converted twice.
        again_code, again = run_download(hub, request_for(tmp_path / "hub", "org/tiny-wan"), tmp_path)
        assert [path for _, path in hub.fetched[fetched:] if path.endswith(".safetensors")] == []
    assert code == again_code == ExitCode.SUCCEEDED, result
    assert again == result
    assert result.snapshot is not None
    snapshot = Path(result.snapshot.path)
    record = read_record(snapshot)
    assert record is not None and record.components == ["text_encoder", "transformer"]
    # The status's size is what the cache holds: the converted files replaced their links, their blobs are gone.
    repo = tmp_path / "hub" / "models--org--tiny-wan"
    weights = [p for folder in ("blobs", "snapshots") for p in (repo / folder).rglob("*") if not p.is_symlink()]
    assert result.snapshot.size_bytes == sum(p.stat().st_size for p in weights if p.is_file())
    assert result.snapshot.size_bytes == record.bytes_after + (snapshot / RECORD_FILE).stat().st_size
    assert not any(p.is_symlink() for p in snapshot.rglob("*.safetensors") if p.parent.name != "vae")
    print(f"smoke Wan: {record.bytes_before} -> {record.bytes_after} bytes in the model cache")

    # On a CPU the runner runs float32: the bf16-rounded weights make a close, not identical, video.
    plan = cpu_plan(snapshot)
    placement = placement_for(plan, RuntimeOptions(device="cpu"))
    original, converted = frames_of(smoke[WAN_T2V], placement, plan), frames_of(snapshot, placement, plan)
    assert original.std() > 5
    quality = psnr(original, converted)
    # With the GPU's dtypes (bf16, the VAE float32) the weights are the same bits, and so is the video.
    bf16 = gpu_dtypes_on_the_cpu(gpu_plan(snapshot))
    same = np.array_equal(frames_of(smoke[WAN_T2V], bf16, plan), frames_of(snapshot, bf16, plan))
    print(f"converted vs float32 weights: PSNR {quality:.1f} dB run in float32 (CPU); identical in bf16: {same}")
    assert quality > 30
    assert same
