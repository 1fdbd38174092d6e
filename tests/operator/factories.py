"""Plain dicts shaped like the API objects the operator's pure functions take (as the apiserver returns them)."""

from __future__ import annotations

from typing import Any

from videogen_api.crd import videojob_spec_defaults
from videogen_operator.model_resolution import ResolvedModel

UID = "0b6f5a52-6a4c-4b7e-9d3e-2f1d6f8e9a10"
MODEL = ResolvedModel(repo_id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", path="/models/hub/wan/snapshots/abc", revision="abc")


def videojob(name: str = "cat", uid: str = UID, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    """A VideoJob with the CRD's defaults filled in, as the apiserver stores it."""
    defaults: dict[str, Any] = {
        **videojob_spec_defaults(),
        "mode": "text-to-video",
        "model": "wan-t2v",
        "prompt": "a cat",
    }
    return {
        "apiVersion": "videogen.dev/v1alpha1",
        "kind": "VideoJob",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "uid": uid,
            "generation": 1,
            "creationTimestamp": "2024-01-15T10:30:45Z",
        },
        "spec": defaults | spec,
        "status": status or {},
    }


def job(name: str = "cat", conditions: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "team-a", "uid": "job-uid", "labels": {}},
        "spec": {},
        "status": {"conditions": conditions or [], **status},
    }


def condition(type_: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2024-01-15T10:31:45Z",
    }


def pod(
    name: str,
    phase: str,
    created: str = "2024-01-15T10:30:46Z",
    exit_code: int | None = None,
    message: str = "",
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    runner: dict[str, Any] = {"name": "runner", "state": {}}
    if exit_code is not None:
        runner["state"] = {"terminated": {"exitCode": exit_code, "message": message, "reason": "Error"}}
    elif phase == "Running":
        runner["state"] = {"running": {"startedAt": created}}
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "status": {"phase": phase, "containerStatuses": [runner], "conditions": conditions or []},
    }


def videomodel(name: str, repo_id: str, state: str | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "team-a", "uid": f"uid-{name}", "generation": 1},
        "spec": {"repoId": repo_id, "revision": "main"},
        "status": ({"state": state} if state else {}) | status,
    }
