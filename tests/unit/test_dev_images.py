"""The local node's image table and Kubernetes' $(VAR) expansion."""

import pytest

from videogen_dev import images
from videogen_dev.node.env import expand


@pytest.mark.parametrize(
    ("image", "repo"),
    [
        ("busybox", "busybox"),
        ("busybox:1.36", "busybox"),
        ("docker.io/library/busybox:1.36", "busybox"),
        ("ghcr.io/videogen/runner:0.1.0", "videogen/runner"),
        ("localhost:5000/videogen/api", "videogen/api"),
        ("videogen/operator@sha256:abc", "videogen/operator"),
        ("registry.example.com:443/team/videogen/runner:dev", "team/videogen/runner"),
    ],
)
def test_repository_drops_registry_tag_and_digest(image: str, repo: str) -> None:
    assert images.repository(image) == repo


def test_our_images_run_venv_entry_points() -> None:
    runner = images.resolve("ghcr.io/videogen/runner:0.1.0")
    assert runner.entrypoint == ("videogen-runner",)
    assert runner.uses_venv
    assert images.resolve("registry.example.com/team/videogen/runner:dev") == runner


def test_unknown_image_names_the_table() -> None:
    with pytest.raises(images.UnknownImageError, match=r"images\.py"):
        images.resolve("nginx:1.27")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$(A)-$(B)", "1-2"),
        ("$$(A)", "$(A)"),
        ("$(MISSING)", "$(MISSING)"),
        ("no vars", "no vars"),
        ("$(A", "$(A"),
    ],
)
def test_env_expansion_follows_kubernetes_rules(value: str, expected: str) -> None:
    assert expand(value, {"A": "1", "B": "2"}) == expected
