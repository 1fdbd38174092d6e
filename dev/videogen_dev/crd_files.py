"""Writes the generated CRDs (``crds/`` and the chart's copy) from the resource types; used by ``make crds``."""

from __future__ import annotations

from pathlib import Path

from videogen_common.resources.crd import rendered_files
from videogen_dev.settings import REPO_ROOT


def stale(root: Path = REPO_ROOT) -> list[str]:
    """The generated files whose committed text differs from the generator's (missing ones included)."""
    return [
        path
        for path, text in rendered_files().items()
        if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text
    ]


def write(root: Path = REPO_ROOT) -> list[str]:
    """Rewrite the stale files; returns their paths (empty when everything was current)."""
    changed = stale(root)
    files = rendered_files()
    for path in changed:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(files[path], encoding="utf-8")
    return changed
