"""The real runner on the smoke models: its inputs change what it makes, SIGTERM in the middle of publishing leaves
nothing behind, and an out-of-GPU-memory error becomes exit 11 with advice a person can act on.

Helpers and fixtures are test_runner_end_to_end.py's (the same smoke models, S3 and progress bucket).
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tests.runner.test_runner_end_to_end import (
    decoded_frames,
    download,
    keys_under,
    make_job,
    progress_bucket,
    run_in_process,
    s3_env,
    smoke_models,
)
from videogen_common.resources.videojob_status import UsedParameters
from videogen_common.runner_contract import ExitCode
from videogen_dev.smoke_weights import LTX
from videogen_dev.waiting import wait_for
from videogen_runner.cli import failure_result
from videogen_runner.media import write_mp4

pytestmark = pytest.mark.runner
__all__ = ["progress_bucket", "smoke_models"]  # fixtures, used by name

TINY = {"numFrames": 9, "width": 64, "height": 64, "numInferenceSteps": 2, "seed": 7, "fps": 8}


def put_png(s3: Any, pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    key = f"runner-tests/inputs/{uuid.uuid4().hex}.png"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=buffer.getvalue(), ContentType="image/png")
    return f"s3://{s3.bucket}/{key}"


def put_mp4(s3: Any, frames: np.ndarray, tmp_path: Path) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.mp4"
    write_mp4(frames, path, 8)
    key = f"runner-tests/inputs/{path.name}"
    s3.client().upload_file(str(path), s3.bucket, key)
    return f"s3://{s3.bucket}/{key}"


def frames_for_inputs(
    s3: Any, progress_bucket: str, model: Path, mode: str, uris: list[str], tmp_path: Path, monkeypatch: Any
) -> list[np.ndarray]:
    """The decoded MP4 of one run per input, every other field (seed included) the same."""
    videos = []
    for i, uri in enumerate(uris):
        job = make_job(s3, progress_bucket, model, mode=mode, input={"uri": uri}, strength=0.8, **TINY)
        run_dir = tmp_path / str(i)
        run_dir.mkdir()
        outcome = run_in_process(job, s3_env(s3), run_dir, monkeypatch)
        assert outcome.exit_code == 0, outcome.result
        videos.append(decoded_frames(download(s3, job.doc.output.video_key, run_dir / "out.mp4")))
    return videos


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_same_seed_with_two_different_input_images_gives_different_frames(
    s3, progress_bucket, smoke_models, tmp_path, monkeypatch
):
    dark = np.full((64, 64, 3), 20, np.uint8)
    bright = np.full((64, 64, 3), 235, np.uint8)
    uris = [put_png(s3, dark), put_png(s3, bright)]

    first, second = frames_for_inputs(
        s3, progress_bucket, smoke_models[LTX], "image-to-video", uris, tmp_path, monkeypatch
    )

    assert first.shape == second.shape == (9, 64, 64, 3)
    # The image conditions the first frame: a near-black and a near-white input cannot give the same video.
    assert mean_difference(first, second) > 5, "the input image did not change the frames"
    assert first[0].mean() < second[0].mean(), "the first frame follows its input's brightness"


def test_same_seed_with_two_different_input_videos_gives_different_frames(
    s3, progress_bucket, smoke_models, tmp_path, monkeypatch
):
    dark = np.full((9, 64, 64, 3), 20, np.uint8)
    bright = np.full((9, 64, 64, 3), 235, np.uint8)
    uris = [put_mp4(s3, dark, tmp_path), put_mp4(s3, bright, tmp_path)]

    first, second = frames_for_inputs(
        s3, progress_bucket, smoke_models[LTX], "video-to-video", uris, tmp_path, monkeypatch
    )

    assert first.shape == second.shape == (9, 64, 64, 3)
    assert mean_difference(first, second) > 5, "the input video did not change the frames"


class StallingProxy:
    """A TCP proxy to S3 that holds the request for ``stall_on`` (the video's key) until :meth:`release`, so a test
    can act while the runner is in the middle of publishing, after the poster went up."""

    def __init__(self, target: str, stall_on: bytes) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.stall_on = stall_on
        self.stalled = threading.Event()
        self.released = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        self.released.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self.stall_on in data and not self.stalled.is_set():
                    self.stalled.set()
                    self.released.wait(60)
                sink.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.released.set()
        self.server.close()


@pytest.fixture
def stalling_proxy(s3) -> Iterator[Any]:
    proxies: list[StallingProxy] = []

    def make(stall_on: str) -> StallingProxy:
        proxies.append(StallingProxy(s3.endpoint_url, stall_on.encode()))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()


def test_sigterm_while_uploading_exits_143_terminated_and_rolls_back_every_upload(
    s3, progress_bucket, smoke_models, tmp_path, stalling_proxy
):
    job = make_job(s3, progress_bucket, smoke_models[LTX], mode="text-to-video", **TINY)
    out = job.doc.output
    proxy = stalling_proxy(f"PUT /{out.bucket}/{out.video_key} ")
    doc_file = tmp_path / "input.json"
    doc_file.write_text(job.doc.to_json())
    termination = tmp_path / "termination-log"
    runner = subprocess.Popen(
        [sys.executable, "-m", "videogen_runner.cli", "run", "--input", str(doc_file)],
        env={**os.environ, **s3_env(s3, proxy.url), "VIDEOGEN_TERMINATION_LOG": str(termination)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert proxy.stalled.wait(120), "the runner never started uploading the video"
        # The poster went up first: the rollback has something to remove.
        assert keys_under(s3, job.prefix + "/") == [out.poster_key]

        # SIGTERM while the video's PUT is in flight; the PUT then completes, so the video is in S3 too.
        runner.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        proxy.release()
        _, stderr = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()

    assert runner.returncode == 143, stderr.decode(errors="replace")[-2000:]
    result = json.loads(termination.read_text())
    assert (result["exitCode"], result["reason"]) == (143, "Terminated")
    wait_for(lambda: keys_under(s3, job.prefix + "/"), lambda keys: keys == [], 10, "the rollback to finish")


USED = UsedParameters(model="m", pipeline="LTXPipeline", num_frames=65, width=512, height=512, fps=24, seed=1,
                      num_inference_steps=50, guidance_scale=7.5)  # fmt: skip


@pytest.mark.parametrize(
    "error",
    [
        # The class alone decides, whatever the words (allocators other than CUDA's word it differently).
        torch.OutOfMemoryError("Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.19 GiB"),
        RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported"),
    ],
    ids=["torch-oom-error", "cuda-runtime-message"],
)
def test_cuda_out_of_memory_exits_11_and_advises_fewer_frames_or_a_smaller_size(error: BaseException) -> None:
    result = failure_result(error, USED)

    assert (result.exit_code, result.reason) == (ExitCode.OUT_OF_MEMORY, "OutOfMemory")
    assert result.message == "out of GPU memory; try fewer frames or a smaller width/height (ran 65 frames at 512x512)"


def test_other_errors_with_memory_words_are_internal_not_out_of_memory() -> None:
    # The control: a CPU allocation failure or an unrelated error must not be reported as the GPU's.
    for error in (RuntimeError("out of memory on the host"), ValueError("CUDA out of memory")):
        assert failure_result(error, USED).exit_code == ExitCode.INTERNAL
