"""``kubectl auth can-i`` read strictly: a test that asks whether an account may do something gets yes or no, or
fails. Anything else (an error, an unreachable server, a resource the server does not know) read as "no" would let
every expected denial pass whatever the RBAC rules say."""

from __future__ import annotations

import subprocess

from videogen_dev.cluster import Cluster

# kubectl's exit status for each answer.
_ANSWERS = {"yes": 0, "no": 1}
# The one warning that leaves the answer meaningful: a cluster-scoped resource asked about in a namespace.
_HARMLESS_WARNING = "is not namespace scoped"


class UnclearAnswer(AssertionError):
    """kubectl auth can-i answered something other than a clean yes or no."""


def read_can_i(result: subprocess.CompletedProcess[str]) -> bool:
    """True for yes, False for no; raises UnclearAnswer for anything else, a warning on stderr included."""
    # An authorizer may give its reason: "no - node: cannot read subresource".
    answer = result.stdout.strip().split(" - ", 1)[0]
    warnings = [line for line in result.stderr.splitlines() if line.strip() and _HARMLESS_WARNING not in line]
    if answer not in _ANSWERS or result.returncode != _ANSWERS[answer] or warnings:
        raise UnclearAnswer(
            f"{' '.join(map(str, result.args))}: exit {result.returncode}, stdout {result.stdout!r}, "
            f"stderr {result.stderr.strip()!r}"
        )
    return answer == "yes"


def can_i(cluster: Cluster, verb: str, resource: str, *extra: str) -> bool:
    """Whether the admin kubeconfig's request (``extra``: --as, --namespace, ...) would be allowed."""
    # "pods/exec" to kubectl would mean the pod named exec: a subresource goes in --subresource.
    resource, _, subresource = resource.partition("/")
    if subresource:
        extra = (*extra, f"--subresource={subresource}")
    return read_can_i(cluster.kubectl("auth", "can-i", verb, resource, *extra, check=False))
