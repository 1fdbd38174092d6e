"""Tiny random-weight models in a model cache folder, laid out as huggingface_hub's cache, so the operator's
download pods find them offline (HF_HUB_OFFLINE=1) exactly as they would find a downloaded model.

The weights come from `videogen-dev make-smoke-model` (`videogen_dev.smoke_weights`); their repo ids
(videogen-smoke/...) are not on the Hub. `examples/videomodel-smoke.yaml` declares the matching VideoModels.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from videogen_dev.settings import DevSettings

REPO_NAMESPACE = "videogen-smoke"
MODELS = ("tiny-wan-t2v", "tiny-wan-i2v", "tiny-ltx")
# A fixed commit hash: the weights are deterministic (seeded), so one revision names them.
REVISION = "0" * 40


def repo_id(model: str) -> str:
    return f"{REPO_NAMESPACE}/{model}"


def snapshot_dir(cache: Path, model: str) -> Path:
    return cache / "hub" / f"models--{REPO_NAMESPACE}--{model}" / "snapshots" / REVISION


def fill_model_cache(settings: DevSettings, cache: Path, models: tuple[str, ...] = MODELS) -> None:
    """Write the smoke models that are missing from `cache` (idempotent; each model takes seconds)."""
    missing = [m for m in models if not (snapshot_dir(cache, m) / "model_index.json").exists()]
    if not missing:
        return
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".smoke-") as scratch:
        only = [arg for m in missing for arg in ("--only", m)]
        # A process of its own: torch stays out of the process that runs the local environment.
        subprocess.run(
            [str(settings.venv_bin / "videogen-dev"), "make-smoke-model", scratch, *only],
            check=True,
            capture_output=True,
            timeout=300,
        )
        for model in missing:
            target = snapshot_dir(cache, model)
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            (Path(scratch) / model).rename(target)
            refs = target.parent.parent / "refs"
            refs.mkdir(exist_ok=True)
            (refs / "main").write_text(REVISION)


def model_cache_volume(name: str, cache: Path, namespace: str, claim: str = "videogen-model-cache") -> dict[str, Any]:
    """A hostPath PersistentVolume over `cache`, reserved for the model cache claim in `namespace`: how the local
    node (one machine) provides what a cluster's ReadWriteMany storage class would."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "",
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(cache)},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }
