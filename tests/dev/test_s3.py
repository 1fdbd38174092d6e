"""SeaweedFS serves the S3 API the project relies on."""

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import S3Endpoint


def test_put_get_list_delete_round_trip(s3: S3Endpoint) -> None:
    client = s3.client()
    prefix = f"test-{uuid.uuid4().hex}/"
    client.put_object(Bucket=s3.bucket, Key=prefix + "a.mp4", Body=b"\x00\x01video", ContentType="video/mp4")
    client.put_object(Bucket=s3.bucket, Key=prefix + "b.json", Body=b"{}")

    got = client.get_object(Bucket=s3.bucket, Key=prefix + "a.mp4")
    assert got["Body"].read() == b"\x00\x01video"
    assert got["ContentType"] == "video/mp4"

    listed = client.list_objects_v2(Bucket=s3.bucket, Prefix=prefix)
    assert sorted(o["Key"] for o in listed["Contents"]) == [prefix + "a.mp4", prefix + "b.json"]

    ranged = client.get_object(Bucket=s3.bucket, Key=prefix + "a.mp4", Range="bytes=2-4")
    assert ranged["Body"].read() == b"vid"

    client.delete_object(Bucket=s3.bucket, Key=prefix + "a.mp4")
    client.delete_object(Bucket=s3.bucket, Key=prefix + "b.json")
    assert client.list_objects_v2(Bucket=s3.bucket, Prefix=prefix).get("KeyCount") == 0
    with pytest.raises(ClientError) as missing:
        client.get_object(Bucket=s3.bucket, Key=prefix + "a.mp4")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_wrong_secret_is_refused(s3: S3Endpoint) -> None:
    import boto3
    from botocore.client import Config

    intruder = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key="wrong",
        region_name=s3.region,
        config=Config(s3={"addressing_style": "path"}),
    )
    with pytest.raises(ClientError) as refused:
        intruder.list_objects_v2(Bucket=s3.bucket)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
