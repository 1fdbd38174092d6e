"""Which container images the node runs from podman's store: our own (`videogen/api`, `videogen/operator`,
`videogen/runner`, whatever the registry and tag), when `make images` has built them here.

Anything else keeps its local stand-in (`videogen_dev.images`): no registry is reachable from this machine, so an
image is run only if it was built on it.
"""

import os
import subprocess

from videogen_dev import images
from videogen_dev.node.settings import NodeAgentSettings

#: The images `make images` builds (videogen_dev.container_images), by repository path.
PROJECT_IMAGES = frozenset({"videogen/api", "videogen/operator", "videogen/runner"})


def is_project_image(image: str) -> bool:
    repository = images.repository(image)
    return any(repository == name or repository.endswith(f"/{name}") for name in PROJECT_IMAGES)


def podman_env(settings: NodeAgentSettings) -> dict[str, str]:
    """podman's environment: the containers.conf `make images` wrote (runc, rlimits within the machine's)."""
    conf = {"CONTAINERS_CONF": str(settings.containers_conf)} if settings.containers_conf else {}
    return os.environ | conf


def holds(settings: NodeAgentSettings, image: str) -> bool:
    """Whether this is one of our images and podman's store has it (a built image is tagged localhost/<name>)."""
    if not is_project_image(image):
        return False
    found = subprocess.run(
        ["podman", "image", "exists", image], env=podman_env(settings), capture_output=True, timeout=60, check=False
    )
    return found.returncode == 0
