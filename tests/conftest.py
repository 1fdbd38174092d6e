"""Session fixtures: one local control plane and one S3 per test session (started if not running, stopped at
the end only if this session started them), a fresh namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from videogen_dev import cluster as local_cluster
from videogen_dev import controlplane
from videogen_dev import s3 as local_s3
from videogen_dev.settings import DevSettings, dev_settings

if TYPE_CHECKING:
    from tests.system_release import SystemRelease


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

    @property
    def settings(self) -> DevSettings:
        """The local environment's settings for this store (ports, state folder): what starts and stops it."""
        return self._settings

    @classmethod
    def of(cls, settings: DevSettings) -> S3Endpoint:
        """The SeaweedFS these settings start, with its first bucket."""
        return cls(
            endpoint_url=settings.s3_endpoint_url,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            region=settings.s3_region,
            bucket=settings.s3_buckets[0],
            _settings=settings,
        )


@pytest.fixture(scope="session")
def s3(settings: DevSettings) -> Iterator[S3Endpoint]:
    """A real SeaweedFS S3 on loopback with the project's bucket."""
    was_running = local_s3.is_ready(settings)
    local_s3.start(settings)
    yield S3Endpoint.of(settings)
    # The cluster fixture stops S3 with everything else; stop it here only if this fixture alone started it.
    if not was_running and not controlplane.is_ready(settings):
        local_s3.stop(settings)


@pytest.fixture
def namespace(cluster: local_cluster.Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def system_release(cluster: local_cluster.Cluster, crds: None, settings: DevSettings) -> Iterator[SystemRelease]:
    """The chart installed as `make up` installs it (dev/local-values.yaml), in its own namespace, against a private
    S3 store that a test may stop: one release for the session, shared by tests/helm and tests/e2e."""
    # Imported here: tests.system_release imports this module (S3Endpoint).
    from tests.system_release import installed_release, private_s3

    with (
        private_s3(settings) as store,
        # Room for the e2e submit storm and the ten-job queue on top of leftovers; the queue cap stays
        # dev/local-values.yaml's 2.
        installed_release(cluster, store, "system", {"api": {"maxConcurrentJobs": 40}}) as release,
    ):
        yield release
