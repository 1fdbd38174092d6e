"""The container images, checked without a Docker engine (this machine has none, so `make images` cannot run here).

What can be checked is checked for real: each image's build stage is replayed without Docker (its COPYs into a
folder, then the same `uv pip install '.[extra]'` its Dockerfile runs, into a fresh venv), so what the image
copies is enough and no more, and the slim components import and start without torch; and each Dockerfile is
read for what the chart and the Pod Security "restricted" profile rely on (non-root numeric USER, pinned bases,
the entry point the operator and chart run).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from videogen_dev.settings import REPO_ROOT
from videogen_operator.settings import OperatorSettings

COMPONENTS = ("api", "operator", "runner")
HEAVY = ("torch", "diffusers", "transformers", "nvidia", "triton", "numpy")


def instructions(component: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = (REPO_ROOT / component / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def final_stage(component: str) -> list[tuple[str, str]]:
    steps = instructions(component)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def build_stage_copies(component: str) -> list[tuple[str, str]]:
    """(source, destination) of each COPY from the build context before the final stage: what the install sees."""
    steps = instructions(component)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return [
        (rest.split()[0], rest.split()[1])
        for keyword, rest in steps[:last_from]
        if keyword == "COPY" and "--from" not in rest
    ]


def build_context(component: str, target: Path) -> Path:
    """The build stage's WORKDIR as its COPYs leave it (caches and build metadata stay out, as .dockerignore says)."""
    target.mkdir()
    for source, destination in build_stage_copies(component):
        origin = REPO_ROOT / source
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
            shutil.copytree(origin, target / destination, ignore=ignore)
        else:
            shutil.copy(origin, target / destination)
    return target


def fresh_venv(path: Path) -> Path:
    """A venv with the checkout's Python and nothing installed; returns its site-packages."""
    uv = REPO_ROOT / ".venv" / "bin" / "uv"
    subprocess.run(
        [str(uv), "venv", "-q", "--python", str(REPO_ROOT / ".venv" / "bin" / "python"), str(path)], check=True
    )
    return next((path / "lib").glob("python3*/site-packages"))


def uv_install(venv: Path, *args: str, cwd: Path) -> None:
    uv = REPO_ROOT / ".venv" / "bin" / "uv"
    subprocess.run(
        [str(uv), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *args],
        cwd=cwd,
        check=True,
        timeout=300,
    )


def image_env(component: str) -> dict[str, str]:
    """The final stage's ENV, with paths the image COPYs files to pointing at those files in the checkout."""
    stage = final_stage(component)
    copied = {}
    for keyword, rest in stage:
        if keyword == "COPY" and "--from" not in rest:
            source, destination = rest.split()
            copied[destination.rstrip("/")] = str(REPO_ROOT / source)
    env = {"PATH": os.environ["PATH"]}
    for keyword, rest in stage:
        if keyword == "ENV":
            for item in rest.split():
                name, _, value = item.partition("=")
                if name.startswith("VIDEOGEN_"):
                    env[name] = copied.get(value.rstrip("/"), value)
    return env


@pytest.mark.parametrize("component", ["api", "operator"])
def test_slim_image_install_set_runs_the_component_without_torch(component: str, tmp_path: Path) -> None:
    (install,) = [args for keyword, args in instructions(component) if keyword == "RUN" and "'.[" in args]
    extra = re.search(r"'\.\[(\w+)\]'", install)
    assert extra is not None and extra.group(1) == component, install
    venv = tmp_path / "venv"
    site = fresh_venv(venv)
    uv_install(venv, f".[{component}]", cwd=build_context(component, tmp_path / "src"))
    installed = {path.name.split("-")[0].lower() for path in site.iterdir() if path.name.endswith(".dist-info")}
    assert not [name for name in installed if name.startswith(HEAVY)], installed
    # The modules the image's commands run (the operator's image also runs the model download Jobs).
    modules = {
        "api": ["videogen_api.main", "videogen_api.app"],
        "operator": ["videogen_operator.main", "videogen_operator.download"],
    }
    probe = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules[component])
    probe += f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=image_env(component),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert (venv / "bin" / f"videogen-{component}").exists()


@pytest.mark.parametrize("component", COMPONENTS)
def test_images_run_as_a_numeric_non_root_user_from_pinned_bases(component: str) -> None:
    steps = instructions(component)
    args = {}
    for keyword, rest in steps:
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name] = default
    for keyword, rest in steps:
        if keyword == "FROM":
            image = rest.split()[0]
            image = args.get(image.strip("${}"), image)
            # An exact version tag (digits, never latest); the digest is left to the builder (see the comment).
            assert re.search(r":\d+\.\d+(\.\d+)?", image), f"{component}: unpinned base {image}"
    users = [rest for keyword, rest in final_stage(component) if keyword == "USER"]
    assert users, f"{component}: the final stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    # runAsNonRoot can only be verified by the kubelet for a numeric user.
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0, users[-1]


def test_entry_points_are_console_scripts_and_the_runner_command_matches_the_operator_and_chart() -> None:
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    commands = {}
    for component in COMPONENTS:
        stage = final_stage(component)
        entry = [yaml.safe_load(rest) for keyword, rest in stage if keyword == "ENTRYPOINT"][-1]
        cmd = [yaml.safe_load(rest) for keyword, rest in stage if keyword == "CMD"]
        assert entry[0] in scripts, f"{component}: {entry[0]} is not a console script of pyproject.toml"
        commands[component] = entry + (cmd[-1] if cmd else [])
    chart_values = yaml.safe_load((REPO_ROOT / "helm" / "videogen" / "values.yaml").read_text())
    assert commands["runner"] == OperatorSettings().runner_command == chart_values["runner"]["command"]
    assert commands["operator"] == ["videogen-operator", "run"]


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    ignored = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".dev", "tests"} <= ignored
    for component in COMPONENTS:
        for keyword, rest in instructions(component):
            if keyword == "COPY" and "--from" not in rest:
                source = rest.split()[0].rstrip("/")
                assert (REPO_ROOT / source).exists(), f"{component}: COPY {source} does not exist"
                assert source not in ignored, f"{component}: COPY {source} is excluded by .dockerignore"


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_image_copies_and_installs_only_common_and_its_own_component(component: str, tmp_path: Path) -> None:
    # Not the other components, not the dev tools (videogen_dev, with the smoke-model writer), not bench/ (the runner
    # bench): an image holds only what it runs.
    assert sorted(source.rstrip("/") for source, _ in build_stage_copies(component)) == sorted(
        ["pyproject.toml", "common", component]
    )
    venv = tmp_path / "venv"
    site = fresh_venv(venv)
    # Our own code only (--no-deps): the extras' dependencies are the other tests' business.
    uv_install(venv, "--no-deps", ".", cwd=build_context(component, tmp_path / "src"))
    ours = {path.name for path in site.iterdir() if path.name.startswith("videogen_")}
    assert ours == {"videogen_common", f"videogen_{component}"}
    package = site / f"videogen_{component}"
    imported = set()
    for module in package.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert {name for name in imported if name.startswith("videogen_")} <= ours, imported
    if component == "runner":
        # The tools that used to live in the runner package: videogen_dev.smoke_weights and bench/runner_bench.py.
        modules = {path.stem for path in package.glob("*.py")}
        assert not modules & {"smoke_model", "smoke_weights", "bench", "runner_bench"}, modules


def test_runner_image_has_what_torch_compile_needs_at_run_time() -> None:
    # Triton builds a small C launcher against Python's headers the first time a node compiles (runner_runtime
    # compile=true); without a compiler the first compiled job fails instead of getting faster.
    installed = " ".join(rest for keyword, rest in final_stage("runner") if keyword == "RUN")
    packages = set(re.findall(r"apt-get install [^&]*", installed)[0].split())
    assert {"gcc", "libc6-dev", "python3.11-dev"} <= packages, packages
