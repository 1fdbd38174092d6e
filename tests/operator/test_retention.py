"""Retention: a finished VideoJob past its TTL goes with its input and progress object; outputs go after their own.

The decisions as pure functions; the output sweep against the real SeaweedFS; the whole thing through a running
operator against the local control plane.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import S3Endpoint
from tests.operator.conftest import Namespace
from tests.operator.factories import videojob
from tests.operator.test_metrics import free_port, get
from tests.operator.test_operator_runs_videojobs import smoke_model
from videogen_common.resources.meta import LABEL_FINISHED
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob_status import Reason, VideoJobStatus
from videogen_dev.waiting import wait_for
from videogen_operator import retention, videojob_status
from videogen_operator.settings import OperatorSettings

FINISHED = "2024-01-15T11:00:00Z"
AT_FINISH = datetime(2024, 1, 15, 11, 0, tzinfo=UTC)


def finished(ttl: int | None = None, **spec: Any) -> VideoJob:
    summary = videojob_status.failed(Reason.INVALID_INPUT, "bad input")
    status = videojob_status.next_status(VideoJobStatus(), summary, 1, FINISHED)
    return videojob(status=status, ttlSecondsAfterFinished=ttl, **spec)


def wire(ttl: int | None = None) -> dict[str, Any]:
    """A finished VideoJob as the sweep's list returns it."""
    return finished(ttl).to_wire()


def test_a_finished_videojob_expires_its_ttl_after_its_final_condition() -> None:
    settings = OperatorSettings(videojob_ttl_seconds=3600)
    job = wire()
    assert retention.finished_at(job) == AT_FINISH
    assert not retention.expired(job, settings, AT_FINISH + timedelta(seconds=3599))
    assert retention.expired(job, settings, AT_FINISH + timedelta(seconds=3600))


def test_an_open_videojob_never_expires() -> None:
    assert retention.finished_at(videojob().to_wire()) is None
    assert not retention.expired(videojob().to_wire(), OperatorSettings(videojob_ttl_seconds=0), AT_FINISH)


def test_a_job_may_ask_to_go_sooner_than_the_installation_keeps_it_but_not_later() -> None:
    week = OperatorSettings(videojob_ttl_seconds=604800)
    assert retention.ttl_seconds(wire(), week) == 604800
    assert retention.ttl_seconds(wire(ttl=60), week) == 60
    assert retention.ttl_seconds(wire(ttl=0), week) == 0
    assert retention.ttl_seconds(wire(ttl=10**7), week) == 604800
    forever = OperatorSettings(videojob_ttl_seconds=None)
    assert retention.ttl_seconds(wire(), forever) is None
    assert not retention.expired(wire(), forever, AT_FINISH + timedelta(days=3650))
    assert retention.ttl_seconds(wire(ttl=60), forever) == 60


def test_only_the_input_the_api_uploaded_for_this_videojob_is_its_own() -> None:
    settings = OperatorSettings(output_bucket="videogen", inputs_prefix="inputs")

    def image_job(uri: str) -> Any:
        return finished(mode="image-to-video", input={"uri": uri})

    own = image_job("s3://videogen/inputs/cat/0a1b2c3d/input.png")
    assert retention.uploaded_input(own, settings) == ("videogen", "inputs/cat/0a1b2c3d/input.png")
    for elsewhere in (
        "s3://videogen/inputs/catalogue/0a1b2c3d/input.png",  # another VideoJob's, whose name starts alike
        "s3://videogen/shared/cat.png",  # placed by someone for many jobs
        "s3://other-bucket/inputs/cat/0a1b2c3d/input.png",
    ):
        assert retention.uploaded_input(image_job(elsewhere), settings) is None, elsewhere
    assert retention.uploaded_input(finished(), settings) is None


def test_only_outputs_count_as_outputs_even_under_an_empty_prefix() -> None:
    for key in (
        "text2video_20240115_103045_a1b2c3.mp4",
        "text2video_20240115_103045_a1b2c3.jpg",
        "text2video_20240115_103045_a1b2c3.json",
        ".jobs/team-a/cat.json",
    ):
        assert retention.is_output_key(key, ""), key
        assert retention.is_output_key(f"outputs/{key}", "outputs"), key
    for key in (".progress/team-a/cat-uid.json", "inputs/cat/0a1b2c3d/input.png", "notes.txt", "other/x.mp4"):
        assert not retention.is_output_key(key, ""), key
    assert not retention.is_output_key("elsewhere/text2video_20240115_103045_a1b2c3.mp4", "outputs")


def test_the_output_sweep_deletes_outputs_older_than_their_ttl_and_nothing_else(s3: S3Endpoint) -> None:
    client = s3.client()
    prefix = f"retention-tests/{uuid.uuid4().hex[:10]}"
    outputs = [f"{prefix}/text2video_20240115_103045_a1b2c3.{ext}" for ext in ("mp4", "jpg", "json")]
    record = f"{prefix}/.jobs/team-a/cat.json"
    progress = f"{prefix}/.progress/team-a/cat-uid.json"
    for key in [*outputs, record, progress]:
        client.put_object(Bucket=s3.bucket, Key=key, Body=b"x")
    settings = OperatorSettings(
        output_bucket=s3.bucket, output_prefix=prefix, output_ttl_seconds=3600, retention_page_size=2
    )
    try:
        # Written just now: none is an hour old yet.
        assert retention.sweep_outputs(client, settings, datetime.now(UTC)) == 0
        # Two hours later (pages of 2 keys: the sweep pages through them all).
        assert retention.sweep_outputs(client, settings, datetime.now(UTC) + timedelta(hours=2)) == 4
        left = client.list_objects_v2(Bucket=s3.bucket, Prefix=f"{prefix}/").get("Contents", [])
        assert [o["Key"] for o in left] == [progress]
        assert retention.sweep_outputs(client, OperatorSettings(output_ttl_seconds=None), datetime.now(UTC)) == 0
    finally:
        for key in [*outputs, record, progress]:
            client.delete_object(Bucket=s3.bucket, Key=key)


def test_a_videojob_past_its_ttl_is_deleted_with_its_input_and_progress_and_its_output_stays(
    ns: Namespace, start_operator: Any
) -> None:
    smoke_model(ns)
    inputs = f"{ns.s3_prefix}/inputs"
    metrics_port = free_port()
    start_operator(
        inputs_prefix=inputs,
        videojob_ttl_seconds=3600,
        retention_sweep_seconds=1,
        metrics_port=metrics_port,
        metrics_host="127.0.0.1",
    )
    client = ns.s3.client()
    own_input = f"{inputs}/from-image/0a1b2c3d/input.png"
    shared_input = f"{ns.s3_prefix}/shared/cat.png"
    for key in (own_input, shared_input):
        client.put_object(Bucket=ns.s3.bucket, Key=key, Body=b"\x89PNG")

    ns.videojob("done", prompt="a cat steps=2", ttlSecondsAfterFinished=3)
    ns.videojob("kept", prompt="a cat steps=1")
    # The smoke model makes text-to-video only: these fail at once, each with an input in S3.
    for name, key in (("from-image", own_input), ("shared-input", shared_input)):
        ns.videojob(
            name,
            mode="image-to-video",
            ttlSecondsAfterFinished=0,
            input={"uri": f"s3://{ns.s3.bucket}/{key}", "contentType": "image/png"},
        )

    done = ns.wait_state("done", {"completed", "failed"})
    assert done["state"] == "completed", done
    output = done["output"]["uri"].removeprefix(f"s3://{ns.s3.bucket}/")
    stem = output.removesuffix(".mp4")
    outputs = {output, f"{stem}.jpg", f"{stem}.json"}
    assert outputs <= set(ns.s3_keys()), ns.s3_keys()
    assert ns.s3_keys(".progress/"), "the runner's progress object"
    # Final, so labelled finished (and out of the operator's watch and the API's open jobs).
    kept = wait_for(
        lambda: ns.get("videojob", "kept"),
        lambda vj: vj["metadata"].get("labels", {}).get(LABEL_FINISHED) == "true",
        30,
        "the finished label on kept",
    )
    assert kept["status"]["state"] == "completed"
    # A final VideoJob without the label (finished before the operator set it) comes back into the watch and is
    # labelled, as every such one is when the operator starts.
    ns.cluster.kubectl("label", "videojob", "kept", "-n", ns.name, f"{LABEL_FINISHED}-")
    wait_for(
        lambda: ns.get("videojob", "kept")["metadata"].get("labels", {}),
        lambda labels: labels.get(LABEL_FINISHED) == "true",
        30,
        "the finished label on kept again",
    )

    def names() -> set[str]:
        return {vj["metadata"]["name"] for vj in ns.get("videojobs")["items"]}

    wait_for(names, lambda left: left == {"kept"}, 30, "done, from-image and shared-input deleted after their TTL")
    keys = set(ns.s3_keys())
    assert outputs <= keys, "the output, poster and metadata stay"
    assert own_input not in keys, "the input the API would have uploaded for from-image goes with it"
    assert shared_input in keys, "an input under no VideoJob's upload prefix is not the VideoJob's to delete"
    progress = ns.s3_keys(".progress/")
    assert all("/done-" not in key for key in progress), progress
    # kept is still in the cluster, completed, but out of the operator's watch: its index holds open VideoJobs only.
    _, text = wait_for(
        lambda: get(f"http://127.0.0.1:{metrics_port}/metrics"),
        lambda answer: 'videogen_videojobs{state="completed"} 0.0' in answer[1],
        10,
        "no completed VideoJob in the operator's view",
    )
    assert 'videogen_videojobs{state="failed"} 0.0' in text
    # The Job went with its VideoJob (owner reference), and kept's Job is still there.
    wait_for(
        lambda: {j["metadata"]["name"] for j in ns.jobs("videogen.dev/videojob")},
        lambda jobs: jobs == {"kept"},
        30,
        "done's Job gone",
    )
