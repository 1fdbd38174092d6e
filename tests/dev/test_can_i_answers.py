"""The RBAC tests' reading of ``kubectl auth can-i`` (tests/rbac.py) against the local apiserver: a clean yes and
no are answers, anything else fails the test that asked."""

import subprocess

import pytest

from tests.rbac import UnclearAnswer, can_i, read_can_i
from videogen_dev.cluster import Cluster

NOBODY = "--as=system:serviceaccount:default:videogen-nobody"


def test_yes_and_no_are_the_only_answers(cluster: Cluster) -> None:
    # Every authenticated user may review its own access; nobody was granted pods.
    assert can_i(cluster, "create", "selfsubjectaccessreviews.authorization.k8s.io", NOBODY) is True
    assert can_i(cluster, "list", "pods", NOBODY, "--namespace=default") is False


def test_a_resource_the_server_does_not_know_is_no_answer(cluster: Cluster) -> None:
    # kubectl says "no" here, with a warning: read as a denial, a misspelt row of an RBAC table would pass.
    with pytest.raises(UnclearAnswer, match="doesn't have a resource type"):
        can_i(cluster, "list", "videojobz.videogen.dev", NOBODY, "--namespace=default")


def test_a_kubectl_that_cannot_reach_the_server_is_no_answer(cluster: Cluster) -> None:
    result = subprocess.run(
        [str(cluster.settings.venv_bin / "kubectl"), "--kubeconfig=/nonexistent", "auth", "can-i", "list", "pods"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    with pytest.raises(UnclearAnswer, match="exit 1"):
        read_can_i(result)
