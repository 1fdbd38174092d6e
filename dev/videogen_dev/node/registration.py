"""The Node object: registration with capacity, labels and taints, then a status heartbeat and the Lease.

The Node controller marks a node NotReady when both stop; a real kubelet does the same two things.
"""

import logging
import os
import threading
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from videogen_dev.node.apiserver import STRATEGIC_MERGE, NodeApi, now, rfc3339
from videogen_dev.node.settings import NodeAgentSettings
from videogen_dev.settings import pinned_version

log = logging.getLogger("videogen.node-agent")

LEASE_NAMESPACE = "kube-node-lease"


def _capacity(settings: NodeAgentSettings) -> dict[str, str]:
    return {
        "cpu": settings.cpu,
        "memory": settings.memory,
        "pods": str(settings.max_pods),
        "nvidia.com/gpu": str(settings.gpus),
        "ephemeral-storage": "100Gi",
    }


def node_status(settings: NodeAgentSettings) -> dict[str, Any]:
    timestamp = rfc3339(now())
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "videogen local node agent is posting ready status",
        "lastHeartbeatTime": timestamp,
    }
    conditions = [ready] + [
        {"type": t, "status": "False", "reason": r, "message": "ok", "lastHeartbeatTime": timestamp}
        for t, r in (
            ("MemoryPressure", "KubeletHasSufficientMemory"),
            ("DiskPressure", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "KubeletHasSufficientPID"),
        )
    ]
    return {
        "capacity": _capacity(settings),
        "allocatable": _capacity(settings),
        "conditions": conditions,
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": settings.name},
        ],
        "nodeInfo": {
            "architecture": "amd64",
            "operatingSystem": "linux",
            "osImage": "videogen local node",
            "kernelVersion": os.uname().release,
            "containerRuntimeVersion": "videogen-local://0",
            "kubeletVersion": pinned_version("controlplane", "k8s.io/kubernetes"),
            "kubeProxyVersion": "",
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
        },
        "daemonEndpoints": {"kubeletEndpoint": {"Port": settings.logs_port if settings.serves_logs else 0}},
    }


def _taints(specs: list[str]) -> list[dict[str, Any]]:
    taints = []
    for spec in specs:
        key_value, effect = spec.rsplit(":", 1)
        key, _, value = key_value.partition("=")
        taints.append({"key": key, "value": value or None, "effect": effect})
    return taints


def register(api: NodeApi, settings: NodeAgentSettings) -> None:
    """Create the Node (or update its labels), post its status and take its Lease."""
    labels = {
        "kubernetes.io/hostname": settings.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        **settings.labels,
    }
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": settings.name, "labels": labels},
        "spec": {"taints": _taints(settings.taints)},
    }
    try:
        api.core.create_node(body)
        log.info("registered node %s", settings.name)
    except ApiException as err:
        if err.status != 409:
            raise
        # Labels may be updated by the node itself; taints belong to the cluster after registration.
        api.core.patch_node(settings.name, {"metadata": {"labels": labels}}, _content_type=STRATEGIC_MERGE)
    api.core.patch_node_status(settings.name, {"status": node_status(settings)}, _content_type=STRATEGIC_MERGE)
    _renew_lease(api, settings.name)


def _renew_lease(api: NodeApi, name: str) -> None:
    spec = client.V1LeaseSpec(holder_identity=name, lease_duration_seconds=40, renew_time=now())
    try:
        lease = api.coordination.read_namespaced_lease(name, LEASE_NAMESPACE)
        lease.spec = spec
        api.coordination.replace_namespaced_lease(name, LEASE_NAMESPACE, lease)
    except ApiException as err:
        if err.status != 404:
            raise
        node = api.core.read_node(name)
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(
                name=name,
                owner_references=[
                    client.V1OwnerReference(api_version="v1", kind="Node", name=name, uid=node.metadata.uid)
                ],
            ),
            spec=spec,
        )
        api.coordination.create_namespaced_lease(LEASE_NAMESPACE, body)


def heartbeat_forever(api: NodeApi, settings: NodeAgentSettings, stopping: threading.Event) -> None:
    while not stopping.wait(settings.heartbeat_seconds):
        try:
            api.core.patch_node_status(settings.name, {"status": node_status(settings)}, _content_type=STRATEGIC_MERGE)
            _renew_lease(api, settings.name)
        except Exception:
            log.exception("heartbeat failed; retrying")
