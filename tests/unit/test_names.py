"""The identifiers of ARCHITECTURE.md: job id <-> VideoJob name bijection and output file names."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from videogen_common import names

REFERENCE_JOB_ID = "job_1234567890_abcdef123456"
REFERENCE_NAME = "job-1234567890-abcdef123456"

MALFORMED_JOB_IDS = [
    "",
    "job",
    "job_",
    "job__abcdef123456",
    "job_1234567890_",
    "job_1234567890_abcdef12345",  # 11 hex
    "job_1234567890_abcdef1234567",  # 13 hex
    "job_1234567890_ABCDEF123456",  # upper case
    "job_1234567890_abcdeg123456",  # not hex
    "job_0123456789_abcdef123456",  # leading zero: would give two spellings of one time
    "job_-1_abcdef123456",
    "job_12a4_abcdef123456",
    "Job_1234567890_abcdef123456",
    "jobs_1234567890_abcdef123456",
    " job_1234567890_abcdef123456",
    "job_1234567890_abcdef123456 ",
    "job_1234567890_abcdef123456\n",
    "job_1234567890-abcdef123456",  # mixed separators
    "job-1234567890_abcdef123456",
    REFERENCE_NAME,  # a name is not an id
    "job_1234567890_abcdef123456.mp4",
    "job_\u0661\u0662_abcdef123456",  # non-ASCII digits
    "job_12345678901234567890_abcdef123456",  # 20 digits
]

MALFORMED_NAMES = [m.replace("_", "-") for m in MALFORMED_JOB_IDS if m.replace("_", "-") != REFERENCE_NAME] + [
    REFERENCE_JOB_ID,
    "my-hand-made-videojob",
    "job-1234567890-abcdef123456-x",
]


def test_new_job_id_has_reference_shape() -> None:
    job_id = names.new_job_id()
    assert re.fullmatch(r"job_[0-9]+_[0-9a-f]{12}", job_id)
    assert names.is_job_id(job_id)


def test_new_job_id_uses_given_time() -> None:
    assert names.new_job_id(1234567890).startswith("job_1234567890_")
    assert names.new_job_id(1234567890.9).startswith("job_1234567890_")
    when = datetime(2024, 1, 15, 10, 30, 0, tzinfo=UTC)
    assert names.new_job_id(when).startswith(f"job_{int(when.timestamp())}_")
    # the same instant in another zone gives the same seconds
    assert names.new_job_id(when.astimezone(timezone(timedelta(hours=5)))).startswith(f"job_{int(when.timestamp())}_")


def test_new_job_id_rejects_naive_datetime_and_negative_time() -> None:
    with pytest.raises(ValueError):
        names.new_job_id(datetime(2024, 1, 15, 10, 30, 0))
    with pytest.raises(ValueError):
        names.new_job_id(-1)


def test_new_job_ids_are_unique() -> None:
    ids = {names.new_job_id(1234567890) for _ in range(2000)}
    assert len(ids) == 2000


def test_reference_id_maps_to_name_and_back() -> None:
    assert names.job_id_to_videojob_name(REFERENCE_JOB_ID) == REFERENCE_NAME
    assert names.videojob_name_to_job_id(REFERENCE_NAME) == REFERENCE_JOB_ID


def test_videojob_name_is_a_valid_kubernetes_name() -> None:
    dns1123_subdomain = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
    for _ in range(200):
        name = names.job_id_to_videojob_name(names.new_job_id())
        assert len(name) <= 63  # also a valid label value, so Jobs/pods can carry it
        assert dns1123_subdomain.fullmatch(name)
        assert names.is_videojob_name(name)


@pytest.mark.parametrize("seconds", [0, 1, 9, 10, 1234567890, 4102444800, 10**19 - 1])
def test_mapping_round_trips_both_ways(seconds: int) -> None:
    for _ in range(50):
        job_id = names.new_job_id(seconds)
        name = names.job_id_to_videojob_name(job_id)
        assert names.videojob_name_to_job_id(name) == job_id
        assert names.job_id_to_videojob_name(names.videojob_name_to_job_id(name)) == name


def test_mapping_is_injective() -> None:
    ids = [names.new_job_id(s) for s in (0, 1, 10, 100, 1234567890) for _ in range(100)]
    mapped = [names.job_id_to_videojob_name(i) for i in ids]
    assert len(set(mapped)) == len(set(ids))


@pytest.mark.parametrize("bad", MALFORMED_JOB_IDS)
def test_malformed_job_id_is_rejected(bad: str) -> None:
    assert not names.is_job_id(bad)
    with pytest.raises(ValueError):
        names.job_id_to_videojob_name(bad)


@pytest.mark.parametrize("bad", MALFORMED_NAMES)
def test_malformed_videojob_name_is_rejected(bad: str) -> None:
    assert not names.is_videojob_name(bad)
    with pytest.raises(ValueError):
        names.videojob_name_to_job_id(bad)


def test_non_strings_are_not_ids() -> None:
    assert not names.is_job_id(None)
    assert not names.is_job_id(1234567890)
    assert not names.is_videojob_name(b"job-1234567890-abcdef123456")
    assert not names.is_output_filename(None)


@pytest.mark.parametrize(
    ("mode", "kind"),
    [("text-to-video", "text2video"), ("image-to-video", "image2video"), ("video-to-video", "video2video")],
)
def test_output_filename_has_reference_shape(mode: str, kind: str) -> None:
    when = datetime(2024, 1, 15, 10, 30, 45, tzinfo=UTC)
    filename = names.output_filename(mode, when)
    assert re.fullmatch(rf"{kind}_20240115_103045_[0-9a-f]{{6}}\.mp4", filename)
    assert names.is_output_filename(filename)


def test_output_filename_uses_utc() -> None:
    when = datetime(2024, 1, 15, 15, 30, 45, tzinfo=timezone(timedelta(hours=5)))
    assert names.output_filename("text-to-video", when).startswith("text2video_20240115_103045_")
    assert names.output_filename("text-to-video", 1705314645).startswith("text2video_20240115_103045_")


def test_output_filename_defaults_to_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    filename = names.output_filename("video-to-video")
    after = datetime.now(UTC)
    stamp = datetime.strptime(filename[len("video2video_") : len("video2video_") + 15], "%Y%m%d_%H%M%S")
    assert before <= stamp.replace(tzinfo=UTC) <= after


def test_output_filename_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        names.output_filename("text2video")


def test_reference_output_example_is_accepted() -> None:
    assert names.is_output_filename("text2video_20240115_103045_abc123.mp4")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "text2video_20240115_103045_abc123",  # no extension
        "text2video_20240115_103045_abc123.mp4.exe",
        "./outputs/text2video_20240115_103045_abc123.mp4",  # a path, not a file name
        "../text2video_20240115_103045_abc123.mp4",
        "text2video_20240115_103045_ABC123.mp4",
        "text2video_20240115_103045_abc12.mp4",
        "text2video_20240115_103045_abc1234.mp4",
        "txt2video_20240115_103045_abc123.mp4",
        "text-to-video_20240115_103045_abc123.mp4",
        "text2video_2024011_103045_abc123.mp4",
        "text2video_20241315_103045_abc123.mp4",  # month 13
        "text2video_20240115_253045_abc123.mp4",  # hour 25
        "text2video_20240115_103045_abc123.MP4",
        "text2video_20240115_103045_abc123.mp4\n",
    ],
)
def test_malformed_output_filename_is_rejected(bad: str) -> None:
    assert not names.is_output_filename(bad)
