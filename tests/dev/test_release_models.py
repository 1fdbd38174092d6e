"""`make up` waits for the VideoModels it installs and only reports a user's Failed one (videogen_dev.release_models),
on real VideoModels in a namespace of this test. No operator watches it: the test writes their status as the
operator would."""

from __future__ import annotations

import json
import threading

import pytest

from videogen_dev import release_models
from videogen_dev.cluster import Cluster

OURS = ["smoke-a", "smoke-b"]
USERS = "users-unreachable-repo"


def create_videomodel(cluster: Cluster, namespace: str, name: str) -> None:
    videomodel = {
        "apiVersion": "videogen.dev/v1alpha1",
        "kind": "VideoModel",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"repoId": f"example/{name}"},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(videomodel))


def set_state(cluster: Cluster, namespace: str, name: str, state: str, message: str = "") -> None:
    status = {"status": {"state": state, **({"message": message} if message else {})}}
    cluster.kubectl(
        "patch", "videomodel", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )


@pytest.fixture
def models(cluster: Cluster, crds: None, namespace: str) -> str:
    for name in [*OURS, USERS]:
        create_videomodel(cluster, namespace, name)
    set_state(cluster, namespace, USERS, "Failed", "repository example/unreachable not found on the hub")
    return namespace


def test_waits_for_its_own_models_and_reports_a_users_failed_one_without_waiting(cluster: Cluster, models: str) -> None:
    set_state(cluster, models, OURS[0], "Ready")
    set_state(cluster, models, OURS[1], "Downloading")
    # The second of ours becomes Ready a moment after the wait began: the wait must still be going on then.
    became_ready = threading.Timer(2.0, set_state, (cluster, models, OURS[1], "Ready"))
    became_ready.start()
    try:
        # Waiting on the user's Failed model too would end in WaitTimeout.
        others = release_models.wait_for_release_models(cluster, models, OURS, timeout=60)
    finally:
        became_ready.cancel()
    assert release_models.models_seen(cluster, models)[OURS[1]].state == "Ready"
    assert others == [
        f"VideoModel {USERS} is Failed (not one `make up` installs; left as it is): "
        "repository example/unreachable not found on the hub"
    ]


def test_a_failed_model_of_its_own_stops_the_wait_at_once_naming_it(cluster: Cluster, models: str) -> None:
    set_state(cluster, models, OURS[0], "Ready")
    set_state(cluster, models, OURS[1], "Failed", "no snapshot of videogen-smoke/tiny in the offline cache")
    with pytest.raises(release_models.ModelFailedError) as failed:
        release_models.wait_for_release_models(cluster, models, OURS, timeout=60)
    message = str(failed.value)
    assert f"VideoModel {OURS[1]} failed: no snapshot of videogen-smoke/tiny in the offline cache" in message
    assert f"kubectl delete videomodel {OURS[1]} -n {models}" in message


def test_the_release_models_are_the_charts_models_list() -> None:
    values = {"models": [{"name": "smoke-ltx", "repoId": "videogen-smoke/tiny-ltx"}, {"name": "wan", "repoId": "x/y"}]}
    assert release_models.release_model_names(values) == ["smoke-ltx", "wan"]
    assert release_models.release_model_names({"models": []}) == []
