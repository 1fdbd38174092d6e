"""The API refuses exactly the repo ids and model names the apiserver refuses.

The resource types (videogen_common.resources) restate the CRDs' patterns and CEL rules in Python (CEL is not a
regex), and the API checks requests with them (videogen_api.references). Here each tricky value is put to the
apiserver in a server-side dry run (nothing is stored) and its verdict compared with the types' and the API's.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from videogen_api.references import model_reference_problem, repo_id_problem
from videogen_common.resources.meta import GROUP, VERSION
from videogen_common.resources.objects import Resource, VideoJob, VideoModel

_REPO_IDS = [
    # accepted by the hub's rules
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    "Lightricks/LTX-Video",
    "a/b",
    "0/0",
    "a_/b_",
    "org/name.v2",
    "A/B.GIT",  # the CEL rule is case-sensitive, and so is the API
    "a/b.gitx",
    "a/git",
    "a" * 96 + "/" + "b" * 96,
    # refused
    "",
    "a",
    "/b",
    "a/",
    "a/b/c",
    "a//b",
    "https://huggingface.co/a/b",
    "hf://a/b",
    "../etc/passwd",
    "a/../b",
    "/abs/path",
    "a/b.git",
    "a/b--c",
    "a--b/c",
    "a..b/c",
    "a/b..c",
    ".a/b",
    "-a/b",
    "_a/b",
    "a-/b",
    "a./b",
    "a/b.",
    "a/b-",
    "a/b ",
    " a/b",
    "a/b\n",
    "a/b\x00",
    "a b/c",
    "a\\b",
    "a/b%2Fc",
    "ä/b",
    "a/\uff42",  # a fullwidth b
    "a" * 97 + "/b",
    "a/" + "b" * 97,
]

_MODEL_NAMES = [
    # VideoModel names (DNS-1123 subdomain-like)
    "smoke-wan-t2v",
    "a",
    "a.b",
    "a1-b2.c3",
    "a" * 200,
    "a" * 201,
    "",
    "A",
    "a_b",
    "-a",
    "a-",
    "a..b",
    "a.-b",
    ".a",
    "a b",
    "ä",
    "a\n",
    "a/b/c",
]


# Dry runs store nothing, so they need no namespace of their own (a fresh one per case would cost most of the run).
_NAMESPACE = "default"


def _body(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "parity-probe"}, "spec": spec}


def _refused(admin: client.ApiClient, plural: str, kind: str, spec: dict[str, Any]) -> bool:
    """Whether the apiserver refuses to create this object (dry run: validated, admitted, never stored)."""
    try:
        client.CustomObjectsApi(admin).create_namespaced_custom_object(
            GROUP, VERSION, _NAMESPACE, plural, _body(kind, spec), dry_run="All"
        )
    except ApiException as exc:
        if exc.status != 422:
            raise
        return True
    return False


def _types_refuse(model: type[Resource], spec: dict[str, Any]) -> bool:
    try:
        model.model_validate(_body(model.__name__, spec))
    except ValidationError:
        return True
    return False


@pytest.mark.parametrize("repo_id", _REPO_IDS, ids=repr)
def test_the_api_refuses_a_repo_id_exactly_when_a_videomodel_would_be_refused(
    admin: client.ApiClient, repo_id: str
) -> None:
    spec = {"repoId": repo_id}
    apiserver_refuses = _refused(admin, "videomodels", "VideoModel", spec)
    assert _types_refuse(VideoModel, spec) == apiserver_refuses
    assert (repo_id_problem(repo_id) is not None) == apiserver_refuses


@pytest.mark.parametrize("model", _MODEL_NAMES + _REPO_IDS, ids=repr)
def test_the_api_refuses_a_model_exactly_when_the_videojob_would_be_refused(
    admin: client.ApiClient, model: str
) -> None:
    spec = {"mode": "text-to-video", "prompt": "parity", "model": model}
    apiserver_refuses = _refused(admin, "videojobs", "VideoJob", spec)
    assert _types_refuse(VideoJob, spec) == apiserver_refuses
    assert (model_reference_problem(model) is not None) == apiserver_refuses
