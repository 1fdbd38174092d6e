"""Names of the API resources, labels and annotations the operator reads and writes."""

from typing import Final

GROUP: Final = "videogen.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
VIDEOJOBS: Final = "videojobs"
VIDEOMODELS: Final = "videomodels"

MANAGED_BY: Final = "videogen-operator"
#: Labels on every Job and pod the operator creates; the uid labels let the operator find its children fast.
LABEL_VIDEOJOB: Final = "videogen.dev/videojob"
LABEL_VIDEOJOB_UID: Final = "videogen.dev/videojob-uid"
LABEL_VIDEOMODEL: Final = "videogen.dev/videomodel"
LABEL_VIDEOMODEL_UID: Final = "videogen.dev/videomodel-uid"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_KUEUE_QUEUE: Final = "kueue.x-k8s.io/queue-name"

#: The runner container's name; podFailurePolicy rules and status read it.
RUNNER_CONTAINER: Final = "runner"
DOWNLOAD_CONTAINER: Final = "download"


def standard_labels(component: str, instance: str) -> dict[str, str]:
    """The ``app.kubernetes.io/*`` labels for a child object."""
    return {
        "app.kubernetes.io/name": "videogen",
        "app.kubernetes.io/part-of": "videogen",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/instance": instance,
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def owner_reference(kind: str, body: dict[str, object]) -> dict[str, object]:
    """A controller owner reference to a VideoJob or VideoModel: its children go when it goes."""
    meta = body["metadata"]
    assert isinstance(meta, dict)
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
