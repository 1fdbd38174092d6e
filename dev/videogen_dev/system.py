"""The whole system on this machine (`make up`): the local cluster, then the Helm chart installed into it.

The operator and the API run as the chart's own pods on the local node (our venv's entry points, see images.py),
so `make up` exercises the same chart users install. Values: dev/local-values.yaml. The smoke models are written
into a hostPath model cache; the operator's download Jobs find them offline and mark the VideoModels Ready.
"""

import urllib.error
import urllib.request
from pathlib import Path

from videogen_dev import cluster as local_cluster
from videogen_dev import release, smoke_models
from videogen_dev.settings import DevSettings
from videogen_dev.waiting import wait_for

RELEASE = "videogen"
NAMESPACE = "default"
API_URL = "http://127.0.0.1:8080"
MODEL_CACHE_PV = "videogen-dev-model-cache"


class SystemUpError(RuntimeError):
    pass


def model_cache_dir(settings: DevSettings) -> Path:
    return settings.state_dir / "models"


def _prerequisites(cluster: local_cluster.Cluster) -> None:
    """What the chart expects to exist: the S3 Secret and a volume for the model cache claim."""
    settings = cluster.settings
    release.apply_prerequisites(
        cluster, NAMESPACE, model_cache_dir(settings), MODEL_CACHE_PV, settings.s3_access_key, settings.s3_secret_key
    )


def _install_chart(cluster: local_cluster.Cluster) -> None:
    settings = cluster.settings
    values = release.local_values({"s3": {"endpoint": settings.s3_endpoint_url, "region": settings.s3_region}})
    release.install(cluster, RELEASE, NAMESPACE, values, "--wait", "--timeout", "5m")


def _api_ready() -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{API_URL}/readyz", timeout=2) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except (urllib.error.URLError, OSError) as err:
        return 0, str(err)


def _models_ready(cluster: local_cluster.Cluster) -> dict[str, str]:
    models = cluster.get_json("videomodels", "-n", NAMESPACE)["items"]
    return {m["metadata"]["name"]: m.get("status", {}).get("state", "") for m in models}


def up(settings: DevSettings) -> local_cluster.Cluster:
    """Start everything that is not running (idempotent); returns when the API is ready and the models are."""
    cluster = local_cluster.up(settings)
    smoke_models.fill_model_cache(settings, model_cache_dir(settings))
    _prerequisites(cluster)
    try:
        _install_chart(cluster)
    except release.ReleaseError as err:
        raise SystemUpError(f"helm install of {RELEASE} failed: {err}") from err
    wait_for(_api_ready, lambda seen: seen[0] == 200, 180, f"{API_URL}/readyz to answer 200")
    wait_for(
        lambda: _models_ready(cluster),
        lambda states: bool(states) and all(s == "Ready" for s in states.values()),
        300,
        "the smoke VideoModels to be Ready",
    )
    return cluster
