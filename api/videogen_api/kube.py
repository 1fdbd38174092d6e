"""The Kubernetes side: VideoJobs and VideoModels in the API's namespace, through the API's own credentials."""

from __future__ import annotations

from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from videogen_api.config import ApiSettings
from videogen_api.crd import GROUP, VERSION, VIDEOJOBS, VIDEOMODELS

KubeObject = dict[str, Any]

# The kubernetes client defaults patch bodies to JSON Patch; our patches are merge patches of a dict.
_MERGE_PATCH = "application/merge-patch+json"
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

    def create_videojob(self, body: KubeObject) -> KubeObject:
        return self._create(VIDEOJOBS, body)

    def get_videojob(self, name: str) -> KubeObject | None:
        return self._get(VIDEOJOBS, name)

    def list_videojobs(self, label_selector: str | None = None) -> list[KubeObject]:
        return self._list(VIDEOJOBS, label_selector)

    def merge_patch_videojob(self, name: str, patch: KubeObject) -> KubeObject | None:
        try:
            result = self._objects.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, VIDEOJOBS, name, patch,
                _content_type=_MERGE_PATCH, _request_timeout=_TIMEOUT_SECONDS,
            )  # fmt: skip
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return cast(KubeObject, result)

    # --- VideoModels -------------------------------------------------------------------------------------------

    def create_videomodel(self, body: KubeObject) -> KubeObject:
        return self._create(VIDEOMODELS, body)

    def get_videomodel(self, name: str) -> KubeObject | None:
        return self._get(VIDEOMODELS, name)

    def list_videomodels(self) -> list[KubeObject]:
        return self._list(VIDEOMODELS, None)

    # --- plumbing ----------------------------------------------------------------------------------------------

    def _create(self, plural: str, body: KubeObject) -> KubeObject:
        result = self._objects.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, body, _request_timeout=_TIMEOUT_SECONDS
        )
        return cast(KubeObject, result)

    def _get(self, plural: str, name: str) -> KubeObject | None:
        try:
            result = self._objects.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name, _request_timeout=_TIMEOUT_SECONDS
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return cast(KubeObject, result)

    def _list(self, plural: str, label_selector: str | None) -> list[KubeObject]:
        # No resourceVersion: a quorum read, so a create that has returned is always counted (see admission.py).
        result = self._objects.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural,
            label_selector=label_selector or "", _request_timeout=_TIMEOUT_SECONDS,
        )  # fmt: skip
        return cast(list[KubeObject], cast(KubeObject, result).get("items", []))
