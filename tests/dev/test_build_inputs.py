"""The image builds' input fingerprint (dev/videogen_dev/build_inputs.py): `make images` skips a build only when
nothing the engine would read has changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from videogen_dev import build_inputs
from videogen_dev.settings import REPO_ROOT


def test_the_repositorys_dockerignore_leaves_out_what_the_images_never_read() -> None:
    patterns = build_inputs.ignore_patterns(REPO_ROOT)
    files = list(build_inputs.context_files(REPO_ROOT))
    # What the Dockerfiles COPY is in; tests, the venv, git and caches (hypothesis' examples change on every test run)
    # are out.
    assert {"pyproject.toml", "uv.lock", "api/Dockerfile", "runner/Dockerfile"} <= set(files)
    assert any(name.startswith("common/videogen_common/") for name in files)
    for outside in ("tests/", ".git/", ".venv/", ".hypothesis/", ".dev/", "helm/", "dev/"):
        assert not any(name.startswith(outside) for name in files), outside
    assert not any(name.endswith((".pyc", ".md")) for name in files)
    assert build_inputs.is_ignored("api/videogen_api/__pycache__/app.cpython-311.pyc", patterns)
    assert not build_inputs.is_ignored("api/videogen_api/app.py", patterns)


@pytest.mark.parametrize(
    ("pattern", "path", "ignored"),
    [
        ("tests", "tests/api/test_x.py", True),
        ("tests", "api/tests/x.py", False),  # a plain pattern names a path from the root
        ("*.egg-info", "videogen.egg-info/PKG-INFO", True),
        ("*.egg-info", "api/videogen.egg-info/PKG-INFO", False),  # "*" does not cross "/"
        ("**/*.md", "README.md", True),
        ("**/*.md", "api/docs/x.md", True),
        ("**/__pycache__", "a/b/__pycache__/c.pyc", True),
        ("**/__pycache__", "a/b/pycache/c.py", False),
    ],
)
def test_patterns_match_as_dockerignore_does(pattern: str, path: str, ignored: bool) -> None:
    assert build_inputs.is_ignored(path, [pattern]) is ignored


def test_the_fingerprint_follows_the_context_and_the_arguments_only(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("# comment\ntests\n**/*.md\n")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "app.py").write_text("print(1)\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_app.py").write_text("x = 1\n")
    first = build_inputs.fingerprint(tmp_path, ["build", "-t", "videogen/api:1"])
    assert build_inputs.fingerprint(tmp_path, ["build", "-t", "videogen/api:1"]) == first

    (tmp_path / "tests" / "test_app.py").write_text("x = 2\n")
    (tmp_path / "api" / "NOTES.md").write_text("ignored\n")
    assert build_inputs.fingerprint(tmp_path, ["build", "-t", "videogen/api:1"]) == first

    assert build_inputs.fingerprint(tmp_path, ["build", "-t", "videogen/api:2"]) != first
    (tmp_path / "api" / "app.py").write_text("print(2)\n")
    changed = build_inputs.fingerprint(tmp_path, ["build", "-t", "videogen/api:1"])
    assert changed != first
    (tmp_path / "api" / "app.py").chmod(0o755)
    assert build_inputs.fingerprint(tmp_path, ["build", "-t", "videogen/api:1"]) != changed
    (tmp_path / "api" / "new.py").write_text("")
    assert build_inputs.fingerprint(tmp_path, ["build", "-t", "videogen/api:1"]) != changed


def test_a_re_include_is_refused_rather_than_guessed(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("docs\n!docs/keep.txt\n")
    with pytest.raises(ValueError, match="re-includes"):
        build_inputs.ignore_patterns(tmp_path)
