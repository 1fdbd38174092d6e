"""Session fixtures: one local control plane and one S3 per test session (started if not running, stopped at
the end only if this session started them), a fresh namespace per test."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from videogen_dev import cluster as local_cluster
from videogen_dev import controlplane
from videogen_dev import s3 as local_s3
from videogen_dev.settings import DevSettings, dev_settings


@pytest.fixture(scope="session")
def settings() -> DevSettings:
    return dev_settings()


@pytest.fixture(scope="session")
def cluster(settings: DevSettings) -> Iterator[local_cluster.Cluster]:
    """The local cluster: control plane, GPU-pool node, S3 and CRDs, all healthy."""
    was_running = all(local_cluster.status(settings).values())
    handle = local_cluster.up(settings)
    yield handle
    if not was_running:
        local_cluster.down(settings)


@pytest.fixture(scope="session")
def crds(cluster: local_cluster.Cluster) -> None:
    """The VideoJob and VideoModel CRDs, Established."""
    local_cluster.install_crds(cluster)


@dataclass(frozen=True)
class S3Endpoint:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    bucket: str
    _settings: DevSettings

    def client(self) -> Any:
        return local_s3.client(self._settings)


@pytest.fixture(scope="session")
def s3(settings: DevSettings) -> Iterator[S3Endpoint]:
    """A real SeaweedFS S3 on loopback with the project's bucket."""
    was_running = local_s3.is_ready(settings)
    local_s3.start(settings)
    yield S3Endpoint(
        endpoint_url=settings.s3_endpoint_url,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        region=settings.s3_region,
        bucket=settings.s3_buckets[0],
        _settings=settings,
    )
    # The cluster fixture stops S3 with everything else; stop it here only if this fixture alone started it.
    if not was_running and not controlplane.is_ready(settings):
        local_s3.stop(settings)


@pytest.fixture
def namespace(cluster: local_cluster.Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
