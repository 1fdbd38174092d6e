"""History costs nothing (issue 17, the API's half): the capacity count reads open VideoJobs only (the cache's, with
this replica's creates counted at once; unsynced, the apiserver's by label selector), the cache keeps open jobs and
a bounded window of finished ones, a job outside the window is read by name, and a job
whose VideoJob is gone (deleted after its TTL) is still served, with its output and the same access rule, from the
job record the runner wrote."""

from __future__ import annotations

from datetime import UTC, datetime

from kubernetes import client

from tests.api.conftest import DATA, Operator, RunningApi, ServeApi, wait_until
from videogen_api.job_records import videojob_from_metadata
from videogen_api.videojobs import videojob_to_job
from videogen_common.resources.meta import GROUP, LABEL_FINISHED, VERSION
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob_status import UsedParameters
from videogen_common.runner_contract import OutputLocation, ResultMetadata
from videogen_operator import naming

T2V = "/api/v1/generate/text-to-video"
A, B, ADMIN = {"X-API-Key": "key-a"}, {"X-API-Key": "key-b"}, {"X-API-Key": "key-admin"}
KEYS = ["key-a", "key-b", "key-admin admin"]
USED = UsedParameters(
    model="m/r", pipeline="LTXPipeline", num_frames=9, width=64, height=64, fps=8, num_inference_steps=4,
    guidance_scale=3.0, seed=1,
)  # fmt: skip


def _create_by_hand(operator: Operator, name: str, labels: dict[str, str] | None = None) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VideoJob",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"mode": "text-to-video", "prompt": "kubectl apply"},
    }
    operator.objects.create_namespaced_custom_object(GROUP, VERSION, operator.namespace, "videojobs", body)


def _finish(operator: Operator, name: str) -> None:
    """Completed, then labelled finished, as the operator does."""
    operator.set_job_status(name, {"state": "completed"})
    operator.objects.patch_namespaced_custom_object(
        GROUP, VERSION, operator.namespace, "videojobs", name, {"metadata": {"labels": {LABEL_FINISHED: "true"}}}
    )


def test_a_videojob_labelled_finished_is_not_counted_against_the_limit(serve_api: ServeApi, operator: Operator) -> None:
    # The label alone decides what the apiserver sends back: a VideoJob so labelled is not even read, whatever its
    # status says (here none: it would count as pending if the count listed every VideoJob).
    api = serve_api(max_concurrent_jobs=1)
    _create_by_hand(operator, "job-1700000000-00000000000f", {LABEL_FINISHED: "true"})
    assert api.http.post(T2V, json={"prompt": "counted"}).status_code == 202
    refused = api.http.post(T2V, json={"prompt": "one too many"})
    assert refused.status_code == 429, refused.text


def test_unsynced_the_count_asks_the_apiserver_for_open_videojobs_only(
    serve_api: ServeApi, operator: Operator, admin: client.ApiClient, namespace: str
) -> None:
    # Without "watch" the cache never syncs, so the count falls back to the apiserver's list by label selector.
    rbac = client.RbacAuthorizationV1Api(admin)
    role = rbac.read_namespaced_role("videogen-api", namespace)
    for rule in role.rules or []:
        rule.verbs = [verb for verb in rule.verbs if verb != "watch"]
    rbac.replace_namespaced_role("videogen-api", namespace, role)
    _create_by_hand(operator, "job-1700000000-00000000000f", {LABEL_FINISHED: "true"})
    api = serve_api(max_concurrent_jobs=1, wait_for_cache=False)
    assert not api.cache.synced
    assert api.http.post(T2V, json={"prompt": "counted"}).status_code == 202
    assert api.http.post(T2V, json={"prompt": "one too many"}).status_code == 429


def test_a_create_counts_against_the_limit_at_once_even_before_the_watch_delivers_it(serve_api: ServeApi) -> None:
    # The count comes from the watch cache plus this replica's own creates: frozen, the cache delivers nothing more,
    # and the limit still holds exactly.
    api = serve_api(max_concurrent_jobs=2)
    api.cache.stop()
    assert [api.http.post(T2V, json={"prompt": f"{i}"}).status_code for i in range(2)] == [202, 202]
    assert api.http.post(T2V, json={"prompt": "third"}).status_code == 429


def test_the_cache_keeps_open_jobs_and_the_newest_finished_ones(serve_api: ServeApi, operator: Operator) -> None:
    finished = [f"job-170000000{i}-00000000000{i}" for i in range(4)]
    for name in finished:
        _create_by_hand(operator, name)
        _finish(operator, name)
    _create_by_hand(operator, "job-1700000009-000000000009")
    # Started after the history exists: the first list keeps the open job and the two newest finished ones.
    api = serve_api(cache_finished_jobs=2)
    assert len(api.cache) == 3 and api.cache.finished_count == 2
    assert api.cache.get(finished[0]) is None and api.cache.get(finished[3]) is not None
    listed = [job["job_id"] for job in api.http.get("/api/v1/jobs").json()["jobs"]]
    assert len(listed) == 3 and "job_1700000000_000000000000" not in listed

    # A job finishing now enters the window and pushes the oldest kept one out.
    _finish(operator, "job-1700000009-000000000009")
    assert wait_until(lambda: api.cache.get(finished[2]) is None)
    assert api.cache.finished_count == 2 and len(api.cache) == 2
    # Out of the window is not out of reach: read by name from the apiserver.
    for name in finished:
        response = api.http.get(f"/api/v1/job/{name.replace('-', '_')}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "completed"


def _run_as_the_operator_and_runner(api: RunningApi, operator: Operator, job_id: str) -> str:
    """What the operator and the runner leave for a completed job: the MP4, the metadata beside it and the job record
    (keys and references as the operator's naming builds them), and the completed status. Returns the file name."""
    videojob = VideoJob.model_validate(operator.videojob(job_id))
    ref = naming.videojob_ref(videojob)
    filename = naming.output_file(videojob)
    out = OutputLocation.for_video(api.settings.bucket, api.settings.outputs_prefix, filename, ref)
    assert out.record_key is not None
    metadata = ResultMetadata(
        videojob=ref,
        mode=videojob.spec.mode,
        model=videojob.spec.model,
        prompt=videojob.spec.prompt,
        negative_prompt="",
        used=USED,
        video_uri=out.uri(out.video_key),
        poster_uri=out.uri(out.poster_key),
        timings={"total": 1.0},
        device="cpu",
        dtype="float32",
        attention_backend="sdpa",
        offload="none",
        compiled=False,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    s3 = operator.s3.client()
    s3.put_object(Bucket=out.bucket, Key=out.video_key, Body=(DATA / "clip.mp4").read_bytes(), ContentType="video/mp4")
    for key in (out.metadata_key, out.record_key):
        s3.put_object(Bucket=out.bucket, Key=key, Body=metadata.to_json().encode(), ContentType="application/json")
    output = {"uri": out.uri(out.video_key), "file": filename, "path": f"./outputs/{filename}"}
    status = {"state": "completed", "reason": "Succeeded", "used": metadata.used.to_wire(), "output": output}
    api.wait_until_cached(operator.set_job_status(job_id, status))
    return filename


def test_a_job_past_its_ttl_is_served_from_its_record_with_the_same_access_rule(
    serve_api: ServeApi, operator: Operator
) -> None:
    api = serve_api(api_keys=KEYS)
    job_id = api.http.post(T2V, json={"prompt": "kept after the TTL"}, headers=A).json()["job_id"]
    filename = _run_as_the_operator_and_runner(api, operator, job_id)
    live = api.http.get(f"/api/v1/job/{job_id}", headers=A).json()

    # The TTL sweep deletes the VideoJob; the outputs stay.
    name = job_id.replace("_", "-")
    operator.objects.delete_namespaced_custom_object(GROUP, VERSION, operator.namespace, "videojobs", name)
    assert wait_until(lambda: api.cache.get(name) is None and len(api.cache) == 0)

    gone = api.http.get(f"/api/v1/job/{job_id}", headers=A)
    assert gone.status_code == 200, gone.text
    after = gone.json()
    assert after.keys() == live.keys()
    for field in ("job_id", "status", "output_path", "output_url", "created_at", "mode", "model", "used", "reason"):
        assert after[field] == live[field], field
    assert after["progress"]["percent"] == 100
    assert api.http.get(f"/api/v1/job/{job_id}", headers=ADMIN).status_code == 200
    assert api.http.get(f"/api/v1/job/{job_id}", headers=B).status_code == 404
    # Nothing to cancel, and said so.
    assert api.http.delete(f"/api/v1/job/{job_id}", headers=A).status_code == 400

    video = api.http.get(f"/outputs/{filename}", headers=A)
    assert video.status_code == 200 and video.content == (DATA / "clip.mp4").read_bytes()
    assert api.http.get(f"/outputs/{filename}", headers=B).status_code == 404
    assert api.http.get(f"/outputs/{filename}", headers=ADMIN).status_code == 200
    # A job that never had a record (never completed) is simply gone.
    assert api.http.get("/api/v1/job/job_1700000000_00000000dead", headers=ADMIN).status_code == 404


def test_the_view_rebuilt_from_a_record_is_a_completed_job_view() -> None:
    # Pure: what a record turns into, without a server (the route test above covers the S3 side).
    metadata = ResultMetadata.model_validate({
        "videojob": {
            "name": "job-1700000000-0123456789ab", "namespace": "ns", "owner": "o", "createdAt": "2023-11-14T22:13:20Z",
        },
        "mode": "text-to-video", "model": "smoke-ltx", "prompt": "p", "negativePrompt": "", "used": USED.to_wire(),
        "videoUri": "s3://b/outputs/text2video_20231114_221320_abcdef.mp4", "posterUri": "s3://b/outputs/x.jpg",
        "timings": {}, "device": "cpu", "dtype": "float32", "attentionBackend": "sdpa", "offload": "none",
        "compiled": False, "createdAt": "2023-11-14T22:14:00.5Z",
    })  # fmt: skip
    videojob = videojob_from_metadata(metadata)
    assert videojob is not None
    view = videojob_to_job(videojob, lambda file: f"http://api/outputs/{file}").model_dump()
    assert view["job_id"] == "job_1700000000_0123456789ab" and view["status"] == "completed"
    assert view["output_path"] == "./outputs/text2video_20231114_221320_abcdef.mp4"
    assert view["output_url"] == "http://api/outputs/text2video_20231114_221320_abcdef.mp4"
    assert view["created_at"] == "2023-11-14T22:13:20Z" and view["updated_at"] == "2023-11-14T22:14:00Z"
    assert view["model"] == "smoke-ltx" and view["used"]["num_inference_steps"] == 4
    assert videojob.metadata.labels == {"videogen.dev/owner": "o"}
    # A video that is not an output file of this API is no job view.
    assert videojob_from_metadata(metadata.model_copy(update={"video_uri": "s3://b/elsewhere/x.mp4"})) is None
