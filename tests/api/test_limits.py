"""The API's 429 limit and the operator's caps, as the chart's default values set them: a REST client is never refused
while the operator has room to run its job now (issue 17)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ServeApi
from tests.helm.conftest import Helm
from videogen_dev.cluster import Cluster

T2V = "/api/v1/generate/text-to-video"


def _env(docs: list[dict[str, Any]], component: str) -> dict[str, str]:
    (deployment,) = [
        doc
        for doc in docs
        if doc["kind"] == "Deployment" and doc["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {env["name"]: env["value"] for env in container["env"] if "value" in env}


def test_with_the_chart_defaults_a_rest_client_is_not_refused_while_the_operator_has_room(
    cluster: Cluster, namespace: str, serve_api: ServeApi
) -> None:
    docs = Helm(cluster.settings.helm, cluster.kubeconfig).template(namespace)
    api_limit = int(_env(docs, "api")["VIDEOGEN_API_MAX_CONCURRENT_JOBS"])
    operator_env = _env(docs, "operator")
    caps = [operator_env["VIDEOGEN_OPERATOR_MAX_RUNNING_JOBS"], operator_env["VIDEOGEN_OPERATOR_MAX_GPUS"]]
    # Jobs of one GPU (spec.gpus' default): the operator runs as many at once as the lower cap allows.
    room = min(int(cap) for cap in caps if cap != "null")
    assert api_limit == 2, "the reference server's limit"

    api = serve_api(max_concurrent_jobs=api_limit)
    for active in range(room):
        # `active` jobs are pending or running, fewer than the operator may run: it could start this one now.
        response = api.http.post(T2V, json={"prompt": f"job {active + 1}"})
        assert response.status_code == 202, f"refused with {active} of the operator's {room} places taken"
    # Only with the operator full may the API refuse.
    assert api.http.post(T2V, json={"prompt": "one more"}).status_code == 429
