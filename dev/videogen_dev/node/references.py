"""What a pod refers to: Secrets, ConfigMaps and its own fields (the downward API), as env and volumes read them.

A reference that does not resolve (yet) is a `ContainerConfigError`: the pod waits with that reason and the
agent retries, as kubelet does.
"""

import base64
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException


class ContainerConfigError(Exception):
    """A pod references something that does not exist (yet): reported as a waiting reason, retried."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def read_secret(core: Any, namespace: str, name: str) -> dict[str, str]:
    try:
        secret = core.read_namespaced_secret(name, namespace)
    except ApiException as err:
        if err.status == 404:
            raise ContainerConfigError("CreateContainerConfigError", f'secret "{name}" not found') from err
        raise
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.data or {}).items()}


def read_config_map(core: Any, namespace: str, name: str) -> dict[str, str]:
    try:
        cm = core.read_namespaced_config_map(name, namespace)
    except ApiException as err:
        if err.status == 404:
            raise ContainerConfigError("CreateContainerConfigError", f'configmap "{name}" not found') from err
        raise
    return dict(cm.data or {})


def optional(is_optional: bool | None, read: Callable[[], dict[str, str]]) -> dict[str, str]:
    """What `read` returns; nothing when the object is missing and the reference says `optional: true`."""
    try:
        return dict(read())
    except ContainerConfigError:
        if is_optional:
            return {}
        raise


def field_ref(pod: Any, path: str) -> str:
    """One downward API field of the pod; the node's and the pod's IPs are loopback here."""
    simple = {
        "metadata.name": pod.metadata.name,
        "metadata.namespace": pod.metadata.namespace,
        "metadata.uid": pod.metadata.uid,
        "spec.nodeName": pod.spec.node_name,
        "spec.serviceAccountName": pod.spec.service_account_name or "",
        "status.hostIP": "127.0.0.1",
        "status.podIP": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path])
    for prefix, values in (
        ("metadata.labels", pod.metadata.labels),
        ("metadata.annotations", pod.metadata.annotations),
    ):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str((values or {}).get(path[len(prefix) + 2 : -2], ""))
    raise ContainerConfigError("CreateContainerConfigError", f"fieldRef {path!r} is not supported by the local node")
