"""The whole system on this machine (`make up`): the images, the local cluster, then the Helm chart installed into it.

With `node_containers` (what `videogen-dev up` runs with) the images are built first (`make images`: layer-cached,
seconds for api/operator and about a minute for the runner when nothing changed) and the local node runs the chart's
pods, the API, the operator, their download Jobs and the runner Jobs, as podman containers of them, as the chart's
non-root user: what users deploy. Without it (`videogen-dev up --processes`) the node runs the same pods as processes
of our venv (see images.py), as root. Values: dev/local-values.yaml. The smoke models are written into a hostPath
model cache; the operator's download Jobs find them offline and mark the VideoModels Ready.
"""

import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from videogen_dev import cluster as local_cluster
from videogen_dev import release, release_models, smoke_models
from videogen_dev.settings import DevSettings
from videogen_dev.waiting import wait_for

RELEASE = "videogen"
NAMESPACE = "default"
MODEL_CACHE_PV = "videogen-dev-model-cache"


class SystemUpError(RuntimeError):
    pass


def api_url(settings: DevSettings) -> str:
    return f"http://127.0.0.1:{settings.api_port}"


def model_cache_dir(settings: DevSettings) -> Path:
    return settings.state_dir / "models"


def _prerequisites(cluster: local_cluster.Cluster) -> None:
    """What the chart expects to exist: the S3 Secret and a volume for the model cache claim."""
    settings = cluster.settings
    release.apply_prerequisites(
        cluster, NAMESPACE, model_cache_dir(settings), MODEL_CACHE_PV, settings.s3_access_key, settings.s3_secret_key
    )


def chart_users() -> dict[str, Any]:
    """The chart's own non-root users, over dev/local-values.yaml's root (which only the venv's processes need)."""
    chart = yaml.safe_load((release.CHART / "values.yaml").read_text())
    pod = chart["podSecurityContext"]
    return {
        "podSecurityContext": {key: pod[key] for key in ("runAsUser", "runAsGroup", "fsGroup")},
        "runner": {"runAsUser": chart["runner"]["runAsUser"]},
    }


#: Pod annotation carrying the image a Deployment's pods run: the tag stays while a rebuild changes the image.
IMAGE_ID_ANNOTATION = "videogen.dev/image-id"


def chart_values(settings: DevSettings, image_ids: Mapping[str, str]) -> dict[str, Any]:
    """dev/local-values.yaml for `make up`; in container mode with the chart's users, and the API's and operator's
    pods annotated with their image's id, so an image rebuilt from changed code rolls them (runner and download Jobs
    start from the tag's current image anyway)."""
    values: dict[str, Any] = {
        "s3": {"endpoint": settings.s3_endpoint_url, "region": settings.s3_region},
        "api": {"port": settings.api_port},
        "operator": {"healthPort": settings.operator_health_port},
    }
    if settings.node_containers:
        values = release.merged(values, chart_users())
        for component in ("api", "operator"):
            values[component]["podAnnotations"] = {IMAGE_ID_ANNOTATION: image_ids[component]}
    return release.local_values(values)


def _install_chart(cluster: local_cluster.Cluster, values: Mapping[str, Any]) -> None:
    release.install(cluster, RELEASE, NAMESPACE, values, "--wait", "--timeout", "5m")


def _api_ready(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except (urllib.error.URLError, OSError) as err:
        return 0, str(err)


def _remove_failed_deployment_pods(cluster: local_cluster.Cluster) -> None:
    """Failed pods of the release's API and operator Deployments: the node stopped under them (a `make down`, or a
    test cluster on the same data), their ReplicaSet replaced them, and nothing else removes a failed pod below the
    pod garbage collector's threshold (12,500), so they pile up in `kubectl get pods`. A failed runner or download
    pod is a job's record and stays."""
    cluster.kubectl(
        "delete", "pods", "-n", NAMESPACE, "--field-selector=status.phase=Failed", "--wait=false",
        "-l", f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component in (api,operator)",
        check=False,
    )  # fmt: skip


def up(settings: DevSettings) -> local_cluster.Cluster:
    """Start everything that is not running (idempotent); returns when the API is ready and the release's models
    are (other VideoModels in a Failed state are listed, not waited for)."""
    cluster = local_cluster.up(settings)
    cache = model_cache_dir(settings)
    smoke_models.fill_model_cache(settings, cache)
    if settings.node_containers:
        # Download pods run as the chart's user and write the cache (locks, refs) as a real model cache's would.
        subprocess.run(["chmod", "-R", "a+rwX", str(cache)], check=True)
    _prerequisites(cluster)
    values = chart_values(settings, cluster.image_ids)
    try:
        _install_chart(cluster, values)
    except release.ReleaseError as err:
        raise SystemUpError(f"helm install of {RELEASE} failed: {err}") from err
    url = api_url(settings)
    wait_for(lambda: _api_ready(url), lambda seen: seen[0] == 200, 180, f"{url}/readyz to answer 200")
    _remove_failed_deployment_pods(cluster)
    # Only the models this release installs are waited for: a user's VideoModel that cannot download here is
    # reported, never waited on (it would hang every later `make up`).
    try:
        others = release_models.wait_for_release_models(
            cluster, NAMESPACE, release_models.release_model_names(values), 300
        )
    except release_models.ModelFailedError as err:
        raise SystemUpError(str(err)) from err
    for line in others:
        print(line)
    return cluster
