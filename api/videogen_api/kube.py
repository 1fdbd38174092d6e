"""The Kubernetes side: VideoJobs and VideoModels in the API's namespace, through the API's own credentials.

The only module that touches the apiserver's JSON: everything it returns is a typed VideoJob or VideoModel
(videogen_common.resources), and the watch cache (cache.py) decodes its items and watch events here too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from videogen_api.config import ApiSettings
from videogen_common.resources.meta import GROUP, LABEL_FINISHED, VERSION
from videogen_common.resources.objects import VIDEOJOBS, VIDEOMODELS, Resource, VideoJob, VideoModel

log = logging.getLogger(__name__)

_Body = dict[str, Any]
_Kind = TypeVar("_Kind", bound=Resource)

# The kubernetes client defaults patch bodies to JSON Patch; ours is a merge patch.
_MERGE_PATCH = "application/merge-patch+json"
_CANCEL: _Body = {"spec": {"cancel": True}}
# Short enough that a hung apiserver turns into a 500/503 the client can retry, not a hung request.
_TIMEOUT_SECONDS = 15


def make_api_client(settings: ApiSettings) -> client.ApiClient:
    if settings.kubeconfig is not None:
        api_client: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(settings.kubeconfig)
        )
        return api_client
    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


class Kube:
    """VideoJob and VideoModel calls in one namespace; ``None`` where the object does not exist."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.api_client = api_client
        self._objects = client.CustomObjectsApi(api_client)
        self.namespace = namespace

    # --- VideoJobs ---------------------------------------------------------------------------------------------

    def create_videojob(self, videojob: VideoJob) -> VideoJob | None:
        """The created VideoJob, or None when one of that name exists (the apiserver's 409 AlreadyExists)."""
        try:
            return VideoJob.model_validate(self._create(VIDEOJOBS, videojob))
        except ApiException as exc:
            if exc.status == 409:
                return None
            raise

    def get_videojob(self, name: str) -> VideoJob | None:
        body = self._get(VIDEOJOBS, name)
        return None if body is None else VideoJob.model_validate(body)

    def list_videojobs(self, label_selector: str | None = None) -> list[VideoJob]:
        return parse_items(VideoJob, self._list(VIDEOJOBS, label_selector))

    def list_open_videojobs(self, label_selector: str | None = None) -> list[VideoJob]:
        """VideoJobs not labelled finished (``!videogen.dev/finished``): the active ones, and any that finished a
        moment ago and are not labelled yet (callers check the status). The apiserver filters, so the answer grows
        with active work, not with history."""
        selectors = [f"!{LABEL_FINISHED}", *([label_selector] if label_selector else [])]
        return self.list_videojobs(",".join(selectors))

    def cancel_videojob(self, name: str) -> VideoJob | None:
        """Set spec.cancel (the one field that may change); the operator stops the run."""
        try:
            result = self._objects.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, VIDEOJOBS, name, _CANCEL,
                _content_type=_MERGE_PATCH, _request_timeout=_TIMEOUT_SECONDS,
            )  # fmt: skip
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return VideoJob.model_validate(result)

    # --- VideoModels -------------------------------------------------------------------------------------------

    def create_videomodel(self, videomodel: VideoModel) -> VideoModel:
        return VideoModel.model_validate(self._create(VIDEOMODELS, videomodel))

    def get_videomodel(self, name: str) -> VideoModel | None:
        body = self._get(VIDEOMODELS, name)
        return None if body is None else VideoModel.model_validate(body)

    def list_videomodels(self) -> list[VideoModel]:
        return parse_items(VideoModel, self._list(VIDEOMODELS, None))

    # --- plumbing ----------------------------------------------------------------------------------------------

    def _create(self, plural: str, resource: Resource) -> object:
        return self._objects.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, resource.manifest(), _request_timeout=_TIMEOUT_SECONDS
        )

    def _get(self, plural: str, name: str) -> object | None:
        try:
            result: object = self._objects.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name, _request_timeout=_TIMEOUT_SECONDS
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def _list(self, plural: str, label_selector: str | None) -> list[object]:
        # No resourceVersion: a quorum read, so a create that has returned is always counted (see admission.py).
        result = self._objects.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural,
            label_selector=label_selector or "", _request_timeout=_TIMEOUT_SECONDS,
        )  # fmt: skip
        return cast(list[object], cast(_Body, result).get("items", []))


def parse_items(kind: type[_Kind], items: Iterable[object]) -> list[_Kind]:
    """The objects of a list that parse as ``kind``. One the types cannot read (left from an older CRD version,
    say) is logged and left out, so that it cannot make every list fail."""
    parsed = []
    for item in items:
        try:
            parsed.append(kind.model_validate(item))
        except ValidationError as exc:
            log.warning("ignoring %s %s: %s", kind.__name__, _name_of(item), exc)
    return parsed


def _name_of(item: object) -> str:
    metadata = item.get("metadata") if isinstance(item, dict) else None
    return str(metadata.get("name")) if isinstance(metadata, dict) else "(no name)"


# --- the watch cache's wire format (cache.py) ----------------------------------------------------------------


@dataclass(frozen=True)
class WatchEvent:
    """One event of a VideoJob watch."""

    type: Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
    #: The object's name (ADDED, MODIFIED, DELETED).
    name: str | None = None
    #: The object as the event carries it; None for an object the types cannot read (it is logged).
    videojob: VideoJob | None = None
    #: Where to resume a watch after this event (every event but ERROR).
    resource_version: str | None = None
    #: ERROR: the apiserver's code (410: the resourceVersion expired) and message.
    error_code: int | None = None
    error_message: str | None = None


def parse_watch_event(line: str) -> WatchEvent:
    event: _Body = json.loads(line)
    kind = event.get("type")
    obj: _Body = event.get("object") or {}
    if kind == "ERROR":
        return WatchEvent("ERROR", error_code=obj.get("code"), error_message=str(obj.get("message", obj)))
    metadata: _Body = obj.get("metadata") or {}
    resource_version = metadata.get("resourceVersion")
    if kind not in ("ADDED", "MODIFIED", "DELETED"):
        # A bookmark carries only the position to resume from, no object (and so does any type we do not know).
        return WatchEvent("BOOKMARK", resource_version=resource_version)
    parsed = parse_items(VideoJob, [obj])
    return WatchEvent(
        kind, name=metadata["name"], videojob=parsed[0] if parsed else None, resource_version=resource_version
    )
