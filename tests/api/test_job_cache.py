"""The watch-fed VideoJob cache: it converges on every change, survives broken and expired watches, and job reads
stay read-your-writes on the replica that wrote (falling back to the apiserver where the cache lags)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.api.conftest import Operator, RunningApi, ServeApi, wait_until
from videogen_common.resources.meta import GROUP, VERSION

T2V = "/api/v1/generate/text-to-video"


def _create_by_hand(operator: Operator, name: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VideoJob",
        "metadata": {"name": name},
        "spec": {"mode": "text-to-video", "prompt": "kubectl apply"},
    }
    operator.objects.create_namespaced_custom_object(GROUP, VERSION, operator.namespace, "videojobs", body)


def _delete_by_hand(operator: Operator, name: str) -> None:
    operator.objects.delete_namespaced_custom_object(GROUP, VERSION, operator.namespace, "videojobs", name)


def _cached_state(api: RunningApi, name: str) -> Any:
    videojob = api.cache.get(name)
    return None if videojob is None else videojob.status.current_state


def test_the_cache_follows_creates_status_changes_and_deletes(api: RunningApi, operator: Operator) -> None:
    name = "job-1700000000-0123456789ab"
    _create_by_hand(operator, name)
    assert wait_until(lambda: _cached_state(api, name) == "pending")
    operator.set_job_status(name, {"state": "processing", "progress": {"step": 3, "totalSteps": 10, "percent": 30}})
    assert wait_until(lambda: _cached_state(api, name) == "processing")
    assert api.http.get("/api/v1/job/job_1700000000_0123456789ab").json()["progress"]["percent"] == 30
    _delete_by_hand(operator, name)
    assert wait_until(lambda: api.cache.get(name) is None and len(api.cache) == 0)
    assert api.http.get("/api/v1/job/job_1700000000_0123456789ab").status_code == 404


def test_a_get_right_after_a_submit_finds_the_job(serve_api: ServeApi) -> None:
    api = serve_api(max_concurrent_jobs=20)
    for i in range(20):
        job_id = api.http.post(T2V, json={"prompt": f"clip {i}"}).json()["job_id"]
        response = api.http.get(f"/api/v1/job/{job_id}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "pending"


def test_reads_are_your_own_writes_even_while_the_cache_lags(api: RunningApi, operator: Operator) -> None:
    first = api.http.post(T2V, json={"prompt": "a"}).json()["job_id"]
    first_name = first.replace("_", "-")
    assert wait_until(lambda: api.cache.get(first_name) is not None)
    api.cache.stop()  # frozen: from here on, the cache lags behind everything

    # Another writer's change is not seen until the watch delivers it: reads really come from the cache.
    operator.set_job_status(first, {"state": "processing"})
    assert api.http.get(f"/api/v1/job/{first}").json()["status"] == "pending"
    # This replica's own cancel is seen at once, and a job the cache has never seen is found, not 404.
    assert api.http.delete(f"/api/v1/job/{first}").status_code == 202
    after_cancel = api.http.get(f"/api/v1/job/{first}").json()
    assert (after_cancel["cancel_requested"], after_cancel["status"]) == (True, "processing")
    second = api.http.post(T2V, json={"prompt": "b"}).json()["job_id"]
    assert api.http.get(f"/api/v1/job/{second}").status_code == 200

    api.cache.start()
    assert wait_until(lambda: _cached_state(api, second.replace("_", "-")) == "pending")
    assert _cached_state(api, first_name) == "processing"


def test_a_broken_watch_resumes_from_its_resource_version_without_relisting(
    api: RunningApi, operator: Operator
) -> None:
    lists, watches = api.cache.stats.lists, api.cache.stats.watches
    api.cache.restart_watch()
    assert wait_until(lambda: api.cache.stats.watches > watches)
    _create_by_hand(operator, "after-the-break")
    assert wait_until(lambda: api.cache.get("after-the-break") is not None)

    # Changes made while nobody watches are replayed from the last resourceVersion when the watch comes back.
    api.cache.stop()
    _delete_by_hand(operator, "after-the-break")
    _create_by_hand(operator, "while-stopped")
    api.cache.start()
    assert wait_until(lambda: api.cache.get("while-stopped") is not None and api.cache.get("after-the-break") is None)
    assert api.cache.stats.lists == lists
    assert api.cache.stats.gone == 0


def test_an_expired_resource_version_relists_and_drops_what_was_deleted_meanwhile(
    api: RunningApi, operator: Operator
) -> None:
    _create_by_hand(operator, "deleted-while-away")
    assert wait_until(lambda: api.cache.get("deleted-while-away") is not None)
    lists = api.cache.stats.lists
    api.cache.stop()
    _delete_by_hand(operator, "deleted-while-away")
    _create_by_hand(operator, "created-while-away")
    # "1" is long compacted out of the apiserver's watch window: it answers 410 Gone, and only a relist helps.
    api.cache.start(from_resource_version="1")
    assert wait_until(lambda: api.cache.get("created-while-away") is not None)
    assert api.cache.get("deleted-while-away") is None
    assert (api.cache.stats.gone, api.cache.stats.lists) == (1, lists + 1)


def test_readyz_says_cache_not_synced_while_the_watch_is_refused_and_reads_still_work(
    serve_api: ServeApi, operator: Operator, admin: client.ApiClient, namespace: str
) -> None:
    rbac = client.RbacAuthorizationV1Api(admin)

    def set_rules(rules: list[client.V1PolicyRule]) -> None:
        role = rbac.read_namespaced_role("videogen-api", namespace)
        role.rules = rules
        rbac.replace_namespaced_role("videogen-api", namespace, role)

    rules = rbac.read_namespaced_role("videogen-api", namespace).rules or []
    set_rules([
        client.V1PolicyRule(api_groups=rule.api_groups, resources=rule.resources,
                            verbs=[verb for verb in rule.verbs if verb != "watch"])
        for rule in rules
    ])  # fmt: skip
    _create_by_hand(operator, "job-1700000000-00000000000a")

    api = serve_api(wait_for_cache=False)
    assert wait_until(lambda: api.cache.stats.errors > 0)
    ready = api.http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"kubernetes": "ok", "s3": "ok", "cache": "cache not synced"}
    # Unsynced, every read goes to the apiserver: slower, never wrong.
    assert api.http.get("/api/v1/job/job_1700000000_00000000000a").status_code == 200
    assert len(api.http.get("/api/v1/jobs").json()["jobs"]) == 1

    set_rules(rules)
    assert api.cache.wait_synced(20)
    assert api.http.get("/readyz").status_code == 200
