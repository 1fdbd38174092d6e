"""Both front doors of the installed system, on the smoke models.

REST: the reference API's curl examples (../shared/seed/api-reference.md), sent as written, and a request that gives
nothing but a prompt: each job goes pending -> processing -> completed, and /outputs serves an MP4 whose decoded
frame count, size and fps are what the job reports it used.

kubectl: `kubectl apply -f examples/videojob-smoke-wan-text-to-video.yaml` runs the same way, and the API serves its
output.

Metrics: the operator counts each run under its VideoModel and mode (outcome, every phase of the real runner, GPU
time) and the API each submit; every metric the chart's dashboard and alerts read is one these processes export.

All five are submitted together and share the queue (dev/local-values.yaml's cap runs two at once), as they would on
a cluster; each test below looks at one aspect of the same runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import StateRecorder, System
from tests.helm.conftest import Helm
from tests.monitoring import (
    Samples,
    Scrapes,
    dashboard_queries,
    load_dashboard,
    metric_names,
    rule_expressions,
    samples,
    scraped_names,
    value,
)
from videogen_dev.settings import REPO_ROOT
from videogen_dev.waiting import wait_for
from videogen_runner.media import VideoProbe

#: The API tests' sample inputs: a 64x48 JPEG and a 2 s, 20-frame 160x120 MP4.
DATA = Path(__file__).parents[1] / "api" / "data"
WAN_EXAMPLE = REPO_ROOT / "examples" / "videojob-smoke-wan-text-to-video.yaml"

# The curl examples' bodies and form fields, verbatim.
SUNSET = {"prompt": "A beautiful sunset over the ocean", "num_frames": 64, "fps": 24, "guidance_scale": 7.5}
DOG = {"prompt": "A dog running in a park", "num_frames": "64", "fps": "24"}
ANIME = {"prompt": "Transform into anime style", "strength": "0.8"}
DEFAULTS_ONLY = {"prompt": "A cat playing with a ball of yarn"}
REST_EXAMPLES = ["text-to-video", "image-to-video", "video-to-video", "defaults-only"]


@dataclass(frozen=True)
class Run:
    job_id: str
    states: list[str]
    job: dict[str, Any]
    probe: VideoProbe | None


@dataclass(frozen=True)
class Runs:
    rest: dict[str, Run]
    #: The kubectl-applied VideoJob's final status.
    kubectl: dict[str, Any]
    kubectl_probe: VideoProbe | None
    #: The operator's and the API's metrics before the first submit.
    metrics_before: Scrapes


@pytest.fixture(scope="module")
def runs(module_system: System) -> Iterator[Runs]:
    system = module_system
    requests: dict[str, tuple[str, dict[str, Any]]] = {
        "text-to-video": ("text-to-video", {"json": SUNSET}),
        "image-to-video": (
            "image-to-video",
            {"files": {"image": ("image.jpg", (DATA / "image.jpg").read_bytes(), "image/jpeg")}, "data": DOG},
        ),
        "video-to-video": (
            "video-to-video",
            {"files": {"video": ("video.mp4", (DATA / "clip.mp4").read_bytes(), "video/mp4")}, "data": ANIME},
        ),
        "defaults-only": ("text-to-video", {"json": DEFAULTS_ONLY}),
    }
    example = yaml.safe_load(WAN_EXAMPLE.read_text())["metadata"]["name"]
    metrics_before = Scrapes.take(system.release)
    try:
        with StateRecorder(system.release.api_url) as recorder:
            ids = {}
            for name, (mode, request) in requests.items():
                ids[name] = system.submit(mode, **request)
                recorder.add(ids[name], "pending")  # what the submit answered (System.submit checks it)
            system.cluster.kubectl("apply", "-n", system.namespace, "-f", str(WAN_EXAMPLE))
            finals = system.wait_all_final(list(ids.values()), timeout=480)
        kubectl_status = system.wait_videojob_final(example, 120)
        rest = {
            name: Run(
                job_id,
                recorder.states[job_id],
                finals[job_id],
                system.probe_output(finals[job_id]) if finals[job_id]["status"] == "completed" else None,
            )
            for name, job_id in ids.items()
        }
        kubectl_probe = (
            system.probe_output({"status": "completed", "output_path": f"./outputs/{kubectl_status['output']['file']}"})
            if kubectl_status["state"] == "completed"
            else None
        )
        yield Runs(rest, kubectl_status, kubectl_probe, metrics_before)
    finally:
        system.cluster.kubectl("delete", "-n", system.namespace, "-f", str(WAN_EXAMPLE), "--wait=false", check=False)


@pytest.mark.parametrize("example", REST_EXAMPLES)
def test_reference_example_goes_pending_processing_completed(runs: Runs, example: str) -> None:
    run = runs.rest[example]
    assert run.states == ["pending", "processing", "completed"], run.job


@pytest.mark.parametrize("example", REST_EXAMPLES)
def test_reference_example_output_has_the_frames_size_and_fps_it_reports(runs: Runs, example: str) -> None:
    run = runs.rest[example]
    assert run.probe is not None, run.job
    used = run.job["used"]
    assert (run.probe.frames, run.probe.width, run.probe.height) == (used["num_frames"], used["width"], used["height"])
    assert round(run.probe.fps) == used["fps"]


def test_reference_examples_ran_with_what_they_asked_for_on_the_default_models(
    runs: Runs, module_system: System
) -> None:
    defaults = module_system.release.values["defaultModels"]
    t2v, i2v, v2v, bare = (runs.rest[name].job for name in REST_EXAMPLES)
    # 64 frames run as 65: the models take 8k+1 (LTX) or 4k+1 (Wan) frames, and `used` says what ran.
    assert (t2v["used"]["num_frames"], t2v["used"]["fps"], t2v["used"]["guidance_scale"]) == (65, 24, 7.5)
    assert (t2v["used"]["width"], t2v["used"]["height"], t2v["used"]["num_inference_steps"]) == (512, 512, 50)
    assert (i2v["used"]["num_frames"], i2v["used"]["fps"]) == (65, 24)
    assert v2v["used"]["strength"] == 0.8
    # Text- and image-to-video have no strength to report, whatever the spec's default says.
    assert t2v["used"].get("strength") is None and i2v["used"].get("strength") is None
    # Nothing but a prompt: the reference's defaults (64 frames, 24 fps, 512x512, 50 steps).
    assert (bare["used"]["num_frames"], bare["used"]["fps"], bare["used"]["width"]) == (65, 24, 512)
    assert bare["used"]["num_inference_steps"] == 50
    assert [t2v["model"], i2v["model"], v2v["model"], bare["model"]] == [
        defaults["textToVideo"],
        defaults["imageToVideo"],
        defaults["videoToVideo"],
        defaults["textToVideo"],
    ]
    for job in (t2v, i2v, v2v, bare):
        assert job["output_path"].startswith(f"./outputs/{job['mode'].split('-')[0]}2video_"), job


def test_kubectl_applied_example_runs_to_completed_and_the_api_serves_its_output(runs: Runs) -> None:
    status = runs.kubectl
    assert status["state"] == "completed", status
    # Served by the same /outputs as the REST jobs: the operator wrote it where the API reads (one S3 configuration).
    assert runs.kubectl_probe is not None
    used = status["used"]
    assert (runs.kubectl_probe.frames, runs.kubectl_probe.width, runs.kubectl_probe.height) == (
        used["numFrames"],
        used["width"],
        used["height"],
    )
    assert round(runs.kubectl_probe.fps) == used["fps"]
    assert used["pipeline"].startswith("Wan"), used  # the manifest's model, not the REST default


#: The phases every run of the real runner reports (download_input only where there is an input file).
PHASES = ("queue", "load", "encode_prompt", "denoise", "decode", "encode", "upload")


def test_the_runs_are_counted_per_model_and_mode_and_every_dashboard_and_alert_metric_is_exported(
    runs: Runs, module_system: System
) -> None:
    completed: Counter[tuple[str, str]] = Counter((run.job["model"], run.job["mode"]) for run in runs.rest.values())
    example = yaml.safe_load(WAN_EXAMPLE.read_text())["spec"]
    completed[(example["model"], example["mode"])] += 1
    # REST jobs ask for spec.gpus' default, one; the manifest for none (a CPU run uses no GPU time).
    on_gpus = {key for key in completed if key != (example["model"], example["mode"])}
    assert example["gpus"] == 0 and (example["model"], example["mode"]) not in {
        (run.job["model"], run.job["mode"]) for run in runs.rest.values()
    }
    assert all(run.job["status"] == "completed" for run in runs.rest.values()) and runs.kubectl["state"] == "completed"
    before = samples(runs.metrics_before.operator)

    def finished(scraped: Samples, model: str, mode: str) -> float:
        labels = {"model": model, "mode": mode, "state": "completed", "reason": "Succeeded"}
        return value(scraped, "videogen_videojobs_finished_total", **labels)

    # Each run was counted by the status write that made it final, which the waits above have seen.
    scrapes = wait_for(
        lambda: Scrapes.take(module_system.release),
        lambda now: all(
            finished(samples(now.operator), *key) - finished(before, *key) >= n for key, n in completed.items()
        ),
        10,
        "every run in the operator's metrics",
    )
    after = samples(scrapes.operator)
    for (model, mode), n in completed.items():
        labels = {"model": model, "mode": mode}
        assert finished(after, model, mode) - finished(before, model, mode) == n, (model, mode)
        for phase in PHASES:
            name = "videogen_videojob_phase_seconds_count"
            assert value(after, name, **labels, phase=phase) - value(before, name, **labels, phase=phase) == n, phase
        name = "videogen_videojob_duration_seconds_count"
        assert value(after, name, **labels, state="completed") - value(before, name, **labels, state="completed") == n
        # The runner containers ran for seconds each, times the GPUs they requested.
        gpu_seconds = value(after, "videogen_gpu_seconds_total", **labels) - value(
            before, "videogen_gpu_seconds_total", **labels
        )
        assert gpu_seconds > 0 if (model, mode) in on_gpus else gpu_seconds == 0, (model, mode, gpu_seconds)
    api_before, api_after = samples(runs.metrics_before.api), samples(scrapes.api)
    for mode in ("text-to-video", "image-to-video", "video-to-video"):
        submit = {"method": "POST", "route": f"/api/v1/generate/{mode}", "code": "202"}
        submitted = sum(1 for run in runs.rest.values() if run.job["mode"] == mode)
        counted = value(api_after, "videogen_api_requests_total", **submit)
        assert counted - value(api_before, "videogen_api_requests_total", **submit) == submitted, mode

    exported = scraped_names(scrapes.operator) | scraped_names(scrapes.api)
    helm = Helm(module_system.cluster.settings.helm, module_system.cluster.kubeconfig)
    rules = helm.template(module_system.namespace, "--set", "monitoring.prometheusRule.enabled=true")
    queries = [*dashboard_queries(load_dashboard()), *rule_expressions(rules).values()]
    missing = {name for expr in queries for name in metric_names(expr)} - exported
    assert not missing, f"the dashboard or alerts read metrics the running components do not export: {sorted(missing)}"
