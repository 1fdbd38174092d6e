"""The node's connection to the apiserver: clients with deadlines, the patch content type, the API's timestamps."""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config

# The client defaults PATCH to JSON Patch; conditions merge by type only under strategic merge.
STRATEGIC_MERGE = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class NodeApi:
    # The client's models are loosely typed (every field optional); the agent treats them as Any.
    core: Any
    coordination: Any


def connect(kubeconfig: Path) -> NodeApi:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
    # Every pod has a thread that reports its status: room for them all in the connection pool.
    configuration.connection_pool_maxsize = 64
    api_client = client.ApiClient(configuration)
    # A default deadline for every request, so a stalled connection never wedges a loop for good.
    api_client.rest_client.pool_manager.connection_pool_kw["timeout"] = urllib3.Timeout(connect=5, read=30)
    return NodeApi(core=client.CoreV1Api(api_client), coordination=client.CoordinationV1Api(api_client))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
