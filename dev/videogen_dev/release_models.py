"""The VideoModels a release installs, told apart from the ones users made: `make up` waits for its own and only
reports the others.

A user's VideoModel may never become Ready here (a repo the local node cannot download: the reference's Postman
collection asks for one); waiting for it would hang `make up` on an otherwise healthy system. One of the release's
own that fails is a broken environment: reported at once, with its message, instead of after the timeout.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from videogen_common.resources.videomodel import ModelState
from videogen_dev.cluster import Cluster
from videogen_dev.waiting import wait_for


class ModelFailedError(RuntimeError):
    pass


@dataclass(frozen=True)
class ModelSeen:
    state: str
    message: str


def release_model_names(values: Mapping[str, Any]) -> list[str]:
    """The VideoModels the chart creates with these values (its `models` list)."""
    return [str(model["name"]) for model in values.get("models") or []]


def models_seen(cluster: Cluster, namespace: str) -> dict[str, ModelSeen]:
    """Every VideoModel of the namespace: its state ("" before the operator has seen it) and message."""
    items = cluster.get_json("videomodels", "-n", namespace)["items"]
    return {
        item["metadata"]["name"]: ModelSeen(
            str((item.get("status") or {}).get("state") or ""), str((item.get("status") or {}).get("message") or "")
        )
        for item in items
    }


def others_failed(seen: Mapping[str, ModelSeen], ours: Collection[str]) -> list[str]:
    """One line per VideoModel that is not the release's and is Failed: what `make up` reports without waiting."""
    return [
        f"VideoModel {name} is Failed (not one `make up` installs; left as it is): {model.message or 'no message'}"
        for name, model in sorted(seen.items())
        if name not in ours and model.state == ModelState.FAILED
    ]


def ours_ready(seen: Mapping[str, ModelSeen], ours: Collection[str], namespace: str) -> bool:
    """Whether every one of the release's VideoModels is Ready; ModelFailedError naming the first that failed."""
    for name in sorted(ours):
        model = seen.get(name)
        if model is not None and model.state == ModelState.FAILED:
            raise ModelFailedError(
                f"VideoModel {name} failed: {model.message or 'no message'}; once the cause is fixed, "
                f"`kubectl delete videomodel {name} -n {namespace}` and run `make up` again (it recreates it)"
            )
    return all(name in seen and seen[name].state == ModelState.READY for name in ours)


def wait_for_release_models(cluster: Cluster, namespace: str, ours: Collection[str], timeout: float) -> list[str]:
    """Until every VideoModel in `ours` is Ready (ModelFailedError at once when one fails, WaitTimeout after
    `timeout`); returns the lines about other VideoModels that are Failed, which are not waited on."""
    seen = wait_for(
        lambda: models_seen(cluster, namespace),
        lambda models: ours_ready(models, ours, namespace),
        timeout,
        f"the VideoModels {', '.join(sorted(ours))} to be Ready",
        interval=0.5,
    )
    return others_failed(seen, ours)
