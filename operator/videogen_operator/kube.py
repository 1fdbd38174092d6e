"""The few Kubernetes API calls the reconcilers make, as coroutines over the (blocking) kubernetes client.

kopf watches and indexes; these calls only create and delete children and write status. They go through the
client's generic ``param_serialize``/``call_api`` with plain dicts: the typed methods validate every argument with
pydantic and turn a Job body into V1Job models and back, which was a measurable share of the operator's CPU at 20
VideoJobs a second, for nothing (the bodies are built by our own pure functions and checked by the API server).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote, urlencode

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from videogen_common.resources.meta import GROUP, VERSION
from videogen_common.resources.objects import VIDEOJOBS, VIDEOMODELS, VideoJob, VideoModel

MERGE_PATCH = "application/merge-patch+json"


class JobGone(Exception):
    """A create met AlreadyExists, but the Job was gone before it could be read: try again."""


class JobNameTaken(Exception):
    """A Job of the wanted name exists and another object (or nobody) controls it."""

    def __init__(self, name: str, holder: dict[str, Any] | None) -> None:
        self.name = name
        self.holder = holder
        owner = f"{holder.get('kind')} {holder.get('name')}" if holder else "no controller (made by hand?)"
        super().__init__(f"a Job named {name} already exists and belongs to {owner}")


def controller_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The controller owner reference of an object, if it has one."""
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return next((ref for ref in refs if ref.get("controller")), None)


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


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


class Kube:
    def __init__(self) -> None:
        configuration = client.Configuration.get_default_copy()
        configuration.connection_pool_maxsize = CONCURRENCY
        self.api = client.ApiClient(configuration)

    def _call(
        self, method: str, path: str, body: Any = None, content_type: str | None = None, parse: bool = False
    ) -> dict[str, Any]:
        """One request; its JSON answer parsed if ``parse`` (the answers to writes are whole objects that nobody
        reads: parsing each created Job was a share of the CPU), ApiException for a non-2xx status."""
        headers = {"Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        request = self.api.param_serialize(
            method=method, resource_path=path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        # Reading the whole answer also returns its connection to the pool (a fresh TLS handshake per call otherwise).
        response = self.api.call_api(*request, _request_timeout=TIMEOUT)
        data: bytes = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=data.decode(errors="replace"), data=None)
        doc: dict[str, Any] = json.loads(data) if parse and data else {}
        return doc

    async def create_job(self, body: dict[str, Any]) -> bool:
        """Create the Job; False when our own Job of that name already exists (a repeat after a crash, which is
        success too). A Job of that name owned by anything else raises JobNameTaken: names are deterministic, so
        another object's Job (a VideoJob named like a VideoModel's download Job, or one made by hand) must never
        be read as ours, or its status would become our owner's."""
        meta = body["metadata"]
        path = _path("apis", "batch", "v1", "namespaces", meta["namespace"], "jobs")
        try:
            await asyncio.to_thread(self._call, "POST", path, body)
        except ApiException as err:
            if err.status != 409:
                raise
        else:
            return True
        existing = await self.read_job(meta["namespace"], meta["name"])
        if existing is None:
            # Deleted between our create and our read (its TTL, or its owner went): the next reconcile creates it.
            raise JobGone(f"the Job {meta['name']} existed a moment ago and is gone now; creating it again")
        wanted = {ref["uid"] for ref in meta.get("ownerReferences", []) if ref.get("controller")}
        holder = controller_of(existing)
        if holder is not None and holder["uid"] in wanted:
            return False
        raise JobNameTaken(meta["name"], holder)

    async def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            path = _path("apis", "batch", "v1", "namespaces", namespace, "jobs", name)
            return await asyncio.to_thread(self._call, "GET", path, parse=True)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete the Job; its pods go through garbage collection (they get SIGTERM, then are removed)."""
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        try:
            await asyncio.to_thread(
                self._call, "DELETE", _path("apis", "batch", "v1", "namespaces", namespace, "jobs", name), options
            )
        except ApiException as err:
            if err.status != 404:
                raise

    async def label_videojob(self, videojob: VideoJob, labels: dict[str, str]) -> bool:
        """Merge ``labels`` into the VideoJob's labels; False when it is gone."""
        path = _path("apis", GROUP, VERSION, "namespaces", videojob.namespace, VIDEOJOBS, videojob.name)
        try:
            await asyncio.to_thread(self._call, "PATCH", path, {"metadata": {"labels": labels}}, MERGE_PATCH)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    async def delete_videojob(self, namespace: str, name: str, uid: str) -> None:
        """Delete the VideoJob of that uid (a new one of the same name stays); its Job and pods go through garbage
        collection."""
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {"uid": uid},
        }
        path = _path("apis", GROUP, VERSION, "namespaces", namespace, VIDEOJOBS, name)
        try:
            await asyncio.to_thread(self._call, "DELETE", path, options)
        except ApiException as err:
            # 404: gone already; 409: the precondition failed, the name now belongs to another VideoJob.
            if err.status not in (404, 409):
                raise

    async def list_videojobs(
        self, namespace: str | None, label_selector: str, limit: int, continue_token: str = ""
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of VideoJobs matching ``label_selector`` (in ``namespace``, or everywhere for None), and the
        token of the next page (empty after the last)."""
        where = ("namespaces", namespace) if namespace is not None else ()
        query = {"labelSelector": label_selector, "limit": str(limit)}
        if continue_token:
            query["continue"] = continue_token
        path = _path("apis", GROUP, VERSION, *where, VIDEOJOBS) + "?" + urlencode(query)
        page = await asyncio.to_thread(self._call, "GET", path, parse=True)
        token: str = page.get("metadata", {}).get("continue") or ""
        items: list[dict[str, Any]] = page.get("items") or []
        return items, token

    async def patch_status(self, owner: VideoJob | VideoModel, status: dict[str, Any]) -> bool:
        """Merge-patch the status subresource with ``status`` (camelCase fields); False when the object is gone."""
        plural = VIDEOJOBS if isinstance(owner, VideoJob) else VIDEOMODELS
        path = _path("apis", GROUP, VERSION, "namespaces", owner.namespace, plural, owner.name, "status")
        try:
            await asyncio.to_thread(self._call, "PATCH", path, {"status": status}, MERGE_PATCH)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    async def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The coordination.k8s.io Lease, or None when there is none."""
        try:
            return await asyncio.to_thread(self._call, "GET", _lease_path(namespace, name), parse=True)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    async def create_lease(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create the Lease; None when one of its name exists already (someone else was quicker)."""
        meta = body["metadata"]
        path = _path("apis", "coordination.k8s.io", "v1", "namespaces", meta["namespace"], "leases")
        try:
            return await asyncio.to_thread(self._call, "POST", path, body, parse=True)
        except ApiException as err:
            if err.status == 409:
                return None
            raise

    async def replace_lease(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Replace the Lease if it is still the version ``body`` carries (metadata.resourceVersion); None when it
        changed meanwhile (another holder wrote it) or is gone."""
        meta = body["metadata"]
        try:
            return await asyncio.to_thread(
                self._call, "PUT", _lease_path(meta["namespace"], meta["name"]), body, parse=True
            )
        except ApiException as err:
            if err.status in (404, 409):
                return None
            raise


def _lease_path(namespace: str, name: str) -> str:
    return _path("apis", "coordination.k8s.io", "v1", "namespaces", namespace, "leases", name)
