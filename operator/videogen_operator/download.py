"""The download pod's entrypoint: one VideoModel's weights into the model cache with huggingface_hub.

Run as ``python -m videogen_operator.download`` in the download Job. It reads its DownloadInput from the
environment and leaves a DownloadResult as its termination message (``videogen_common.download_contract``), which
the operator turns into the VideoModel status. Only safetensors, JSON configs and tokenizer files are fetched,
never pickles, and only after the hub's metadata passed: the file list with sizes (within the budget) and
model_index.json (a pipeline of a known family). The float32 weights the runner runs in bf16 are then stored in
bf16 (``videogen_operator.bf16_weights``). A failed attempt removes what it left in the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from videogen_common.download_contract import INPUT_ENV, DownloadInput, DownloadOutcome, DownloadResult, Snapshot
from videogen_common.families import model_pipeline
from videogen_common.runner_contract import ExitCode
from videogen_common.termination import TERMINATION_LOG, TERMINATION_LOG_ENV
from videogen_operator.bf16_weights import convert_snapshot

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


class DownloadRefused(ValueError):
    """The hub's metadata says the repo must not be downloaded (over the budget, not a pipeline the runner runs)."""


def _wanted(paths: list[str]) -> list[str]:
    # The very filter snapshot_download applies, so the budget counts exactly the files it would fetch.
    from huggingface_hub.utils import filter_repo_objects  # type: ignore[attr-defined]

    return list(filter_repo_objects(paths, allow_patterns=ALLOW_PATTERNS, ignore_patterns=IGNORE_PATTERNS))


def check_on_the_hub(request: DownloadInput, token: str | None) -> str:
    """Ask the hub before fetching anything big: the commit the revision resolves to, the size of the files that
    would be fetched (refused over ``request.max_bytes``), and model_index.json (refused unless it names a pipeline
    of a known family). Returns the commit, so that what was checked is exactly what is then downloaded."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.hf_api import RepoFile

    api = HfApi(token=token)
    commit = api.repo_info(request.repo_id, revision=request.revision).sha
    if commit is None:
        raise DownloadRefused("the hub named no commit for this revision")
    sizes = {
        entry.path: entry.size
        for entry in api.list_repo_tree(request.repo_id, revision=commit, recursive=True)
        if isinstance(entry, RepoFile)
    }
    if "model_index.json" not in sizes:
        raise DownloadRefused("no model_index.json: not a diffusers pipeline repo")
    total = sum(sizes[path] for path in _wanted(list(sizes)))
    if request.max_bytes is not None and total > request.max_bytes:
        raise DownloadRefused(
            f"{total / 2**30:.1f} GiB to download is over the budget of {request.max_bytes / 2**30:.1f} GiB "
            "(setting download_max_bytes, chart modelCache.maxModelBytes)"
        )
    index = hf_hub_download(request.repo_id, "model_index.json", revision=commit, cache_dir=request.cache_dir)
    # UnknownPipelineError (a ValueError) names the pipelines the runner runs.
    model_pipeline(str(json.loads(Path(index).read_text()).get("_class_name", "")))
    return commit


def download(request: DownloadInput) -> Path:
    from huggingface_hub import constants, snapshot_download

    token = os.environ.get("HF_TOKEN") or None
    # Offline (a cache filled beforehand) there is no hub to ask and nothing is fetched; describe() checks the files.
    revision = request.revision if constants.HF_HUB_OFFLINE else check_on_the_hub(request, token)
    path = snapshot_download(
        request.repo_id,
        revision=revision,
        cache_dir=request.cache_dir,
        allow_patterns=ALLOW_PATTERNS,
        ignore_patterns=IGNORE_PATTERNS,
        token=token,
    )
    return Path(path)


def repo_folder(request: DownloadInput) -> Path:
    """huggingface_hub's folder of this repo in the cache (``models--<org>--<name>``)."""
    return Path(request.cache_dir) / f"models--{request.repo_id.replace('/', '--')}"


@dataclass(frozen=True)
class CacheState:
    """What a repo's cache folder held before an attempt: its entries and its refs (revision -> commit)."""

    existed: bool
    entries: frozenset[str]
    refs: dict[str, str]

    @classmethod
    def of(cls, folder: Path) -> CacheState:
        if not folder.is_dir():
            return cls(False, frozenset(), {})
        entries = frozenset(str(p.relative_to(folder)) for p in folder.rglob("*"))
        refs = {str(p.relative_to(folder)): p.read_text() for p in (folder / "refs").rglob("*") if p.is_file()}
        return cls(True, entries, refs)


def remove_partial(folder: Path, before: CacheState) -> None:
    """Undo a failed attempt: everything it added to the repo's folder goes (the whole folder when it made it) and
    the refs it moved point back, so snapshots that were complete before (another revision) stay usable."""
    if not before.existed:
        shutil.rmtree(folder, ignore_errors=True)
        return
    added = [p for p in folder.rglob("*") if str(p.relative_to(folder)) not in before.entries]
    # Deepest first, so a folder is empty by the time it is reached.
    for path in sorted(added, key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for name, commit in before.refs.items():
        (folder / name).write_text(commit)


def fetch(request: DownloadInput) -> tuple[ExitCode, DownloadResult]:
    """Download and describe the snapshot: the exit code and the result to leave behind. A failure removes what
    this attempt left in the cache, so a failed download never leaves partial weights on the volume."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    where = f"{request.repo_id}@{request.revision}"
    folder = repo_folder(request)
    before = CacheState.of(folder)
    try:
        path = download(request)
        # Before describe(): the status reports the bytes the cache holds, and the VideoModel becomes Ready only
        # once the weights are as the runner will read them.
        if record := convert_snapshot(path):
            print(
                f"stored {record.files} files of {', '.join(record.components)} in bf16: "
                f"{record.bytes_before / 2**30:.2f} GiB -> {record.bytes_after / 2**30:.2f} GiB",
                file=sys.stderr,
                flush=True,
            )
        snapshot = describe(path, request)
    except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError, ValueError) as err:
        remove_partial(folder, before)
        return ExitCode.INVALID_INPUT, DownloadResult(reason=DownloadOutcome.INVALID_MODEL, message=f"{where}: {err}")
    except Exception as err:
        remove_partial(folder, before)
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
