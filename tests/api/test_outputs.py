"""/outputs/{filename}: only output names reach S3; Range, HEAD, ETag and the presigned redirect."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import DATA, Operator, RunningApi, ServeApi
from tests.conftest import S3Endpoint

NAME = "text2video_20240115_103045_abc123.mp4"
VIDEO = (DATA / "clip.mp4").read_bytes()


@pytest.fixture
def stored(api: RunningApi, operator: Operator) -> RunningApi:
    operator.put_output(api.settings.outputs_prefix, NAME, VIDEO)
    # A file beside the outputs that no path trick may reach.
    operator.s3.client().put_object(
        Bucket=operator.s3.bucket, Key=f"{api.settings.outputs_prefix}/secret.txt", Body=b"s"
    )
    return api


def test_whole_file_has_type_length_etag_and_accepts_ranges(stored: RunningApi) -> None:
    response = stored.http.get(f"/outputs/{NAME}")
    assert response.status_code == 200
    assert response.content == VIDEO
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Content-Length"] == str(len(VIDEO))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"].startswith('"')
    again = stored.http.get(f"/outputs/{NAME}", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_head_answers_headers_without_a_body(stored: RunningApi) -> None:
    response = stored.http.head(f"/outputs/{NAME}")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(VIDEO))
    assert response.content == b""


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [("bytes=0-0", 0, 0), ("bytes=100-", 100, len(VIDEO) - 1), ("bytes=-500", len(VIDEO) - 500, len(VIDEO) - 1),
     ("bytes=7000-999999", 7000, len(VIDEO) - 1)],
)  # fmt: skip
def test_range_requests_return_206_with_exactly_those_bytes(
    stored: RunningApi, range_header: str, first: int, last: int
) -> None:
    response = stored.http.get(f"/outputs/{NAME}", headers={"Range": range_header})
    assert response.status_code == 206
    assert response.content == VIDEO[first : last + 1]
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{len(VIDEO)}"


def test_a_range_past_the_end_is_416(stored: RunningApi) -> None:
    response = stored.http.get(f"/outputs/{NAME}", headers={"Range": f"bytes={len(VIDEO)}-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(VIDEO)}"
    assert set(response.json()) == {"error"}


HOSTILE = [
    "secret.txt",
    "..%2Fsecret.txt",
    "..%2F..%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "text2video_20240115_103045_abc123.mp4%00.txt",
    f"{NAME}%2F..%2Fsecret.txt",
    "..",
    "%2e%2e%2fsecret.txt",
    "text2video_20241315_103045_abc123.mp4",
    "TEXT2VIDEO_20240115_103045_abc123.mp4",
    "text2video_20240115_103045_abc123.mp4.json",
    "text2video_20240115_103045_ABC123.mp4",
    "..%5Csecret.txt",
    "%252e%252e%252fsecret.txt",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_output_names_are_refused(stored: RunningApi, name: str) -> None:
    # Sent raw: httpx must not normalise the path before the server sees it.
    request = stored.http.build_request("GET", "/outputs/x")
    request.url = request.url.copy_with(raw_path=f"/outputs/{name}".encode())
    response = stored.http.send(request)
    assert response.status_code in (400, 404), (name, response.status_code)
    assert set(response.json()) == {"error"}
    assert response.content != b"s"


def test_a_valid_name_that_does_not_exist_is_404(api: RunningApi) -> None:
    response = api.http.get("/outputs/video2video_20240115_103045_abcdef.mp4")
    assert response.status_code == 404
    assert response.json() == {"error": "No output named 'video2video_20240115_103045_abcdef.mp4'"}


def test_presigned_redirect_points_at_a_url_that_serves_the_file(serve_api: ServeApi, operator: Operator) -> None:
    api = serve_api(outputs_presigned_redirect=True)
    operator.put_output(api.settings.outputs_prefix, NAME, VIDEO)
    response = api.http.get(f"/outputs/{NAME}")
    assert response.status_code == 307
    assert httpx.get(response.headers["Location"]).content == VIDEO


@pytest.mark.parametrize(
    ("range_header", "status", "first", "last"),
    [
        ("bytes=" + "9" * 4300 + "-", 416, 0, 0),
        ("bytes=0-" + "9" * 4300, 206, 0, len(VIDEO) - 1),
        ("bytes=-" + "9" * 4300, 206, 0, len(VIDEO) - 1),
        ("bytes=" + "1" * 5000 + "-" + "2" * 5000, 416, 0, 0),
        ("bytes=1-2,5-6", 200, 0, len(VIDEO) - 1),
        ("items=0-10", 200, 0, len(VIDEO) - 1),
        ("bytes=abc-", 200, 0, len(VIDEO) - 1),
        ("bytes=-", 200, 0, len(VIDEO) - 1),
        ("bytes=-0", 416, 0, 0),
    ],
)
def test_range_headers_of_any_shape_are_served_ignored_or_416_never_500(
    stored: RunningApi, range_header: str, status: int, first: int, last: int
) -> None:
    response = stored.http.get(f"/outputs/{NAME}", headers={"Range": range_header})
    assert response.status_code == status, response.text[:200]
    if status != 416:
        assert response.content == VIDEO[first : last + 1]


def test_presigned_redirects_name_the_public_endpoint_and_are_signed_for_the_method_asked(
    serve_api: ServeApi, operator: Operator, s3: S3Endpoint
) -> None:
    # The same local S3 under another host name: a URL signed for one name does not work through the other.
    public = s3.endpoint_url.replace("127.0.0.1", "localhost")
    api = serve_api(outputs_presigned_redirect=True, outputs_public_endpoint_url=public)
    operator.put_output(api.settings.outputs_prefix, NAME, VIDEO)
    for_get = api.http.get(f"/outputs/{NAME}").headers["Location"]
    for_head = api.http.head(f"/outputs/{NAME}").headers["Location"]
    assert for_get.startswith(public + "/") and for_head.startswith(public + "/")
    assert httpx.get(for_get).content == VIDEO
    head = httpx.head(for_head)
    assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(VIDEO)))
    # Each is good only for its own method.
    assert httpx.get(for_head).status_code == 403
    assert httpx.head(for_get).status_code == 403
