"""Helpers for the CRD tests: a kubectl bound to the test's namespace, on a cluster with crds/ installed.

Uses the session fixtures of tests/conftest.py: ``cluster`` (``.kubectl(*args, input=, check=)``),
``crds`` (crds/ applied and Established) and ``namespace`` (a fresh namespace, deleted afterwards).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "crds"
EXAMPLES_DIR = REPO / "examples"


class Cluster(Protocol):
    kubeconfig: Path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]: ...


def to_yaml(manifest: dict[str, Any] | str) -> str:
    return manifest if isinstance(manifest, str) else yaml.safe_dump(manifest, sort_keys=False)


def assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """The API server refused the request and its message contains every ``expected`` string."""
    message = result.stderr + result.stdout
    assert result.returncode != 0, f"expected the API server to refuse, but kubectl succeeded:\n{message}"
    # kubectl prints API server refusals as `Error from server (...)`, or for 422 Invalid as
    # `The <Kind> "<name>" is invalid: <field>: ...`.
    assert "Error from server" in message or '" is invalid: ' in message, f"not an API server error:\n{message}"
    for text in expected:
        assert text in message, f"{text!r} not in the API server's message:\n{message}"


@dataclass
class Kube:
    """kubectl in one namespace. Every call goes to the real API server."""

    cluster: Cluster
    namespace: str

    def __call__(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, "--namespace", self.namespace, input=input, check=check)

    def apply(self, manifest: dict[str, Any] | str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``kubectl apply --validate=strict`` (server-side field validation: unknown fields are errors)."""
        return self("apply", "--validate=strict", "-f", "-", input=to_yaml(manifest), check=check)

    def get(self, resource: str, name: str) -> dict[str, Any]:
        out = self("get", resource, name, "-o", "json").stdout
        obj: dict[str, Any] = json.loads(out)
        return obj

    def patch(
        self, resource: str, name: str, patch: dict[str, Any], *, subresource: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        args = ["patch", resource, name, "--type=merge", "-p", json.dumps(patch)]
        if subresource:
            args.append(f"--subresource={subresource}")
        return self(*args, check=check)

    @staticmethod
    def assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
        assert_refused(result, *expected)


@pytest.fixture
def kube(cluster: Cluster, crds: object, namespace: str) -> Iterator[Kube]:
    yield Kube(cluster, namespace)
