"""A fingerprint of what an image build reads: every file of the build context (the repository root less what
.dockerignore leaves out), plus the build's own arguments.

`make images` labels each image with it and skips the build when the tagged image already carries the same one, so
`make up` on an unchanged checkout does not spend a minute asking the engine to re-walk a 6 GB image's layer cache.
The matcher errs towards including files: a file counted that the engine would leave out only costs a rebuild (which
the layer cache makes cheap); a file the engine reads must never be left out, or a stale image would pass for new.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

#: The label each image built here carries: the fingerprint of its inputs.
BUILD_INPUTS_LABEL = "videogen.dev/build-inputs"


def ignore_patterns(context: Path) -> list[str]:
    """.dockerignore's patterns (comments and blanks dropped, leading "./" and "/" and trailing "/" removed)."""
    path = context / ".dockerignore"
    if not path.exists():
        return []
    patterns = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            # A re-include would make the matcher below leave out a file the engine reads: refuse to guess.
            raise ValueError(f".dockerignore re-includes {line[1:]!r}: build_inputs.py does not handle '!' patterns")
        patterns.append(line.removeprefix("./").strip("/"))
    return patterns


def is_ignored(relative: str, patterns: Sequence[str]) -> bool:
    """Whether `relative` (a "/"-separated path in the context) or one of its parent folders matches a pattern, the
    way .dockerignore matches: a pattern names a path from the context's root, and "**/" matches any depth."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("**/"):
            # Any run of segments: "**/__pycache__" matches "__pycache__" and "a/__pycache__/b.pyc".
            tail = pattern[3:]
            runs = (
                "/".join(parts[start:end]) for start in range(len(parts)) for end in range(start + 1, len(parts) + 1)
            )
            if any(_match_segments(run, tail) for run in runs):
                return True
        elif any(_match_segments(prefix, pattern) for prefix in prefixes):
            return True
    return False


def _match_segments(path: str, pattern: str) -> bool:
    """fnmatch per path segment ("*" does not cross "/"), as Go's filepath.Match does for .dockerignore."""
    path_parts, pattern_parts = path.split("/"), pattern.split("/")
    return len(path_parts) == len(pattern_parts) and all(
        fnmatch.fnmatchcase(part, wanted) for part, wanted in zip(path_parts, pattern_parts, strict=True)
    )


def context_files(context: Path) -> Iterator[str]:
    """The context's files the engine would send, as sorted "/"-separated relative paths."""
    patterns = ignore_patterns(context)
    found: list[str] = []
    for folder, dirs, files in os.walk(context):
        relative_folder = Path(folder).relative_to(context).as_posix()
        prefix = "" if relative_folder == "." else f"{relative_folder}/"
        dirs[:] = [name for name in dirs if not is_ignored(prefix + name, patterns)]
        found.extend(prefix + name for name in files if not is_ignored(prefix + name, patterns))
    yield from sorted(found)


def fingerprint(context: Path, build_args: Iterable[str]) -> str:
    """sha256 over the build's arguments and each context file's path, mode bit for execution and bytes."""
    digest = hashlib.sha256()
    for arg in build_args:
        digest.update(b"arg\0" + arg.encode() + b"\0")
    for relative in context_files(context):
        path = context / relative
        if path.is_symlink():
            digest.update(b"link\0" + relative.encode() + b"\0" + os.readlink(path).encode() + b"\0")
            continue
        executable = b"x" if os.access(path, os.X_OK) else b"-"
        size = str(path.stat().st_size).encode()
        digest.update(b"file\0" + relative.encode() + b"\0" + executable + size + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()
