"""S3 connection settings and client, shared by the API, the operator and the runner.

Every component reads the same `VIDEOGEN_S3_*` variables (the chart fills them from one Secret), so a
cluster is configured once. Which bucket and prefixes each component uses is that component's own setting.
"""

from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict


class S3Settings(BaseSettings):
    """`VIDEOGEN_S3_*`: where S3 is and how to sign for it."""

    model_config = SettingsConfigDict(env_prefix="VIDEOGEN_S3_", extra="ignore")

    #: S3 endpoint URL (e.g. http://seaweedfs:8333); unset means AWS S3 itself.
    endpoint_url: str | None = None
    #: Access key id; the chart reads both keys from a Secret, never from values in plain text.
    access_key_id: str | None = None
    #: Secret access key (from the same Secret).
    secret_access_key: str | None = None
    #: Region used for signing.
    region: str = "us-east-1"
    #: Path-style addressing (http://host/bucket/key): what SeaweedFS, MinIO and most in-cluster S3s need.
    force_path_style: bool = True
    #: Seconds to connect: short, so a dead S3 fails fast and the caller can report or retry.
    connect_timeout: float = 5.0
    #: Seconds to wait for a response.
    read_timeout: float = 60.0
    #: botocore's own attempts per request, before the caller sees the error.
    max_attempts: int = 3


def make_client(settings: S3Settings) -> Any:
    """A boto3 S3 client for these settings (boto3 is imported here so the module loads without it)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        retries={"max_attempts": settings.max_attempts, "mode": "standard"},
        s3={"addressing_style": "path" if settings.force_path_style else "auto"},
        signature_version="s3v4",
    )
    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        region_name=settings.region,
        config=config,
    )
