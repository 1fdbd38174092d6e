"""The chart is secure by default: API keys required (a generated one when none is given, kept across upgrades), the
model allow-list is the preloaded models, NetworkPolicies on, runner pods reaching S3 and DNS only and download pods
the hub and DNS only. Rendered, and installed on the local cluster with the chart's own auth values."""

from __future__ import annotations

import base64
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import S3Endpoint
from tests.helm.conftest import Helm, create_namespace
from tests.helm.test_chart_renders import by_kind, container_env
from tests.system_release import release_values
from videogen_api.config import ApiSettings
from videogen_common.model_choice import allowlist_problem
from videogen_dev import release
from videogen_dev.cluster import Cluster
from videogen_dev.waiting import wait_for
from videogen_operator.settings import OperatorSettings

MODELS = ["--set", "models[0].name=wan", "--set", "models[0].repoId=Wan-AI/Wan2.1-T2V-1.3B-Diffusers"]
PUBLIC_ONLY = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16"}


def literal_env(doc: dict[str, Any], prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in container_env(doc).items():
        if name.startswith(prefix) and isinstance(value, str):
            monkeypatch.setenv(name, value)


def test_default_render_requires_keys_and_generates_one(helm: Helm) -> None:
    docs = helm.template("ns")
    secret = by_kind(docs, "Secret", "videogen-api-keys")
    key, role = secret["stringData"]["api-keys"].split()
    assert role == "admin" and len(key) == 48
    api = by_kind(docs, "Deployment", "videogen-api")
    env = container_env(api)
    assert env["VIDEOGEN_API_AUTH_DISABLED"] == "false"
    assert env["VIDEOGEN_API_API_KEYS_FILE"] == "/etc/videogen/api-keys/api-keys"
    volumes = {v["name"]: v for v in api["spec"]["template"]["spec"]["volumes"]}
    assert volumes["api-keys"]["secret"]["secretName"] == "videogen-api-keys"


def test_keys_of_your_own_or_auth_disabled_make_no_generated_secret(helm: Helm) -> None:
    own = helm.template("ns", "--set", "api.auth.existingSecret=team-keys")
    assert not [d for d in own if d["kind"] == "Secret" and d["metadata"]["name"] == "videogen-api-keys"]
    volumes = {v["name"]: v for v in by_kind(own, "Deployment", "videogen-api")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["api-keys"]["secret"]["secretName"] == "team-keys"

    off = helm.template("ns", "--set", "api.auth.disabled=true")
    assert not [d for d in off if d["kind"] == "Secret" and d["metadata"]["name"] == "videogen-api-keys"]
    env = container_env(by_kind(off, "Deployment", "videogen-api"))
    assert env["VIDEOGEN_API_AUTH_DISABLED"] == "true" and "VIDEOGEN_API_API_KEYS_FILE" not in env


@pytest.mark.parametrize(
    ("values", "allowed", "refused"),
    [
        ([], [], ["Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "someone/anything"]),
        (MODELS, ["Wan-AI/Wan2.1-T2V-1.3B-Diffusers"], ["someone/anything"]),
        ([*MODELS, "--set", "api.modelAllowlist={Lightricks/LTX-Video}"], ["Lightricks/LTX-Video"], ["someone/x"]),
        (["--set", "api.allowAnyModel=true"], ["someone/anything"], []),
    ],
    ids=["no-models-nothing", "preloaded-models", "explicit-list", "allow-any"],
)
def test_the_model_allow_list_defaults_to_the_preloaded_models(
    helm: Helm, monkeypatch: pytest.MonkeyPatch, values: list[str], allowed: list[str], refused: list[str]
) -> None:
    docs = helm.template("ns", *values)
    literal_env(by_kind(docs, "Deployment", "videogen-api"), "VIDEOGEN_API_", monkeypatch)
    literal_env(by_kind(docs, "Deployment", "videogen-operator"), "VIDEOGEN_OPERATOR_", monkeypatch)
    for policy in (ApiSettings().model_policy(), OperatorSettings().model_policy()):
        assert [m for m in allowed if allowlist_problem(m, policy) is not None] == []
        assert [m for m in refused if allowlist_problem(m, policy) is None] == []


def _egress(policy: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = policy["spec"]["egress"]
    return rules


def test_network_policies_are_on_and_keep_runner_pods_off_the_internet(helm: Helm) -> None:
    docs = helm.template("ns")
    runner = by_kind(docs, "NetworkPolicy", "videogen-runner")
    download = by_kind(docs, "NetworkPolicy", "videogen-model-download")
    assert runner["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "runner"
    assert download["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "model-download"
    for policy in (runner, download, by_kind(docs, "NetworkPolicy", "videogen-api")):
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]

    # Runner: DNS (no destination limit, port 53 only) and S3 at private addresses; no public address, no hub rule.
    dns, s3 = _egress(runner)
    assert "to" not in dns and {p["port"] for p in dns["ports"]} == {53}
    assert [peer["ipBlock"]["cidr"] for peer in s3["to"]] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    assert not [peer for peer in s3["to"] if peer["ipBlock"]["cidr"] == "0.0.0.0/0"]

    # Download: DNS and the hub: public addresses on 443 with private, loopback and link-local (metadata) cut out.
    dns, hub = _egress(download)
    assert {p["port"] for p in dns["ports"]} == {53}
    (block,) = hub["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0" and set(block["ipBlock"]["except"]) >= PUBLIC_ONLY
    assert [p["port"] for p in hub["ports"]] == [443]


@contextlib.contextmanager
def default_auth_release(cluster: Cluster, s3: S3Endpoint) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The API of a release installed with the chart's own auth values (make up's values otherwise, without models
    and with the operator kept off the node: only the API is looked at). Yields its namespace, URL and values."""
    namespace = create_namespace(cluster, "helm-auth")
    cache = Path(tempfile.mkdtemp(prefix=f"videogen-model-cache-{namespace}-"))
    pv_name = f"videogen-model-cache-{namespace}"
    values = release_values(
        namespace,
        s3,
        {"models": [], "operator": {"nodeSelector": {"videogen.dev/helm-test": "no-such-node"}}},
        containers=cluster.settings.node_containers,
    )
    del values["api"]["auth"]  # make up's loopback exception gone: the chart's default applies
    url = f"http://127.0.0.1:{values['api']['port']}"
    try:
        release.apply_prerequisites(cluster, namespace, cache, pv_name, s3.access_key, s3.secret_key)
        release.install(cluster, "videogen", namespace, values)
        wait_for(lambda: _status(url, "/readyz"), lambda code: code == 200, 240, f"{url}/readyz")
        yield namespace, url, values
    finally:
        release.uninstall(cluster, "videogen", namespace)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        cluster.kubectl("delete", "persistentvolume", pv_name, "--wait=false", check=False)
        shutil.rmtree(cache, ignore_errors=True)


def _status(url: str, path: str) -> int:
    try:
        return httpx.get(f"{url}{path}", timeout=5).status_code
    except httpx.TransportError:
        return 0


def generated_key(cluster: Cluster, namespace: str) -> str:
    """The key as NOTES.txt says to read it."""
    data = cluster.get_json("secret", "videogen-api-keys", "-n", namespace)["data"]["api-keys"]
    return base64.b64decode(data).decode().split()[0]


def test_installed_with_default_auth_every_job_route_wants_the_generated_key(
    cluster: Cluster, crds: None, s3: S3Endpoint
) -> None:
    job_id = "job_1795671757_ffdcc1831ea0"
    requests = [
        ("POST", "/api/v1/generate/text-to-video", {"prompt": "a red fox"}),
        ("GET", f"/api/v1/job/{job_id}", None),
        ("GET", "/api/v1/jobs", None),
        ("DELETE", f"/api/v1/job/{job_id}", None),
        ("GET", "/outputs/text2video_20261126_054238_57a3c5.mp4", None),
        ("POST", "/api/v1/models/download", {"model_id": "Lightricks/LTX-Video"}),
    ]
    with default_auth_release(cluster, s3) as (namespace, url, values), httpx.Client(base_url=url, timeout=30) as api:
        answers = {path: api.request(method, path, json=body).status_code for method, path, body in requests}
        assert answers == {path: 401 for _, path, _ in requests}
        assert api.get("/health").status_code == 200

        key = generated_key(cluster, namespace)
        listed = api.get("/api/v1/jobs", headers={"X-API-Key": key})
        assert listed.status_code == 200, listed.text
        # Nothing is preloaded, so nothing may be downloaded: the allow-list is the (empty) preloaded models.
        refused = api.post("/api/v1/models/download", json={"model_id": "someone/anything"}, headers={"X-API-Key": key})
        assert refused.status_code == 400 and "allow-list is empty" in refused.text

        # An upgrade keeps the key: clients holding it go on working.
        release.install(cluster, "videogen", namespace, values, "--set", "api.replicas=1")
        assert generated_key(cluster, namespace) == key
