"""Benchmark: the runner's load of a model folder as the checkpoint ships it (float32) and as the download pod stores
it (bf16, ``videogen_operator.bf16_weights``), side by side; figures, not a test:

    .venv/bin/python bench/load_bench.py wan2.1-t2v-1.3b --folder /tmp/load-bench
    .venv/bin/python bench/load_bench.py <diffusers folder>

A preset (``runner_bench.PRESETS``) is written as a pipeline folder with random weights: the preset's transformer and
the family's real VAE, with the smoke model's tiny text encoder and tokenizer (the XXL text encoders, 23 GB in
float32, do not fit this machine's memory twice; they convert like the transformer). Each folder is loaded by the
runner's ``load_pipeline`` with the plan's dtypes for a GPU (bf16; Wan's VAE float32) on this machine's device: on a
CPU that is the read and the cast a GPU node does before its copy to the device. The files were just written, so
they are read from the page cache: the figures are the CPU's work, not the disk's.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner_bench import PRESETS, print_figures


@dataclass
class LoadFigures:
    model: str
    device: str
    float32_bytes: int
    bf16_bytes: int
    #: The download pod's conversion of the folder (once per model).
    convert_s: float
    load_float32_s: float
    load_bf16_s: float


def write_preset(preset: str, folder: Path) -> Path:
    """The preset's transformer and VAE with random float32 weights, the smoke model's text encoder and tokenizer."""
    import importlib

    import torch

    from videogen_dev.smoke_weights import LTX, WAN_T2V, make_smoke_models

    diffusers: Any = importlib.import_module("diffusers")
    spec = PRESETS[preset]
    wan = spec["class_name"].startswith("Wan")
    smoke = make_smoke_models(folder / "smoke", [WAN_T2V if wan else LTX])[0]
    target = folder / preset
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(smoke, target)
    torch.manual_seed(0)
    transformer_class = diffusers.WanTransformer3DModel if wan else diffusers.LTXVideoTransformer3DModel
    transformer_class(**spec["transformer"]).save_pretrained(target / "transformer")
    (diffusers.AutoencoderKLWan() if wan else diffusers.AutoencoderKLLTXVideo()).save_pretrained(target / "vae")
    return target


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def timed_load(folder: Path) -> float:
    from videogen_common.resources.videojob import Mode, VideoJobSpec
    from videogen_common.runner_contract import RuntimeOptions
    from videogen_runner.acceleration import Placement, placement_for
    from videogen_runner.families import read_model_info
    from videogen_runner.generate import import_pipeline_class, load_pipeline
    from videogen_runner.plan import hardware_from_flags, make_plan

    info = read_model_info(folder)
    spec = VideoJobSpec(mode=Mode.TEXT_TO_VIDEO, prompt="a cat", num_frames=9, width=64, height=64)
    plan = make_plan(spec, info, RuntimeOptions(), hardware_from_flags("H200", 141), repo_id="x", revision=None, seed=0)
    gpu = placement_for(plan, RuntimeOptions())
    # The GPU's dtypes on this machine: a GPU node's read and cast, without its copy to the device.
    here = Placement(**{**gpu.__dict__, "device": "cpu", "offload": "none", "device_map": None})
    import_pipeline_class(plan.pipeline)
    start = time.perf_counter()
    load_pipeline(folder, plan.pipeline, here, plan.flow_shift)
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> LoadFigures:
    from videogen_operator.bf16_weights import convert_snapshot

    work = Path(args.folder)
    work.mkdir(parents=True, exist_ok=True)
    source = write_preset(args.model, work) if args.model in PRESETS else Path(args.model)
    converted = work / f"{source.name}-bf16"
    shutil.rmtree(converted, ignore_errors=True)
    shutil.copytree(source, converted)
    start = time.perf_counter()
    convert_snapshot(converted)
    convert_s = time.perf_counter() - start
    # One load first, so both measured loads find the libraries' code warm.
    timed_load(source)
    return LoadFigures(
        model=args.model,
        device="cpu",
        float32_bytes=folder_bytes(source),
        bf16_bytes=folder_bytes(converted),
        convert_s=convert_s,
        load_float32_s=timed_load(source),
        load_bf16_s=timed_load(converted),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="load_bench.py", description="load a float32 and a bf16-converted folder")
    parser.add_argument("model", help=f"a diffusers folder or a preset: {', '.join(PRESETS)}")
    parser.add_argument("--folder", default="/tmp/load-bench", help="where the folders are written")
    parser.add_argument("--json", action="store_true", help="one JSON line instead of a table")
    args = parser.parse_args(argv)
    print_figures(run(args), args.json, 16)
    return 0


if __name__ == "__main__":
    sys.exit(main())
