"""Schemathesis over the API's own OpenAPI document: no 5xx, no crash, and every answer is one the document lists,
with the documented body and content type. One pytest case per operation, each a bounded, derandomized
Hypothesis run (the same examples on every run), against the real API (uvicorn, cache, apiserver, S3).

No endpoint is excluded. Submits must not start real work, so the API runs with room for one active job and the
test fills it with a hand-made VideoJob first: every well-formed submit is answered 429 (documented) before any
upload or VideoJob exists, and every malformed one 400/413/415. The success path of the submits is therefore not
fuzzed here (tests/api/test_reference_examples.py covers it). Downloads are held to an allow-list that no
generated id can match, so no VideoModel (and no download Job) is created either. API keys are on, so the
documented security schemes are checked too (a request without the key must get 401).

One check is left out, on purpose: ``positive_data_acceptance`` (ST202) wants every schema-valid request
accepted, but some refusals are rules JSON Schema cannot state: an upload must really be a JPEG/PNG or a video
that decodes (415/400), a prompt must not be blank, a repo id must also pass the CRD's CEL rules and the
allow-list (400). Those answers are documented 400/415s, which the remaining checks still hold them to.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from kubernetes import client
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from tests.api.conftest import Operator, ServeApi
from videogen_api.app import create_app
from videogen_api.config import ApiSettings
from videogen_api.kube import Kube
from videogen_common.resources.meta import GROUP, VERSION

_EXAMPLES_PER_OPERATION_AND_MODE = 25
_API_KEY = "fuzz-key"


def _operations() -> list[Any]:
    """Every (method, path, takes input) of the OpenAPI document, read from an app built offline (no cluster is
    needed at collection)."""
    app = create_app(
        ApiSettings.model_validate({"api_keys": [_API_KEY]}),
        kube=Kube(client.ApiClient(), "offline"),
        s3_client=object(),
    )
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return [
        pytest.param(
            method.upper(),
            path,
            bool(operation.get("parameters") or operation.get("requestBody")),
            id=f"{method.upper()} {path}",
        )
        for path, operations in paths.items()
        for method, operation in operations.items()
    ]


# schemathesis.pytest.from_fixture would do this per operation, but its plugin sets pytest's private
# Item._nodeid, which pytest 9 no longer has; the strategies it uses are public API, so we drive them here.
@pytest.mark.timeout(60)
@pytest.mark.parametrize(("method", "path", "takes_input"), _operations())
def test_no_operation_answers_5xx_or_off_schema(
    serve_api: ServeApi, operator: Operator, method: str, path: str, takes_input: bool
) -> None:
    operator.objects.create_namespaced_custom_object(
        GROUP, VERSION, operator.namespace, "videojobs",
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VideoJob", "metadata": {"name": "holds-the-only-slot"},
         "spec": {"mode": "text-to-video", "prompt": "occupies the concurrency limit"}},
    )  # fmt: skip
    api = serve_api(max_concurrent_jobs=1, model_allowlist=["videogen-fuzz/never-generated"], api_keys=[_API_KEY])
    operation = schemathesis.openapi.from_url(f"{api.url}/openapi.json")[path][method]

    # Without parameters or a body (/health, /readyz) there is nothing to make invalid.
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if takes_input else (GenerationMode.POSITIVE,)
    for mode in modes:

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=_EXAMPLES_PER_OPERATION_AND_MODE,
            derandomize=True,  # the same examples on every run
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(
                base_url=api.url, headers={"X-API-Key": _API_KEY}, excluded_checks=[positive_data_acceptance]
            )

        fuzz()

    # The examples really reached the route (a strategy that generates nothing would pass vacuously).
    served = sum(
        float(line.rsplit(" ", 1)[1])
        for line in api.http.get("/metrics").text.splitlines()
        if line.startswith("videogen_api_requests_total{")
        and f'method="{method}"' in line
        and f'route="{path}"' in line
    )
    # An operation without input has one distinct request; Hypothesis sends it once.
    assert served >= (10 if takes_input else 1), f"only {served:g} requests reached {method} {path}"
    # The fuzzing must not have slipped a job, a model or an upload past the guards above.
    assert [vj["metadata"]["name"] for vj in operator.videojobs()] == ["holds-the-only-slot"]
    assert operator.videomodels() == []
    assert operator.keys_under(api.inputs_prefix) == []
