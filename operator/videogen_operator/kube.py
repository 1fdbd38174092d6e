"""The few Kubernetes API calls the reconcilers make, as coroutines over the (blocking) kubernetes client.

kopf watches and indexes; these calls only create and delete children and write status.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from videogen_operator.resources import GROUP, VERSION

MERGE_PATCH = "application/merge-patch+json"


def load_config() -> None:
    """In-cluster credentials in a pod, else KUBECONFIG (as kopf does)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]


#: Concurrent API calls; each runs in a worker thread, so the thread pool gets the same size.
CONCURRENCY = 32
#: (connect, read) seconds: a stalled connection must fail and be retried, not block a worker forever.
TIMEOUT = (5.0, 30.0)


class Kube:
    def __init__(self) -> None:
        configuration = client.Configuration.get_default_copy()
        configuration.connection_pool_maxsize = CONCURRENCY
        api = client.ApiClient(configuration)
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    async def create_job(self, body: dict[str, Any]) -> bool:
        """Create the Job; False when it already exists (a repeat after a crash, which is success too)."""
        ns = body["metadata"]["namespace"]
        try:
            await asyncio.to_thread(self._create_job, ns, body)
        except ApiException as err:
            if err.status == 409:
                return False
            raise
        return True

    def _create_job(self, namespace: str, body: dict[str, Any]) -> None:
        # A plain dict body is sent as is; the typed client only declares V1Job.
        self.batch.create_namespaced_job(
            namespace,
            body,  # type: ignore[arg-type]
            _preload_content=False,
            _request_timeout=TIMEOUT,
        )

    async def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            response = await asyncio.to_thread(
                self.batch.read_namespaced_job, name, namespace, _preload_content=False, _request_timeout=TIMEOUT
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        doc: dict[str, Any] = json.loads(response.data)  # type: ignore[attr-defined]  # raw urllib3 response
        return doc

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete the Job; its pods go through garbage collection (they get SIGTERM, then are removed)."""
        try:
            await asyncio.to_thread(
                self.batch.delete_namespaced_job,
                name,
                namespace,
                propagation_policy="Background",
                _preload_content=False,
                _request_timeout=TIMEOUT,
            )
        except ApiException as err:
            if err.status != 404:
                raise

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> bool:
        """Merge-patch the status subresource; False when the object is gone."""
        try:
            await asyncio.to_thread(
                self.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                {"status": status},
                _content_type=MERGE_PATCH,
                _preload_content=False,
                _request_timeout=TIMEOUT,
            )
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True
