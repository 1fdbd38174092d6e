"""The local node's image table: which local command stands in for each container image.

The node agent runs a container's `command`/`args` as a local process. An image only decides two things
here: the entrypoint used when the pod gives no `command`, and which folders come first on PATH. The table
is keyed by the image's repository path without registry or tag, so `ghcr.io/videogen/runner:0.1.0` and
`videogen/runner:dev` both match `videogen/runner`.

| image                | entrypoint           | runs from                          |
|----------------------|----------------------|------------------------------------|
| videogen/runner      | videogen-runner      | the project venv                   |
| videogen/operator    | videogen-operator    | the project venv                   |
| videogen/api         | videogen-api         | the project venv                   |
| busybox, alpine      | sh                   | the host's /usr/bin and /bin       |
| python               | python3              | the project venv (python 3.11)     |
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalImage:
    entrypoint: tuple[str, ...]
    uses_venv: bool


IMAGE_TABLE: dict[str, LocalImage] = {
    "videogen/runner": LocalImage(("videogen-runner",), uses_venv=True),
    "videogen/operator": LocalImage(("videogen-operator",), uses_venv=True),
    "videogen/api": LocalImage(("videogen-api",), uses_venv=True),
    "busybox": LocalImage(("sh",), uses_venv=False),
    "alpine": LocalImage(("sh",), uses_venv=False),
    "python": LocalImage(("python3",), uses_venv=True),
}

HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class UnknownImageError(LookupError):
    pass


def repository(image: str) -> str:
    """`registry:5000/org/name:tag@sha256:...` -> `org/name`; Docker Hub's `library/` is dropped."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if parts[:1] == ["library"]:
        parts = parts[1:]
    return "/".join(parts)


def resolve(image: str) -> LocalImage:
    repo = repository(image)
    # Match the longest trailing path of the repository, so `myregistry.io/team/videogen/runner` works too.
    parts = repo.split("/")
    for start in range(len(parts)):
        candidate = "/".join(parts[start:])
        if candidate in IMAGE_TABLE:
            return IMAGE_TABLE[candidate]
    known = ", ".join(sorted(IMAGE_TABLE))
    raise UnknownImageError(
        f"image {image!r} has no local stand-in; the local node runs only: {known} (see dev/videogen_dev/images.py)"
    )


def search_path(venv_bin: Path, local: LocalImage) -> str:
    venv: list[Path] = [venv_bin] if local.uses_venv else []
    return ":".join([*(str(p) for p in venv), HOST_PATH])
