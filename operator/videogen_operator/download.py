"""The download pod's entrypoint: one VideoModel's weights into the model cache with huggingface_hub.

Run as ``python -m videogen_operator.download`` in the download Job (settings come from the environment the
operator writes into the pod). Only safetensors, JSON configs and tokenizer files are fetched, never pickles. The
result (path, commit, size, file count, pipeline class, family, modes) goes to the termination message as JSON,
where the operator reads it into the VideoModel status.

Exit codes: 0 ready; 10 the repo, revision or its contents are unusable (never retried); 12 anything else
(network, disk: retried by the Job).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from videogen_common.runner_contract import MODEL_MODES, ExitCode

ALLOW_PATTERNS = [
    "*.safetensors",
    "*.safetensors.index.json",
    "*.json",
    "*.txt",
    "*.model",  # sentencepiece tokenizers
    "tokenizer*",
    "spiece*",
    "merges.txt",
    "vocab*",
]
IGNORE_PATTERNS = ["*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.pickle", "*.msgpack", "*.h5", "*.onnx*"]
TERMINATION_LOG = os.environ.get("VIDEOGEN_TERMINATION_LOG", "/dev/termination-log")


def family_of(pipeline_class: str) -> str | None:
    """The CRD's family for a diffusers pipeline class."""
    if pipeline_class.startswith("Wan"):
        return "wan"
    if pipeline_class.startswith("LTX"):
        return "ltx"
    return None


def describe(folder: Path, family: str | None) -> dict[str, Any]:
    """What the VideoModel status shows about a downloaded snapshot folder; raises ValueError if it is unusable."""
    index = folder / "model_index.json"
    if not index.is_file():
        raise ValueError(f"{folder.name} has no model_index.json: not a diffusers pipeline repo")
    pipeline_class = str(json.loads(index.read_text()).get("_class_name", ""))
    if pipeline_class not in MODEL_MODES:
        known = ", ".join(sorted(MODEL_MODES))
        raise ValueError(f"pipeline class {pipeline_class or '(none)'} is not one the runner runs ({known})")
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {
        "path": str(folder),
        "resolvedRevision": folder.name,
        "sizeBytes": sum(p.stat().st_size for p in files),
        "fileCount": len(files),
        "pipelineClass": pipeline_class,
        "family": family or family_of(pipeline_class),
        "modes": list(MODEL_MODES[pipeline_class]),
    }


def download(repo_id: str, revision: str, cache_dir: str) -> Path:
    from huggingface_hub import snapshot_download

    path = snapshot_download(
        repo_id,
        revision=revision,
        cache_dir=cache_dir,
        allow_patterns=ALLOW_PATTERNS,
        ignore_patterns=IGNORE_PATTERNS,
        token=os.environ.get("HF_TOKEN") or None,
    )
    return Path(path)


def _finish(code: ExitCode, doc: dict[str, Any]) -> None:
    text = json.dumps(doc, separators=(",", ":"))
    Path(TERMINATION_LOG).write_text(text[:4096])
    print(text, flush=True)
    sys.exit(int(code))


def main() -> None:
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    repo_id = os.environ["VIDEOGEN_DOWNLOAD_REPO_ID"]
    revision = os.environ.get("VIDEOGEN_DOWNLOAD_REVISION", "main")
    cache_dir = os.environ["VIDEOGEN_DOWNLOAD_CACHE_DIR"]
    family = os.environ.get("VIDEOGEN_DOWNLOAD_FAMILY") or None
    try:
        folder = download(repo_id, revision, cache_dir)
        result = describe(folder, family)
    except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError, ValueError) as err:
        _finish(ExitCode.INVALID_INPUT, {"reason": "InvalidModel", "message": f"{repo_id}@{revision}: {err}"})
    except Exception as err:
        _finish(ExitCode.TRANSIENT, {"reason": "DownloadFailed", "message": f"{repo_id}@{revision}: {err}"})
    _finish(ExitCode.SUCCEEDED, {"reason": "Ready", **result})


if __name__ == "__main__":
    main()
