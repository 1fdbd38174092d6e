"""desired_job as the API server sees it: the Job the operator would create passes validation and Pod Security
"restricted" (a server-side dry run, so nothing runs), with the most demanding settings an installation can use."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.operator.factories import MODEL, videojob
from tests.system_release import create_restricted_namespace
from videogen_dev.cluster import Cluster
from videogen_operator.runner_job import desired_job
from videogen_operator.settings import OperatorSettings


@pytest.fixture
def restricted(cluster: Cluster) -> Iterator[str]:
    name = create_restricted_namespace(cluster, "desired-job")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_job_with_compile_cache_and_gpu_pool_settings_is_accepted_and_restricted(
    cluster: Cluster, restricted: str
) -> None:
    settings = OperatorSettings.model_validate(
        {
            "runner_runtime": {"compile": True},
            "compile_cache_subpath": ".compile-cache",
            "runtime_class_name": "nvidia",
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["h100", "h200"]}]}
                        ]
                    }
                }
            },
        }
    )
    doc = videojob(gpus=1)
    doc.metadata.namespace = restricted
    job = desired_job(doc, MODEL, settings, s3_endpoint_url="http://s3:8333")

    result = cluster.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(job))

    # The namespace warns on anything a restricted pod may not do; the server found nothing to warn about.
    assert "would violate PodSecurity" not in result.stderr, result.stderr
    accepted = json.loads(result.stdout)["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in accepted["containers"][0]["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True
    assert mounts["/compile-cache"]["subPath"] == ".compile-cache" and not mounts["/compile-cache"].get("readOnly")
    assert accepted["runtimeClassName"] == "nvidia"
