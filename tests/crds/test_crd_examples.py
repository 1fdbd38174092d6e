"""Every manifest in examples/ is accepted by the API server once crds/ is installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
SMOKE_MODELS = {"smoke-wan-t2v", "smoke-wan-i2v", "smoke-ltx"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_examples_cover_every_mode_for_wan_ltx_and_smoke() -> None:
    jobs = [doc for path in EXAMPLES for doc in documents(path) if doc["kind"] == "VideoJob"]
    models = {
        doc["metadata"]["name"]: doc for path in EXAMPLES for doc in documents(path) if doc["kind"] == "VideoModel"
    }
    assert set(models) >= SMOKE_MODELS
    repo_ids = {m["spec"]["repoId"] for m in models.values()}
    assert {
        "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
        "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
        "Lightricks/LTX-Video",
    } <= repo_ids
    modes_by_model: dict[str, set[str]] = {}
    for job in jobs:
        modes_by_model.setdefault(job["spec"]["model"], set()).add(job["spec"]["mode"])
    all_modes = {"text-to-video", "image-to-video", "video-to-video"}
    wan = {m for m in modes_by_model if m.lower().startswith(("wan", "wan-ai/"))}
    ltx = {m for m in modes_by_model if "ltx" in m.lower() and not m.startswith("smoke")}
    assert set().union(*(modes_by_model[m] for m in wan)) == all_modes
    assert set().union(*(modes_by_model[m] for m in ltx)) == all_modes
    smoke_jobs = [job for job in jobs if job["spec"]["model"] in SMOKE_MODELS]
    assert {job["spec"]["model"] for job in smoke_jobs} == SMOKE_MODELS
    for job in smoke_jobs:  # small enough for a CPU
        spec = job["spec"]
        assert spec["gpus"] == 0
        assert spec["width"] * spec["height"] <= 128 * 128
        assert spec["numFrames"] <= 17
        assert spec["numInferenceSteps"] <= 4
    for job in jobs:
        if "input" in job["spec"]:
            assert job["spec"]["input"]["uri"].startswith("s3://videogen/inputs/")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_accepted_by_the_api_server(kube, path) -> None:
    result = kube("apply", "--validate=strict", "-f", str(path))
    for doc in documents(path):
        obj = kube.get(doc["kind"].lower(), doc["metadata"]["name"])
        assert obj["spec"].items() >= doc["spec"].items(), result.stdout


def test_all_examples_apply_together(kube) -> None:
    examples_dir = str(EXAMPLES[0].parent)
    kube("apply", "--validate=strict", "-f", examples_dir)
    names = kube("get", "videogen", "-o", "name").stdout.split()
    expected = sum(len(documents(p)) for p in EXAMPLES)
    assert len(names) == expected
