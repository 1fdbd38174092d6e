"""The download pod's entrypoint: one VideoModel's weights into the model cache with huggingface_hub.

Run as ``python -m videogen_operator.download`` in the download Job. It reads its DownloadInput from the
environment and leaves a DownloadResult as its termination message (``videogen_common.download_contract``), which
the operator turns into the VideoModel status. Only safetensors, JSON configs and tokenizer files are fetched,
never pickles.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import NoReturn

from videogen_common.download_contract import INPUT_ENV, DownloadInput, DownloadOutcome, DownloadResult, Snapshot
from videogen_common.families import model_pipeline
from videogen_common.runner_contract import ExitCode
from videogen_common.termination import TERMINATION_LOG, TERMINATION_LOG_ENV

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


def describe(folder: Path, request: DownloadInput) -> Snapshot:
    """What the VideoModel status shows about a downloaded snapshot folder; raises ValueError if it is unusable."""
    index = folder / "model_index.json"
    if not index.is_file():
        raise ValueError(f"{folder.name} has no model_index.json: not a diffusers pipeline repo")
    # UnknownPipelineError (a ValueError) names the classes the runner runs.
    pipeline = model_pipeline(str(json.loads(index.read_text()).get("_class_name", "")))
    files = [p for p in folder.rglob("*") if p.is_file()]
    return Snapshot(
        path=str(folder),
        resolved_revision=folder.name,
        size_bytes=sum(p.stat().st_size for p in files),
        file_count=len(files),
        pipeline_class=pipeline.class_name,
        family=request.family or pipeline.family.name,
        modes=list(pipeline.modes),
    )


def download(request: DownloadInput) -> Path:
    from huggingface_hub import snapshot_download

    path = snapshot_download(
        request.repo_id,
        revision=request.revision,
        cache_dir=request.cache_dir,
        allow_patterns=ALLOW_PATTERNS,
        ignore_patterns=IGNORE_PATTERNS,
        token=os.environ.get("HF_TOKEN") or None,
    )
    return Path(path)


def fetch(request: DownloadInput) -> tuple[ExitCode, DownloadResult]:
    """Download and describe the snapshot: the exit code and the result to leave behind."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    where = f"{request.repo_id}@{request.revision}"
    try:
        snapshot = describe(download(request), request)
    except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError, ValueError) as err:
        return ExitCode.INVALID_INPUT, DownloadResult(reason=DownloadOutcome.INVALID_MODEL, message=f"{where}: {err}")
    except Exception as err:
        return ExitCode.TRANSIENT, DownloadResult(reason=DownloadOutcome.DOWNLOAD_FAILED, message=f"{where}: {err}")
    return ExitCode.SUCCEEDED, DownloadResult(reason=DownloadOutcome.READY, snapshot=snapshot)


def finish(code: ExitCode, result: DownloadResult) -> NoReturn:
    text = result.to_termination_message()
    Path(os.environ.get(TERMINATION_LOG_ENV, TERMINATION_LOG)).write_text(text)
    print(text, flush=True)
    sys.exit(int(code))


def main() -> None:
    finish(*fetch(DownloadInput.model_validate_json(os.environ[INPUT_ENV])))


if __name__ == "__main__":
    main()
