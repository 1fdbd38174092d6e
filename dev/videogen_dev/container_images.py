"""`make images`: build videogen/api, videogen/operator and videogen/runner, tagged with the project's version.

The engine is Docker when a Docker engine answers (`docker info`), else podman, installed from Debian's packages
when missing. With Docker the Dockerfiles build as a user builds them, on their real bases (python slim, the CUDA
runtime). With podman they build on a local base: no container registry is reachable on the development machine,
so a Debian bookworm root with Python 3.11 is made with mmdebstrap once, cached under the user's cache folder
keyed by its recipe and the machine's CA certificates, imported into podman, and handed to each Dockerfile through
the build argument that names its base (`PYTHON_IMAGE`, `CUDA_IMAGE`). The Dockerfiles themselves never change.

podman runs rootful with `runc` and container rlimits within the machine's hard limits (a containers.conf passed
through CONTAINERS_CONF), and builds and runs on the host's network: its default bridge network rewrites the host's
iptables.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from videogen_dev import build_inputs
from videogen_dev.settings import REPO_ROOT, dev_settings

COMPONENTS = ("api", "operator", "runner")
#: The build argument through which each Dockerfile takes its base image.
BASE_ARG = {"api": "PYTHON_IMAGE", "operator": "PYTHON_IMAGE", "runner": "CUDA_IMAGE"}


@dataclass(frozen=True)
class LocalBaseRecipe:
    """What the local base is made of: one Debian root serves all three Dockerfiles (the runner's apt-get installs
    python3.11, gcc and headers from the same suite). Any change here makes a new base (the cache key hashes it)."""

    suite: str = "bookworm"
    variant: str = "minbase"
    sources: tuple[str, ...] = (
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    )
    # python-is-python3: the slim images' `python` (the api and operator Dockerfiles run `python -m venv`).
    packages: tuple[str, ...] = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
    env: tuple[tuple[str, str], ...] = (
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        ("LANG", "C.UTF-8"),
        # The machine reaches registries through TLS inspection: pip and uv must trust its CA, which the base
        # carries in the system bundle (pip and uv read these, not the system store, by default).
        ("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"),
        ("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"),
    )


LOCAL_BASE = LocalBaseRecipe()
LOCAL_BASE_REPOSITORY = "localhost/videogen-local/debian-python"
#: The machine's own CA certificates (Debian's place for local additions), copied into the local base.
HOST_EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")


class ImageBuildError(RuntimeError):
    pass


def project_version() -> str:
    return str(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"])


def image_tag(component: str) -> str:
    return f"videogen/{component}:{project_version()}"


@dataclass(frozen=True)
class Engine:
    """A container engine's CLI and the environment it needs."""

    command: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def is_podman(self) -> bool:
        return self.command == "podman"

    def argv(self, *args: str) -> list[str]:
        return [self.command, *args]

    def run(
        self, *args: str, check: bool = True, capture: bool = False, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            env=os.environ | self.env,
            check=check,
            text=True,
            capture_output=capture,
            timeout=timeout,
        )

    def network_args(self) -> list[str]:
        """The host's network, for builds and runs: podman's default bridge network rewrites the host's iptables
        and forwarding, and the tests reach the containers on loopback."""
        return ["--network=host"]

    def image_exists(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, check=False, capture=True).returncode == 0

    def image_size(self, ref: str) -> int:
        return int(self.run("image", "inspect", "--format", "{{.Size}}", ref, capture=True).stdout.strip())

    def image_id(self, ref: str) -> str:
        return self.run("image", "inspect", "--format", "{{.Id}}", ref, capture=True).stdout.strip()

    def remove_replaced_images(self) -> None:
        """Remove the images earlier builds of ours left untagged (a rebuild moves the tag; the old image stays in
        the store): without this every code change leaves a 0.5-7 GB image behind and the store fills the disk.
        Untagged images with our label are also the build stages' (the layer cache the next build reuses); only
        final images, the ones whose entrypoint is one of our commands, go. One a container still runs is refused
        and goes after a later build."""
        listed = self.run(
            "image", "ls", "--quiet", "--no-trunc", "--filter=dangling=true",
            f"--filter=label={build_inputs.BUILD_INPUTS_LABEL}", check=False, capture=True,
        )  # fmt: skip
        ids = sorted(set(listed.stdout.split()))
        if listed.returncode != 0 or not ids:
            return
        inspected = json.loads(self.run("image", "inspect", *ids, check=False, capture=True).stdout or "[]")
        finals = [
            image["Id"]
            for image in inspected
            if any(str(part).startswith("videogen-") for part in (image.get("Config") or {}).get("Entrypoint") or [])
        ]
        for image_id in finals:
            self.run("image", "rm", image_id, check=False, capture=True)

    def image_labels(self, ref: str) -> dict[str, str]:
        inspected = json.loads(self.run("image", "inspect", ref, capture=True).stdout)
        labels = (inspected[0].get("Config") or {}).get("Labels") or {}
        return {str(key): str(value) for key, value in labels.items()}


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def cache_dir() -> Path:
    return dev_settings().cache_dir / "images"


def install_host_packages(commands: Sequence[str]) -> None:
    """Install the missing commands from Debian's packages of the same names (apt-get, as root or through sudo)."""
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise ImageBuildError(f"need root to install {' '.join(missing)}: apt-get install {' '.join(missing)}")
        prefix = ["sudo"]
    if shutil.which("apt-get") is None:
        raise ImageBuildError(f"no Docker engine answers and {', '.join(missing)} is missing: install it")
    print(f"installing {' '.join(missing)} from Debian's packages", file=sys.stderr)
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env
    )


#: Container rlimits podman asks for (its default for open files) or can give (it lowers its own RLIMIT_NPROC to
#: 32768 at start, seen with strace on podman 4.3, and runc cannot give a container more than podman has).
PODMAN_NOFILE = 1048576
PODMAN_NPROC = 32768


def hard_limit(kind: int, at_most: int) -> int:
    hard = resource.getrlimit(kind)[1]
    return at_most if hard == resource.RLIM_INFINITY else min(hard, at_most)


def podman_conf() -> Path:
    """runc, and container rlimits no higher than this machine's hard limits (podman's defaults exceed them)."""
    nofile = hard_limit(resource.RLIMIT_NOFILE, PODMAN_NOFILE)
    nproc = hard_limit(resource.RLIMIT_NPROC, PODMAN_NPROC)
    limits = [f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}"]
    text = (
        "# Written by videogen_dev.container_images (make images); passed to podman through CONTAINERS_CONF.\n"
        f"[containers]\ndefault_ulimits = {json.dumps(limits)}\n\n"
        '[engine]\nruntime = "runc"\n'
    )
    path = cache_dir() / "containers.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def engine() -> Engine:
    """Docker when its engine answers; otherwise podman (installed if missing), configured for this machine."""
    if docker_answers():
        return Engine("docker")
    # catatonit: the init process `podman run --init` starts (the local node's stand-in for a pod's pause).
    install_host_packages(["podman", "runc", "catatonit"])
    return Engine("podman", {"CONTAINERS_CONF": str(podman_conf())})


def extra_ca_certificates() -> list[Path]:
    return sorted(HOST_EXTRA_CA_DIR.glob("**/*.crt")) if HOST_EXTRA_CA_DIR.is_dir() else []


def local_base_key() -> str:
    digest = hashlib.sha256(json.dumps(asdict(LOCAL_BASE) | {"env": dict(LOCAL_BASE.env)}, sort_keys=True).encode())
    for cert in extra_ca_certificates():
        digest.update(cert.name.encode() + b"\0" + cert.read_bytes())
    return digest.hexdigest()[:16]


def local_base(eng: Engine) -> str:
    """The local base image, made once per recipe: from the engine's store, else the cached root, else mmdebstrap."""
    key = local_base_key()
    ref = f"{LOCAL_BASE_REPOSITORY}:{key}"
    if eng.image_exists(ref):
        return ref
    tarball = cache_dir() / f"debian-python-{key}.tar"
    if not tarball.exists():
        install_host_packages(["mmdebstrap"])
        started = time.monotonic()
        print(f"local base {key}: mmdebstrap into {tarball} (once per machine)", file=sys.stderr)
        partial = tarball.with_suffix(".partial.tar")
        certs = extra_ca_certificates()
        hooks = []
        if certs:
            hooks = [
                f"--customize-hook=copy-in {' '.join(str(c) for c in certs)} /usr/local/share/ca-certificates/",
                '--customize-hook=chroot "$1" update-ca-certificates',
            ]
        subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                f"--variant={LOCAL_BASE.variant}",
                f"--include={','.join(LOCAL_BASE.packages)}",
                *hooks,
                LOCAL_BASE.suite,
                str(partial),
                *LOCAL_BASE.sources,
            ],
            check=True,
        )
        # Only a finished root is ever taken for a cached one.
        partial.rename(tarball)
        print(f"local base {key}: made in {time.monotonic() - started:.0f}s", file=sys.stderr)
    changes = [f"--change=ENV {name}={value}" for name, value in LOCAL_BASE.env]
    eng.run("import", *changes, '--change=CMD ["python3"]', str(tarball), ref, capture=True)
    return ref


@dataclass(frozen=True)
class Built:
    component: str
    tag: str
    seconds: float
    size_bytes: int
    image_id: str
    #: False when the image of this tag already came from the same inputs and no build ran.
    fresh: bool = True


def build(component: str, eng: Engine, base: str | None) -> Built:
    """Build one image from the repository root; `base` replaces its Dockerfile's default base when given. An image of
    this tag built from the same inputs (build_inputs' fingerprint, on its label) is taken as it is: the engine's own
    cache check of an unchanged runner image still takes about a minute."""
    tag = image_tag(component)
    args = ["build", *eng.network_args(), "-f", f"{component}/Dockerfile", "-t", tag]
    if base is not None:
        args += ["--build-arg", f"{BASE_ARG[component]}={base}"]
    started = time.monotonic()
    inputs = build_inputs.fingerprint(REPO_ROOT, [eng.command, *args])
    if eng.image_exists(tag) and eng.image_labels(tag).get(build_inputs.BUILD_INPUTS_LABEL) == inputs:
        return Built(component, tag, time.monotonic() - started, eng.image_size(tag), eng.image_id(tag), fresh=False)
    args += ["--label", f"{build_inputs.BUILD_INPUTS_LABEL}={inputs}"]
    result = subprocess.run(
        [*eng.argv(*args), str(REPO_ROOT)], env=os.environ | eng.env, cwd=REPO_ROOT, text=True, check=False
    )
    if result.returncode != 0:
        raise ImageBuildError(f"{eng.command} build of {tag} failed (exit {result.returncode}); see above")
    return Built(component, tag, time.monotonic() - started, eng.image_size(tag), eng.image_id(tag))


def build_images(components: Sequence[str], bases: str = "auto") -> tuple[Engine, list[Built]]:
    """Build `components` (layer-cached: unchanged ones take seconds); `bases` is real, local or auto."""
    eng = engine()
    use_local = bases == "local" or (bases == "auto" and eng.is_podman)
    base = local_base(eng) if use_local else None
    built = [build(component, eng, base) for component in components]
    if any(image.fresh for image in built):
        eng.remove_replaced_images()
    return eng, built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m videogen_dev.container_images", description=__doc__)
    parser.add_argument("components", nargs="*", metavar="{api,operator,runner}", help="default: all three")
    parser.add_argument(
        "--bases",
        choices=["auto", "real", "local"],
        default="auto",
        help="real: the Dockerfiles' own bases (pulled); local: the mmdebstrap base; auto: real with Docker, "
        "local with podman",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.components) - set(COMPONENTS))
    if unknown:
        parser.error(f"no such image: {', '.join(unknown)} (choose from {', '.join(COMPONENTS)})")
    try:
        eng, built = build_images(args.components or COMPONENTS, args.bases)
    except (ImageBuildError, subprocess.CalledProcessError) as exc:
        print(f"make images: {exc}", file=sys.stderr)
        return 1
    for image in built:
        how = f"built in {image.seconds:.0f}s" if image.fresh else "unchanged inputs, not rebuilt"
        print(f"{image.tag}: {image.size_bytes / 1e9:.2f} GB, {how} with {eng.command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
