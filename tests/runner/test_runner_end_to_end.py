"""The runner on real diffusers smoke models, real ffmpeg and a real SeaweedFS S3.

End-to-end cases run ``videogen-runner run`` as a subprocess, as the Job does. The reference-default and
same-seed cases call the same ``main`` in this process to spare a torch import each (they are about the numbers,
not the process).
"""

import contextlib
import importlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from videogen_common.runner_contract import (
    ExitCode,
    OutputLocation,
    ProgressLocation,
    ProgressReport,
    RunnerInput,
    RuntimeOptions,
    VideoJobRef,
)
from videogen_dev.settings import REPO_ROOT
from videogen_dev.smoke_models import repo_id
from videogen_dev.smoke_weights import LTX, WAN_I2V, WAN_T2V, make_smoke_models
from videogen_runner import cli
from videogen_runner.media import probe_video, write_mp4

pytestmark = pytest.mark.runner

PROGRESS_BUCKET = "runner-progress"


@pytest.fixture(scope="session")
def smoke_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("smoke-models")
    return {p.name: p for p in make_smoke_models(root)}


@pytest.fixture(scope="session")
def progress_bucket(s3) -> str:
    """A versioned bucket: every rewrite of the progress object stays readable, so a test sees each update."""
    client = s3.client()
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=PROGRESS_BUCKET)
    client.put_bucket_versioning(Bucket=PROGRESS_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return PROGRESS_BUCKET


def s3_env(s3, endpoint_url: str | None = None) -> dict[str, str]:
    return {
        "VIDEOGEN_S3_ENDPOINT_URL": endpoint_url or s3.endpoint_url,
        "VIDEOGEN_S3_ACCESS_KEY_ID": s3.access_key,
        "VIDEOGEN_S3_SECRET_ACCESS_KEY": s3.secret_key,
        "VIDEOGEN_S3_REGION": s3.region,
        "VIDEOGEN_S3_MAX_ATTEMPTS": "2",
        "VIDEOGEN_S3_CONNECT_TIMEOUT": "2",
    }


@dataclass
class Job:
    doc: RunnerInput
    prefix: str


def make_job(s3, progress_bucket: str, model: Path, **spec: Any) -> Job:
    """A job whose spec.model names a VideoModel (the folder's name), as a VideoJob naming one does; the operator
    passes the folder and the repo id it was downloaded from."""
    prefix = f"runner-tests/{uuid.uuid4().hex[:10]}"
    ref = VideoJobRef(
        name="job-1700000000-abcdefabcdef",
        namespace="tests",
        uid=uuid.uuid4().hex,
        owner="0123456789abcdef",
        created_at="2023-11-14T22:13:20Z",
    )
    doc = RunnerInput.model_validate(
        {
            "videojob": ref.model_dump(by_alias=True),
            "spec": {"model": model.name, "prompt": "a cat playing with a ball", **spec},
            "model": {"path": str(model), "repoId": repo_id(model.name)},
            "output": OutputLocation.for_video(s3.bucket, prefix, "out.mp4", ref).model_dump(by_alias=True),
            "progress": ProgressLocation.for_videojob(progress_bucket, prefix, ref).model_dump(by_alias=True),
        }
    )
    return Job(doc=doc, prefix=prefix)


@dataclass
class Outcome:
    exit_code: int
    result: dict[str, Any]
    log: str


def run_subprocess(job: Job, env: dict[str, str], tmp_path: Path) -> Outcome:
    doc_file = tmp_path / "input.json"
    doc_file.write_text(job.doc.to_json())
    termination = tmp_path / "termination-log"
    proc = subprocess.run(
        [sys.executable, "-m", "videogen_runner.cli", "run", "--input", str(doc_file)],
        env={**os.environ, **env, "VIDEOGEN_TERMINATION_LOG": str(termination)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Outcome(proc.returncode, json.loads(termination.read_text()), proc.stderr)


def run_in_process(job: Job, env: dict[str, str], tmp_path: Path, monkeypatch) -> Outcome:
    for key, value in {**env, "VIDEOGEN_TERMINATION_LOG": str(tmp_path / "termination-log")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("VIDEOGEN_RUNNER_INPUT", job.doc.to_json())
    code = cli.main(["run"])
    return Outcome(code, json.loads((tmp_path / "termination-log").read_text()), "")


def keys_under(s3, prefix: str) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def download(s3, key: str, target: Path) -> Path:
    s3.client().download_file(s3.bucket, key, str(target))
    return target


def progress_history(s3, location: ProgressLocation | None) -> list[ProgressReport]:
    assert location is not None, "the runner input has no progress location"
    client = s3.client()
    versions = client.list_object_versions(Bucket=location.bucket, Prefix=location.key).get("Versions", [])
    reports = [
        ProgressReport.model_validate_json(
            client.get_object(Bucket=location.bucket, Key=location.key, VersionId=v["VersionId"])["Body"].read()
        )
        for v in versions
        if v["Key"] == location.key
    ]
    return sorted(reports, key=lambda r: r.updated_at)


def decoded_frames(path: Path) -> np.ndarray:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    width, height = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader])


def assert_published(s3, job: Job, outcome: Outcome, tmp_path: Path) -> dict[str, Any]:
    """The MP4 probes to the used values; metadata and poster are there; returns the used values."""
    assert outcome.exit_code == 0, outcome.result
    used = outcome.result["used"]
    # Which weights ran: the repo id, never the VideoModel name (or nothing) spec.model holds.
    assert used["model"] == job.doc.model.repo_id
    out = job.doc.output
    assert out.record_key is not None
    assert keys_under(s3, job.prefix + "/") == sorted([out.video_key, out.metadata_key, out.poster_key, out.record_key])
    head = s3.client().head_object(Bucket=s3.bucket, Key=out.video_key)
    assert head["ContentType"] == "video/mp4"
    probe = probe_video(download(s3, out.video_key, tmp_path / "out.mp4"))
    assert (probe.frames, probe.width, probe.height) == (used["numFrames"], used["width"], used["height"])
    assert probe.fps == pytest.approx(used["fps"])
    body = s3.client().get_object(Bucket=s3.bucket, Key=out.metadata_key)["Body"].read()
    metadata = json.loads(body)
    # The job record is the metadata under the VideoJob's name, with what the API shows once the VideoJob is gone.
    assert s3.client().get_object(Bucket=s3.bucket, Key=out.record_key)["Body"].read() == body
    assert metadata["videojob"]["owner"] == job.doc.videojob.owner and metadata["model"] == job.doc.spec.model
    # The termination message leaves out nulls (it has 4 KiB); the metadata keeps them.
    assert {k: v for k, v in metadata["used"].items() if v is not None} == used
    assert metadata["videoUri"] == f"s3://{s3.bucket}/{out.video_key}"
    phases = {"import", "load", "encode-prompt", "denoise", "decode", "encode-video", "upload", "total"}
    assert phases <= set(metadata["timings"])
    poster = s3.client().get_object(Bucket=s3.bucket, Key=out.poster_key)["Body"].read()
    with Image.open(io.BytesIO(poster)) as image:
        assert image.format == "JPEG"
        assert image.size == (used["width"], used["height"])
    return dict(used)


def upload_image(s3, key: str) -> str:
    x = np.linspace(0, 255, 100, dtype=np.uint8)
    pixels = np.stack(np.broadcast_arrays(x[None, :], x[:70, None], np.full((70, 100), 128, np.uint8)), -1)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=buffer.getvalue(), ContentType="image/png")
    return f"s3://{s3.bucket}/{key}"


def upload_video(s3, key: str, tmp_path: Path, suffix: str) -> str:
    frames = np.zeros((30, 72, 96, 3), np.uint8)
    for i in range(30):
        frames[i, :, (i * 3) % 96 :, 0] = 200
        frames[i, : (i * 2) % 72, :, 1] = 150
    path = tmp_path / f"input{suffix}"
    if suffix == ".mp4":
        write_mp4(frames, path, 30)
    else:
        writer = imageio_ffmpeg.write_frames(str(path), (96, 72), fps=30, codec="mpeg4", macro_block_size=1)
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
    s3.client().upload_file(str(path), s3.bucket, key)
    return f"s3://{s3.bucket}/{key}"


# (model, mode, input kind): every mode of every family, each through the subprocess like a Job.
CASES = [
    (WAN_T2V, "text-to-video", None),
    (WAN_I2V, "image-to-video", "image"),
    (WAN_T2V, "video-to-video", ".mp4"),
    (LTX, "text-to-video", None),
    (LTX, "image-to-video", "image"),
    (LTX, "video-to-video", ".avi"),
]


@pytest.mark.parametrize(("model", "mode", "input_kind"), CASES, ids=[f"{m}-{mode}" for m, mode, _ in CASES])
def test_each_mode_publishes_an_mp4_matching_the_used_values(
    s3, progress_bucket, smoke_models, tmp_path, model, mode, input_kind
):
    spec: dict[str, Any] = {
        "mode": mode,
        # Off-grid on purpose (within the CRD's ranges): the runner must round (Wan 9 frames, 64x80; LTX 9 frames,
        # 64x64) and say so.
        "numFrames": 10,
        "width": 70,
        "height": 75,
        "fps": 12,
        "numInferenceSteps": 3,
        "guidanceScale": 5.0,
        "strength": 0.7,
        "seed": 0,
    }
    if input_kind == "image":
        spec["input"] = {"uri": upload_image(s3, f"runner-tests/inputs/{uuid.uuid4().hex}.png")}
    elif input_kind is not None:
        uri = upload_video(s3, f"runner-tests/inputs/{uuid.uuid4().hex}{input_kind}", tmp_path, input_kind)
        spec["input"] = {"uri": uri}
    job = make_job(s3, progress_bucket, smoke_models[model], **spec)

    outcome = run_subprocess(job, s3_env(s3), tmp_path)

    used = assert_published(s3, job, outcome, tmp_path)
    wan = model in (WAN_T2V, WAN_I2V)
    if wan:
        # Wan makes motion at its 16 fps: 10 frames at 12 fps last 0.83 s, 17 frames (4k+1) at 16 fps cover them,
        # and the video is retimed to the 10 frames asked for.
        assert (used["numFrames"], used["generatedFrames"], used["generatedFps"]) == (10, 17, 16)
    else:
        # LTX takes the frame rate as an input and generates at 12 fps: 9 frames (8k+1), as the video has.
        assert (used["numFrames"], used["generatedFrames"], used["generatedFps"]) == (9, 9, 12)
    assert (used["width"], used["height"]) == (64, 80 if wan else 64)
    assert used["seed"] == 0
    assert used["fps"] == 12
    history = progress_history(s3, job.doc.progress)
    phases = [r.phase for r in history]
    assert phases[0] == "starting"
    assert phases[-1] == "succeeded"
    assert history[-1].percent == 100.0
    steps = [r.step for r in history if r.phase == "denoising"]
    total = 2 if mode == "video-to-video" else 3  # int(3 * 0.7) steps of the schedule for video-to-video
    assert steps == list(range(1, total + 1)), phases
    assert {r.total_steps for r in history if r.phase == "denoising"} == {total}
    assert {r.videojob_uid for r in history} == {job.doc.videojob.uid}


@pytest.mark.parametrize("model", [LTX, WAN_T2V])
def test_reference_defaults_give_512x512_at_24fps_with_each_models_frames(
    s3, progress_bucket, smoke_models, tmp_path, monkeypatch, model
):
    # Only the step count is lowered (to keep a CPU run short); frames, size, fps, guidance are the API defaults.
    job = make_job(s3, progress_bucket, smoke_models[model], mode="text-to-video", numInferenceSteps=1)
    # No spec.model, as the API sends the reference examples: the operator picked the mode's default model.
    job.doc.spec.model = None
    # The CPU nodes' encoder setting (dev/local-values.yaml): 65 frames of random-weight noise encode 3x faster.
    monkeypatch.setenv("VIDEOGEN_RUNNER_MP4_PRESET", "veryfast")
    assert (job.doc.spec.num_frames, job.doc.spec.width, job.doc.spec.fps) == (64, 512, 24)

    outcome = run_in_process(job, s3_env(s3), tmp_path, monkeypatch)

    used = assert_published(s3, job, outcome, tmp_path)
    if model == LTX:
        # LTX generates at 24 fps on its 8k+1 grid: 64 frames run as 65.
        expected = {"numFrames": 65, "generatedFrames": 65, "generatedFps": 24}
    else:
        # Wan makes the 2.67 s at its 16 fps (45 frames, 4k+1), retimed to the 64 frames asked for.
        expected = {"numFrames": 64, "generatedFrames": 45, "generatedFps": 16}
    assert {k: used[k] for k in expected} == expected
    assert (used["width"], used["height"], used["fps"]) == (512, 512, 24)
    assert 0 <= used["seed"] < 2**32


def test_same_seed_gives_the_same_frames(s3, progress_bucket, smoke_models, tmp_path, monkeypatch):
    videos = []
    for attempt in range(2):
        spec = {
            "mode": "text-to-video",
            "numFrames": 9,
            "width": 64,
            "height": 64,
            "numInferenceSteps": 2,
            "seed": 1234,
        }
        job = make_job(s3, progress_bucket, smoke_models[WAN_T2V], **spec)
        run_dir = tmp_path / str(attempt)
        run_dir.mkdir()
        outcome = run_in_process(job, s3_env(s3), run_dir, monkeypatch)
        assert outcome.exit_code == 0, outcome.result
        videos.append(decoded_frames(download(s3, job.doc.output.video_key, run_dir / "out.mp4")))
    assert videos[0].shape == (9, 64, 64, 3)
    assert np.array_equal(videos[0], videos[1])


def test_wan_generates_at_its_native_16_fps_and_the_video_has_the_frames_and_fps_asked_for(
    s3, progress_bucket, smoke_models, tmp_path, monkeypatch
):
    spec = {"mode": "text-to-video", "numFrames": 48, "fps": 24, "width": 64, "height": 64, "numInferenceSteps": 2}
    job = make_job(s3, progress_bucket, smoke_models[WAN_T2V], **spec)

    outcome = run_in_process(job, s3_env(s3), tmp_path, monkeypatch)

    used = assert_published(s3, job, outcome, tmp_path)  # probes the MP4: 48 frames at 24 fps
    # 2 s of motion made at Wan's 16 fps (33 frames, the 4k+1 that cover 2 s), retimed to 48 frames at 24 fps.
    assert (used["numFrames"], used["fps"], used["generatedFrames"], used["generatedFps"]) == (48, 24, 33, 16)
    probe = probe_video(tmp_path / "out.mp4")
    assert probe.seconds == pytest.approx(2.0, abs=0.05)
    metadata = json.loads(s3.client().get_object(Bucket=s3.bucket, Key=job.doc.output.metadata_key)["Body"].read())
    # No negative prompt in the request: Wan's standard one ran, and the metadata and plan say so.
    assert used["negativePromptSource"] == "model"
    assert metadata["negativePrompt"].startswith("色调艳丽")
    assert metadata["plan"]["used"] == {k: v for k, v in metadata["used"].items() if v is not None}
    assert metadata["plan"]["pipeline"] == "WanPipeline"
    assert metadata["plan"]["flow_shift"] == 3.0


@pytest.fixture(scope="session")
def deep_wan(smoke_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Wan with four transformer blocks instead of one: FirstBlockCache needs a first block and a rest to
    skip. The other components are the smoke model's."""
    # diffusers' model constructors carry no types (register_to_config).
    diffusers: Any = importlib.import_module("diffusers")
    source = smoke_models[WAN_T2V]
    folder = tmp_path_factory.mktemp("deep") / "tiny-wan-t2v-deep"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("transformer"))
    config = json.loads((source / "transformer" / "config.json").read_text())
    config = {k: v for k, v in config.items() if not k.startswith("_")} | {"num_layers": 4}
    torch.manual_seed(0)
    diffusers.WanTransformer3DModel(**config).save_pretrained(folder / "transformer")
    return folder


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_fast_runs_fewer_transformer_blocks_than_quality_and_reports_its_psnr(
    s3, progress_bucket, deep_wan, tmp_path, monkeypatch, record_property
):
    """Block evaluations are counted on the blocks' feed-forward layers, which a skipped block never calls."""
    from videogen_runner import generate as generate_module

    real_load = generate_module.load_pipeline
    evaluations: dict[str, int] = {}
    speed_running = ""

    def load_counting(*args: Any, **kwargs: Any) -> Any:
        pipe = real_load(*args, **kwargs)

        def count(*_: Any) -> None:
            evaluations[speed_running] += 1

        for block in pipe.transformer.blocks:
            block.ffn.register_forward_pre_hook(count)
        return pipe

    monkeypatch.setattr(generate_module, "load_pipeline", load_counting)
    frames = {}
    for speed in ("quality", "balanced", "fast"):
        speed_running, evaluations[speed] = speed, 0
        spec = {"mode": "text-to-video", "numFrames": 9, "fps": 16, "width": 64, "height": 64, "seed": 3}
        job = make_job(s3, progress_bucket, deep_wan, **spec, numInferenceSteps=8, guidanceScale=5.0, speed=speed)
        run_dir = tmp_path / speed
        run_dir.mkdir()
        outcome = run_in_process(job, s3_env(s3), run_dir, monkeypatch)
        assert outcome.exit_code == 0, outcome.result
        assert outcome.result["used"]["speed"] == speed
        frames[speed] = decoded_frames(download(s3, job.doc.output.video_key, run_dir / "out.mp4"))

    # 8 steps x 2 (classifier-free guidance) x 4 blocks in full; the cache skips the 3 later blocks where the first
    # block's output barely changed since the step before.
    assert evaluations["quality"] == 8 * 2 * 4
    assert evaluations["fast"] < evaluations["balanced"] <= evaluations["quality"], evaluations
    balanced_db, fast_db = psnr(frames["balanced"], frames["quality"]), psnr(frames["fast"], frames["quality"])
    record_property("block_evaluations", evaluations)
    record_property("psnr_vs_quality_db", {"balanced": balanced_db, "fast": fast_db})
    print(f"block evaluations {evaluations}; PSNR vs quality: balanced {balanced_db:.1f} dB, fast {fast_db:.1f} dB")
    assert fast_db > 20, fast_db


@pytest.fixture(scope="session")
def ltx_without_tokenizer_json(smoke_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny LTX with its tokenizer as LTX-Video's repos ship it: a sentencepiece model (spiece.model) and its
    config, no tokenizer.json, so transformers must convert the sentencepiece model (which needs protobuf)."""
    import sentencepiece

    folder = tmp_path_factory.mktemp("ltx-spiece") / "tiny-ltx-spiece"
    shutil.copytree(smoke_models[LTX], folder, ignore=shutil.ignore_patterns("tokenizer"))
    tokenizer = folder / "tokenizer"
    tokenizer.mkdir()
    model = io.BytesIO()
    sentences = ["a cat playing with a ball of yarn", "the dog runs over the blue sea", "a sunset over the ocean"]
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences * 20), model_writer=model, vocab_size=30, hard_vocab_limit=False
    )
    (tokenizer / "spiece.model").write_bytes(model.getvalue())
    (tokenizer / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "T5Tokenizer", "model_max_length": 128, "extra_ids": 0})
    )
    return folder


def test_an_ltx_snapshot_without_tokenizer_json_loads_its_sentencepiece_tokenizer(
    s3, progress_bucket, ltx_without_tokenizer_json, tmp_path, monkeypatch
):
    assert not (ltx_without_tokenizer_json / "tokenizer" / "tokenizer.json").exists()
    spec = {"mode": "text-to-video", "numFrames": 9, "width": 64, "height": 64, "numInferenceSteps": 2}
    job = make_job(s3, progress_bucket, ltx_without_tokenizer_json, **spec)

    outcome = run_in_process(job, s3_env(s3), tmp_path, monkeypatch)

    assert_published(s3, job, outcome, tmp_path)


def ltx_condition_copy(smoke_models: dict[str, Path], root: Path, name: str) -> Path:
    """The tiny LTX as an LTX-Video 0.9.5+ snapshot: the same weights, model_index.json naming
    LTXConditionPipeline."""
    folder = root / name
    shutil.copytree(smoke_models[LTX], folder)
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": "LTXConditionPipeline"}))
    return folder


@pytest.mark.parametrize(
    ("name", "mode", "steps"),
    [
        ("tiny-ltx-0.9.7", "text-to-video", 3),
        ("tiny-ltx-0.9.7", "image-to-video", 3),
        # A distilled checkpoint runs its 8 fixed timesteps without guidance, whatever the request says.
        ("tiny-ltx-0.9.7-distilled", "text-to-video", 8),
    ],
)
def test_ltx_095_and_later_run_every_mode_through_the_condition_pipeline(
    s3, progress_bucket, smoke_models, tmp_path, name, mode, steps
):
    folder = ltx_condition_copy(smoke_models, tmp_path, name)
    spec: dict[str, Any] = {"mode": mode, "numFrames": 9, "width": 64, "height": 64, "numInferenceSteps": 3}
    if mode == "image-to-video":
        spec["input"] = {"uri": upload_image(s3, f"runner-tests/inputs/{uuid.uuid4().hex}.png")}
    job = make_job(s3, progress_bucket, folder, **spec)

    outcome = run_subprocess(job, s3_env(s3), tmp_path)

    used = assert_published(s3, job, outcome, tmp_path)
    assert used["pipeline"] == "LTXConditionPipeline"
    assert used["numInferenceSteps"] == steps
    assert used["guidanceScale"] == (1.0 if "distilled" in name else 7.5)
    denoising = [r.step for r in progress_history(s3, job.doc.progress) if r.phase == "denoising"]
    assert denoising == list(range(1, steps + 1))


def _corrupt_image(s3, tmp_path) -> dict[str, Any]:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, format="PNG")
    key = f"runner-tests/inputs/{uuid.uuid4().hex}.png"
    # A real PNG header, then the pixel data cut short and overwritten.
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=buffer.getvalue()[:60] + b"\x00garbage" * 20)
    return {"mode": "image-to-video", "input": {"uri": f"s3://{s3.bucket}/{key}"}}


def _text_named_mp4(s3, tmp_path) -> dict[str, Any]:
    key = f"runner-tests/inputs/{uuid.uuid4().hex}.mp4"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"this is not a video\n" * 10)
    return {"mode": "video-to-video", "input": {"uri": f"s3://{s3.bucket}/{key}"}}


def _zero_frame_video(s3, tmp_path) -> dict[str, Any]:
    path = tmp_path / "zero.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=64x64:d=1",
            "-frames:v",
            "0",
            "-c:v",
            "libx264",
            str(path),
        ],
        check=True,
    )
    key = f"runner-tests/inputs/{uuid.uuid4().hex}.mp4"
    s3.client().upload_file(str(path), s3.bucket, key)
    return {"mode": "video-to-video", "input": {"uri": f"s3://{s3.bucket}/{key}"}}


def _missing_input(s3, tmp_path) -> dict[str, Any]:
    return {"mode": "image-to-video", "input": {"uri": f"s3://{s3.bucket}/runner-tests/inputs/absent.png"}}


BAD_INPUTS = [
    ("corrupt-image", WAN_I2V, _corrupt_image, "input image cannot be decoded"),
    ("text-named-mp4", LTX, _text_named_mp4, "not a video file"),
    ("zero-frame-video", WAN_T2V, _zero_frame_video, "zero frames"),
    ("missing-input-object", LTX, _missing_input, "not found in S3"),
    (
        "unsupported-mode",
        WAN_T2V,
        lambda s3, tmp_path: {"mode": "image-to-video", "input": {"uri": f"s3://{s3.bucket}/x.png"}},
        "cannot do image-to-video",
    ),
    ("missing-model-folder", "no-such-model", lambda s3, tmp_path: {"mode": "text-to-video"}, "does not exist"),
]


@pytest.mark.parametrize(("model", "make_spec", "message"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_fails_as_invalid_input_before_weights_load(
    s3, progress_bucket, smoke_models, tmp_path, model, make_spec, message
):
    folder = smoke_models.get(model, tmp_path / model)
    job = make_job(s3, progress_bucket, folder, numFrames=9, width=64, height=64, **make_spec(s3, tmp_path))

    outcome = run_subprocess(job, s3_env(s3), tmp_path)

    assert outcome.exit_code == ExitCode.INVALID_INPUT, outcome.log
    assert outcome.result["reason"] == "InvalidInput"
    assert message in outcome.result["message"]
    # The placement line is logged right after the weights load; a bad input must stop before it.
    assert "placement:" not in outcome.log
    assert keys_under(s3, job.prefix + "/") == []
    assert "loading" not in [r.phase for r in progress_history(s3, job.doc.progress)]


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("no_such_kernel", "is not a diffusers attention backend"),
        ("flash_hub", "runner runs offline"),
        ("flash", "cannot run in this image"),  # flash-attn is not installed here
    ],
)
def test_a_runtime_option_the_image_cannot_honour_fails_before_weights_load(
    s3, progress_bucket, smoke_models, tmp_path, backend, message
):
    job = make_job(s3, progress_bucket, smoke_models[LTX], mode="text-to-video", numFrames=9, width=64, height=64)
    job.doc.runtime = RuntimeOptions(attention_backend=backend)

    outcome = run_subprocess(job, s3_env(s3), tmp_path)

    # Not retried (the podFailurePolicy fails the Job on this code), and the message names the setting to fix.
    assert outcome.exit_code == ExitCode.INVALID_INPUT, outcome.log
    assert message in outcome.result["message"]
    assert "runner_runtime" in outcome.result["message"]
    assert "placement:" not in outcome.log
    assert keys_under(s3, job.prefix + "/") == []
    assert "loading" not in [r.phase for r in progress_history(s3, job.doc.progress)]


def test_compile_runs_the_compiled_blocks_and_fills_the_compile_cache(s3, progress_bucket, smoke_models, tmp_path):
    """torch.compile as a GPU node runs it (repeated blocks, fullgraph), here with inductor's CPU backend."""
    cache = tmp_path / "compile-cache"
    spec = {"mode": "text-to-video", "numFrames": 9, "width": 64, "height": 64, "numInferenceSteps": 2}
    job = make_job(s3, progress_bucket, smoke_models[WAN_T2V], **spec)
    job.doc.runtime = RuntimeOptions(compile=True, compile_cache_dir=str(cache))

    outcome = run_subprocess(job, s3_env(s3), tmp_path)

    assert_published(s3, job, outcome, tmp_path)
    metadata = json.loads(s3.client().get_object(Bucket=s3.bucket, Key=job.doc.output.metadata_key)["Body"].read())
    assert metadata["compiled"] is True
    assert "compile=True" in outcome.log
    # The compiled graph went to the persistent folder (the operator mounts it from the model cache volume).
    assert [p for p in (cache / "inductor").rglob("*") if p.is_file()], sorted(cache.rglob("*"))
    # And the job's compile artifacts, per model, shape and torch version: the next pod loads them first.
    artifacts = list((cache / "artifacts").glob("*.bin"))
    assert len(artifacts) == 1 and "64x64x9" in artifacts[0].name, artifacts
    again = make_job(s3, progress_bucket, smoke_models[WAN_T2V], **spec)
    again.doc.runtime = job.doc.runtime
    second = run_subprocess(again, s3_env(s3), tmp_path)
    assert second.exit_code == 0, second.result
    assert "compile artifacts loaded" in second.log


def test_unreachable_s3_is_transient(s3, progress_bucket, smoke_models, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    job = make_job(s3, progress_bucket, smoke_models[LTX], mode="text-to-video", numFrames=9, width=64, height=64)

    outcome = run_subprocess(job, s3_env(s3, endpoint_url=f"http://127.0.0.1:{closed_port}"), tmp_path)

    assert outcome.exit_code == ExitCode.TRANSIENT, outcome.log
    assert outcome.result["reason"] == "Transient"
    assert "S3 unreachable" in outcome.result["message"]


def test_failed_upload_leaves_nothing_half_written(s3, progress_bucket, smoke_models, tmp_path, monkeypatch):
    """S3 dies between the video and the metadata: what went up is removed and the try is transient."""
    from botocore.exceptions import EndpointConnectionError

    from videogen_common import s3 as common_s3

    job = make_job(
        s3,
        progress_bucket,
        smoke_models[LTX],
        mode="text-to-video",
        numFrames=9,
        width=64,
        height=64,
        numInferenceSteps=2,
    )
    real_make_client = common_s3.make_client

    def client_losing_s3_at_metadata(settings):
        client = real_make_client(settings)
        real_put = client.put_object

        def put_object(**kwargs):
            if kwargs["Key"] == job.doc.output.metadata_key:
                raise EndpointConnectionError(endpoint_url=s3.endpoint_url)
            return real_put(**kwargs)

        client.put_object = put_object
        return client

    monkeypatch.setattr(common_s3, "make_client", client_losing_s3_at_metadata)
    outcome = run_in_process(job, s3_env(s3), tmp_path, monkeypatch)

    assert outcome.exit_code == ExitCode.TRANSIENT, outcome.result
    assert keys_under(s3, job.prefix + "/") == []
    assert progress_history(s3, job.doc.progress)[-1].phase == "failed"


def test_bench_prints_phase_times_and_the_flop_floor_on_cpu(smoke_models):
    # The bench is a script outside the runner package: run it as a person (and runner-gpu.sh) does.
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "runner_bench.py"),
            str(smoke_models[LTX]),
            "--device",
            "cpu",
            "--width",
            "64",
            "--height",
            "64",
            "--frames",
            "9",
            "--steps",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["device"] == "cpu"
    assert (figures["width"], figures["height"], figures["frames"], figures["steps"]) == (64, 64, 9, 2)
    timed = (
        "import_s",
        "load_s",
        "encode_prompt_s",
        "first_step_s",
        "step_median_s",
        "decode_s",
        "encode_mp4_s",
        "floor_step_s",
    )
    for key in timed:
        assert figures[key] > 0, key
    assert figures["step_to_floor"] > 1
