"""The container images, built and run for real (`make images`: podman here, Docker where an engine answers).

The api and operator images are built (layer-cached: seconds when nothing changed) and run as the chart runs
them: read-only root filesystem, the chart's non-root numeric user and group, every capability dropped, no
privilege escalation, /tmp an empty volume, the host's network. The API serves /health and /readyz under the
chart's RBAC with an in-cluster service account; the operator, under its chart rules, creates a VideoModel's
download Job, and that Job's own container then runs in the operator image against a pre-filled model cache.
What each image holds is checked inside it: no torch in api/operator, only its own component's code and console
script. The Dockerfiles and the lock are also read for what the chart, the Pod Security "restricted" profile and
reproducible builds rely on.

The runner image (about 6.5 GB) is built by `make images` and not here: see the README's image section.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import S3Endpoint
from videogen_dev import build_inputs, container_images, smoke_models
from videogen_dev.cluster import Cluster
from videogen_dev.settings import REPO_ROOT, DevSettings
from videogen_operator.settings import OperatorSettings

COMPONENTS = container_images.COMPONENTS
SLIM = ("api", "operator")
HEAVY = ("torch", "diffusers", "transformers", "nvidia", "triton", "numpy")
CHART_VALUES = yaml.safe_load((REPO_ROOT / "helm" / "videogen" / "values.yaml").read_text())
RBAC = REPO_ROOT / "helm" / "videogen" / "files" / "rbac"

# A cold machine installs podman, makes the local base and builds both images (a few minutes); warm, seconds.
pytestmark = pytest.mark.timeout(1200)


# --- the Dockerfiles, read ------------------------------------------------------------------------------------------


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


def context_copies(component: str) -> list[str]:
    """Every source the Dockerfile COPYs from the build context."""
    sources = []
    for keyword, rest in instructions(component):
        if keyword == "COPY" and "--from" not in rest:
            sources += [source.rstrip("/") for source in rest.split()[:-1]]
    return sources


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
    # runAsNonRoot can only be verified by the kubelet for a numeric user; the chart runs the same one.
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0, users[-1]
    assert (int(uid), int(gid)) == (
        CHART_VALUES["podSecurityContext"]["runAsUser"],
        CHART_VALUES["podSecurityContext"]["runAsGroup"],
    )


def test_entry_points_are_console_scripts_and_the_runner_command_matches_the_operator_and_chart() -> None:
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    commands = {}
    for component in COMPONENTS:
        stage = final_stage(component)
        entry = [yaml.safe_load(rest) for keyword, rest in stage if keyword == "ENTRYPOINT"][-1]
        cmd = [yaml.safe_load(rest) for keyword, rest in stage if keyword == "CMD"]
        assert entry[0] in scripts, f"{component}: {entry[0]} is not a console script of pyproject.toml"
        commands[component] = entry + (cmd[-1] if cmd else [])
    assert commands["runner"] == OperatorSettings().runner_command == CHART_VALUES["runner"]["command"]
    assert commands["operator"] == ["videogen-operator", "run"]


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_image_copies_only_the_lock_common_and_its_own_component(component: str) -> None:
    # Not the other components, not the dev tools (videogen_dev), not bench/: an image holds only what it runs.
    assert sorted(context_copies(component)) == sorted(["pyproject.toml", "uv.lock", "common", component])
    ignored = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".dev", "tests"} <= ignored
    for source in context_copies(component):
        assert (REPO_ROOT / source).exists(), f"{component}: COPY {source} does not exist"
        assert source not in ignored, f"{component}: COPY {source} is excluded by .dockerignore"


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_image_installs_exactly_the_lock_with_the_pinned_uv(component: str) -> None:
    runs = [rest for keyword, rest in instructions(component) if keyword == "RUN"]
    (sync,) = [run for run in runs if "uv sync" in run]
    # --locked: a lock that disagrees with pyproject.toml fails the build instead of being re-resolved; the
    # dependencies of this component's extra and nothing else.
    assert re.search(rf"uv sync --locked --no-install-project --extra {component}$", sync), sync
    # Our own code is installed apart, without dependencies: every dependency came from the lock.
    (ours,) = [run for run in runs if "uv pip install" in run]
    assert "--no-deps" in ours, ours
    # Where torch comes from is the lock's business (pyproject.toml names its index), never a best-match search.
    assert not [run for run in runs if "--index-strategy" in run or "index-url" in run]
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert makefile_uv is not None
    pins = re.findall(r"'uv==([^']+)'", " ".join(runs))
    assert pins == [makefile_uv.group(1)], f"{component}: uv {pins} differs from the Makefile's"


def test_torch_comes_from_the_index_pyproject_names() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    uv = pyproject["tool"]["uv"]
    index = uv["sources"]["torch"]["index"]
    (declared,) = [entry for entry in uv["index"] if entry["name"] == index]
    assert declared["explicit"] is True  # only torch is looked up there
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    (torch,) = [package for package in lock["package"] if package["name"] == "torch"]
    assert torch["source"] == {"registry": declared["url"]}


def test_runner_image_has_what_torch_compile_needs_at_run_time() -> None:
    # Triton builds a small C launcher against Python's headers the first time a node compiles (runner_runtime
    # compile=true); without a compiler the first compiled job fails instead of getting faster.
    installed = " ".join(rest for keyword, rest in final_stage("runner") if keyword == "RUN")
    packages = set(re.findall(r"apt-get install [^&]*", installed)[0].split())
    assert {"gcc", "libc6-dev", "python3.11-dev"} <= packages, packages


# --- the lock -------------------------------------------------------------------------------------------------------


def lock_check(folder: Path) -> subprocess.CompletedProcess[str]:
    """`make lock-check` as `make test` runs it, on a copy of the project's dependency files in `folder`."""
    for name in ("Makefile", "pyproject.toml", "uv.lock"):
        if not (folder / name).exists():
            shutil.copy(REPO_ROOT / name, folder / name)
    uv = REPO_ROOT / ".venv" / "bin" / "uv"
    # -o: the checkout's uv is taken as it is (the copy has no venv to install one into).
    return subprocess.run(
        ["make", "-s", "-C", str(folder), "lock-check", f"UV={uv}", "-o", str(uv)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_lock_matches_pyproject_and_a_changed_pin_without_relocking_fails_with_a_clear_message(
    tmp_path: Path,
) -> None:
    assert lock_check(tmp_path).returncode == 0
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text()
    assert '"pyyaml~=6.0",' in text
    pyproject.write_text(text.replace('"pyyaml~=6.0",', '"pyyaml~=6.0.1",'))
    stale = lock_check(tmp_path)
    assert stale.returncode != 0
    assert "uv.lock does not match pyproject.toml: run 'make lock' and commit uv.lock" in stale.stderr


# --- the images, built and run --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> container_images.Engine:
    """The engine `make images` uses (podman is installed if missing; failing that, these tests fail)."""
    eng, built = container_images.build_images(SLIM)
    assert [image.tag for image in built] == [container_images.image_tag(c) for c in SLIM]
    return eng


def chart_security(eng: container_images.Engine) -> list[str]:
    """The chart's pod and container securityContext as run options."""
    pod = CHART_VALUES["podSecurityContext"]
    container = CHART_VALUES["containerSecurityContext"]
    assert container["readOnlyRootFilesystem"] and container["capabilities"]["drop"] == ["ALL"]
    assert container["allowPrivilegeEscalation"] is False
    # podman would add its own tmpfs on /tmp, /var/tmp and /run to a read-only root: a pod has only its mounts.
    read_only = ["--read-only", "--read-only-tmpfs=false"] if eng.is_podman else ["--read-only"]
    return [
        *read_only,
        f"--user={pod['runAsUser']}:{pod['runAsGroup']}",
        f"--group-add={pod['fsGroup']}",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        *eng.network_args(),
    ]


#: The chart's /tmp: an emptyDir (uploads are spooled there; HOME points there).
CHART_TMP = ("--tmpfs=/tmp", "--env=HOME=/tmp")


def run_image(
    eng: container_images.Engine, component: str, *args: str, options: Sequence[str] = CHART_TMP, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """One container of the image, as the chart runs it, to completion."""
    return eng.run(
        "run",
        "--rm",
        *chart_security(eng),
        *options,
        container_images.image_tag(component),
        *args,
        check=False,
        capture=True,
        timeout=timeout,
    )


def python_in(eng: container_images.Engine, component: str, code: str) -> str:
    out = run_image(eng, component, "-c", code, options=(*CHART_TMP, "--entrypoint=python"))
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_rebuild_leaves_no_replaced_image_behind_and_keeps_the_build_stages(
    engine: container_images.Engine, tmp_path: Path
) -> None:
    """A rebuild moves the tag and leaves the old image untagged; build stages are untagged too, and are the layer
    cache. make images removes the old final images (our command as entrypoint), never the stages."""
    run = uuid.uuid4().hex[:8]
    tag = f"localhost/videogen-test/replaced:{run}"
    base = container_images.local_base(engine)

    def build(marker: str, entrypoint: str | None) -> str:
        lines = [f"FROM {base}", f"RUN echo {marker}-{run} > /marker"]
        if entrypoint is not None:
            lines.append(f'ENTRYPOINT ["{entrypoint}"]')
        (tmp_path / "Dockerfile").write_text("\n".join(lines) + "\n")
        label = f"--label={build_inputs.BUILD_INPUTS_LABEL}=test-{run}"
        engine.run("build", *engine.network_args(), "--quiet", "-t", tag, label, str(tmp_path), capture=True)
        return engine.image_id(tag)

    replaced = build("old", "videogen-test")
    stage = build("stage", None)  # a build stage's shape: no entrypoint of ours
    current = build("new", "videogen-test")
    try:
        assert engine.image_exists(replaced) and engine.image_exists(stage)  # both untagged now
        engine.remove_replaced_images()
        assert not engine.image_exists(replaced)
        assert engine.image_exists(stage) and engine.image_exists(current)
    finally:
        engine.run("image", "rm", "--force", tag, stage, replaced, check=False, capture=True)


@pytest.fixture
def start_container(engine: container_images.Engine) -> Iterator[Callable[..., str]]:
    """Start a container in the background (as the chart runs it); each is removed, its log shown, at the end."""
    names: list[str] = []

    def start(component: str, *args: str, options: Sequence[str] = ()) -> str:
        name = f"videogen-test-{component}-{uuid.uuid4().hex[:8]}"
        names.append(name)
        engine.run(
            "run",
            "--detach",
            f"--name={name}",
            *chart_security(engine),
            *CHART_TMP,
            *options,
            container_images.image_tag(component),
            *args,
            capture=True,
        )
        return name

    yield start
    for name in names:
        logs = engine.run("logs", name, check=False, capture=True)
        print(f"--- {name} ---\n{logs.stdout}{logs.stderr}")
        engine.run("rm", "--force", name, check=False, capture=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(
    engine: container_images.Engine, container: str, url: str, accept: Callable[[httpx.Response], bool]
) -> httpx.Response:
    deadline = time.monotonic() + 90
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=5)
            if accept(last):
                return last
        except httpx.TransportError as exc:
            last = exc
        state = engine.run("inspect", "--format", "{{.State.Status}}", container, capture=True).stdout.strip()
        assert state == "running", f"{container} is {state}; last answer {last}"
        time.sleep(0.5)
    raise AssertionError(f"{url}: no acceptable answer in 90 s; last {last}")


def service_account(cluster: Cluster, namespace: str, name: str, rules_file: str, folder: Path) -> Path:
    """A service account bound to the chart's rules for one component (the API's as a Role in its namespace, the
    operator's as a ClusterRole, as the chart binds them), and the folder the kubelet would mount at
    /var/run/secrets/kubernetes.io/serviceaccount for it (token, ca.crt, namespace)."""
    cluster_wide = name == "videogen-operator"
    kind = "ClusterRole" if cluster_wide else "Role"
    where = {"name": f"{name}-{namespace}"} if cluster_wide else {"name": name, "namespace": namespace}
    rbac = "rbac.authorization.k8s.io/v1"
    docs = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        {"apiVersion": rbac, "kind": kind, "metadata": where, "rules": yaml.safe_load((RBAC / rules_file).read_text())},
        {
            "apiVersion": rbac,
            "kind": f"{kind}Binding",
            "metadata": where,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": where["name"]},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
    token = cluster.kubectl("create", "token", name, "-n", namespace, "--duration", "1h").stdout.strip()
    folder.mkdir(mode=0o755)
    (folder / "token").write_text(token)
    (folder / "namespace").write_text(namespace)
    shutil.copy(cluster.settings.pki_dir / "ca.crt", folder / "ca.crt")
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def in_cluster(cluster: Cluster, folder: Path) -> tuple[str, ...]:
    """What a pod gets to reach the API server: the service's address and the service account folder."""
    return (
        "--env=KUBERNETES_SERVICE_HOST=127.0.0.1",
        f"--env=KUBERNETES_SERVICE_PORT={cluster.settings.apiserver_port}",
        f"--volume={folder}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
    )


def s3_env(s3: S3Endpoint) -> tuple[str, ...]:
    return (
        f"--env=VIDEOGEN_S3_ENDPOINT_URL={s3.endpoint_url}",
        f"--env=VIDEOGEN_S3_ACCESS_KEY_ID={s3.access_key}",
        f"--env=VIDEOGEN_S3_SECRET_ACCESS_KEY={s3.secret_key}",
        f"--env=VIDEOGEN_S3_REGION={s3.region}",
    )


@pytest.fixture
def cleanup_cluster_roles(cluster: Cluster) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        cluster.kubectl("delete", "clusterrolebinding,clusterrole", name, "--wait=false", check=False)


@pytest.mark.parametrize("component", SLIM)
def test_slim_images_hold_no_torch_only_their_own_code_and_command(
    engine: container_images.Engine, component: str
) -> None:
    # The modules the image's commands run (the operator image also runs the model download Jobs).
    modules = {
        "api": ["videogen_api.main", "videogen_api.app"],
        "operator": ["videogen_operator.main", "videogen_operator.download"],
    }[component]
    probe = f"""
import importlib, importlib.metadata, json, os, pathlib, sys
for module in {modules!r}:
    importlib.import_module(module)
folders = [pathlib.Path(p) for p in sys.path if pathlib.Path(p).is_dir()]
print(json.dumps({{
    "distributions": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}),
    "ours": sorted({{p.name for f in folders for p in f.iterdir() if p.name.startswith("videogen_")}}),
    "scripts": sorted(p.name for f in os.environ["PATH"].split(":") for p in pathlib.Path(f).glob("videogen*")),
}}))
"""
    found = json.loads(python_in(engine, component, probe))
    assert [name for name in found["distributions"] if name.startswith(HEAVY)] == []
    assert found["loaded"] == []
    assert found["ours"] == sorted(["videogen_common", f"videogen_{component}"])
    # Not the dev tools' console scripts (videogen-dev, videogen-node-agent) nor the other components'.
    assert found["scripts"] == [f"videogen-{component}"]


def test_operator_image_answers_help(engine: container_images.Engine) -> None:
    out = run_image(engine, "operator", "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: videogen-operator" in out.stdout and "--namespace" in out.stdout


def test_api_image_serves_health_and_is_ready_under_the_charts_rbac(
    engine: container_images.Engine,
    start_container: Callable[..., str],
    cluster: Cluster,
    crds: None,
    s3: S3Endpoint,
    namespace: str,
    tmp_path: Path,
) -> None:
    account = service_account(cluster, namespace, "videogen-api", "api-rules.yaml", tmp_path / "sa")
    port = free_port()
    container = start_container(
        "api",
        options=(
            *in_cluster(cluster, account),
            *s3_env(s3),
            f"--env=VIDEOGEN_API_NAMESPACE={namespace}",
            "--env=VIDEOGEN_API_HOST=127.0.0.1",
            f"--env=VIDEOGEN_API_PORT={port}",
            f"--env=VIDEOGEN_API_BUCKET={s3.bucket}",
            # The chart's local values: no keys on loopback, said explicitly (without keys the API does not start).
            "--env=VIDEOGEN_API_AUTH_DISABLED=true",
        ),
    )
    health = wait_for_http(engine, container, f"http://127.0.0.1:{port}/health", lambda r: r.status_code == 200)
    assert health.json()["status"] == "healthy"
    # Kubernetes through the in-cluster service account, S3, and the VideoJob watch cache: all from inside the image.
    ready = wait_for_http(engine, container, f"http://127.0.0.1:{port}/readyz", lambda r: r.status_code != 503)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"kubernetes": "ok", "s3": "ok", "cache": "ok"}


def job_container(job: dict[str, Any], claims: dict[str, Path], termination_log: Path) -> tuple[list[str], list[str]]:
    """Run options and arguments for a Job's only container: its command, its literal env, its volumes (emptyDir as
    tmpfs, claims as the given folders) and its termination message file. `chart_security` adds the rest, after
    checking here that the Job asks for the same user and capabilities; it also makes the root filesystem
    read-only, which the operator's Jobs do not ask for, so the image is shown to work either way."""
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    chart_pod = CHART_VALUES["podSecurityContext"]
    assert [pod["securityContext"][key] for key in ("runAsUser", "runAsGroup", "fsGroup")] == [
        chart_pod[key] for key in ("runAsUser", "runAsGroup", "fsGroup")
    ]
    options = [f"--env={e['name']}={e['value']}" for e in container.get("env", []) if "value" in e]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            options.append(f"--tmpfs={mount['mountPath']}")
        else:
            folder = claims[volume["persistentVolumeClaim"]["claimName"]]
            options.append(f"--volume={folder}:{mount['mountPath']}:{'ro' if mount.get('readOnly') else 'rw'}")
    termination_log.touch()
    termination_log.chmod(0o666)
    options.append(f"--volume={termination_log}:{container.get('terminationMessagePath', '/dev/termination-log')}")
    command = [*container["command"], *container.get("args", [])]
    return [*options, f"--entrypoint={command[0]}"], command[1:]


@pytest.fixture(scope="module")
def smoke_model_cache(settings: DevSettings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache (huggingface_hub's layout) holding the tiny LTX smoke model, writable by the chart's user."""
    cache = tmp_path_factory.mktemp("model-cache")
    smoke_models.fill_model_cache(settings, cache, ("tiny-ltx",))
    subprocess.run(["chmod", "-R", "a+rwX", str(cache)], check=True)
    return cache


def test_operator_image_runs_the_operator_and_its_download_job_runs_in_the_same_image(
    engine: container_images.Engine,
    start_container: Callable[..., str],
    cluster: Cluster,
    crds: None,
    s3: S3Endpoint,
    namespace: str,
    cleanup_cluster_roles: list[str],
    smoke_model_cache: Path,
    tmp_path: Path,
) -> None:
    cleanup_cluster_roles.append(f"videogen-operator-{namespace}")
    account = service_account(cluster, namespace, "videogen-operator", "operator-rules.yaml", tmp_path / "sa")
    health = free_port()
    image = container_images.image_tag("operator")
    container = start_container(
        "operator",
        "run",
        f"--namespace={namespace}",
        options=(
            *in_cluster(cluster, account),
            *s3_env(s3),
            f"--env=VIDEOGEN_OPERATOR_LIVENESS_ENDPOINT=http://127.0.0.1:{health}/healthz",
            f"--env=VIDEOGEN_OPERATOR_METRICS_PORT={free_port()}",
            "--env=VIDEOGEN_OPERATOR_METRICS_HOST=127.0.0.1",
            f"--env=VIDEOGEN_OPERATOR_DOWNLOAD_IMAGE={image}",
            f"--env=VIDEOGEN_OPERATOR_RUNNER_RUN_AS_USER={CHART_VALUES['runner']['runAsUser']}",
            # The model cache is filled already: the download pod finds the smoke model offline.
            '--env=VIDEOGEN_OPERATOR_DOWNLOAD_ENV={"HF_HUB_OFFLINE": "1"}',
            # No node matches: the download pod stays Pending in the cluster, and runs here in the image instead.
            '--env=VIDEOGEN_OPERATOR_DOWNLOAD_NODE_SELECTOR={"videogen.dev/images-test": "nowhere"}',
            "--env=VIDEOGEN_OPERATOR_LOG_FORMAT=plain",
        ),
    )
    wait_for_http(engine, container, f"http://127.0.0.1:{health}/healthz", lambda r: r.status_code == 200)
    model = {
        "apiVersion": "videogen.dev/v1alpha1",
        "kind": "VideoModel",
        "metadata": {"name": "smoke-ltx", "namespace": namespace},
        "spec": {"repoId": smoke_models.repo_id("tiny-ltx"), "family": "ltx"},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(model))
    deadline = time.monotonic() + 60
    job = None
    while job is None and time.monotonic() < deadline:
        found = cluster.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout
        jobs = json.loads(found)["items"]
        job = jobs[0] if jobs else None
        time.sleep(0.5)
    assert job is not None, "the operator in its image created no download Job"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == image

    claim = OperatorSettings().model_cache_pvc
    termination = tmp_path / "termination-log"
    options, args = job_container(job, {claim: smoke_model_cache}, termination)
    out = run_image(engine, "operator", *args, options=options)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(termination.read_text())
    assert result["reason"] == "Ready", result
    assert result["snapshot"]["path"].endswith(smoke_models.REVISION)
    assert result["snapshot"]["pipelineClass"] == "LTXPipeline"
