"""VideoModel -> the download Job that fills the model cache, and the VideoModel status from that Job.

The cache uses huggingface_hub's layout under ``<mount>/hub`` (``models--<org>--<name>/snapshots/<commit>``), so a
cache filled by hand or by ``make up`` with the same layout is found by the download pod without a network
(set ``HF_HUB_OFFLINE=1`` in ``download_env``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from videogen_operator.resources import (
    DOWNLOAD_CONTAINER,
    LABEL_VIDEOMODEL,
    LABEL_VIDEOMODEL_UID,
    owner_reference,
    standard_labels,
)
from videogen_operator.runner_job import RESTRICTED_CONTAINER_SECURITY, restricted_pod_security
from videogen_operator.settings import OperatorSettings

PENDING: Final = "Pending"
DOWNLOADING: Final = "Downloading"
READY: Final = "Ready"
FAILED: Final = "Failed"
FINAL_STATES: Final = frozenset({READY, FAILED})
STATUS_FIELDS: Final = (
    "state",
    "message",
    "family",
    "resolvedRevision",
    "sizeBytes",
    "fileCount",
    "path",
    "pipelineClass",
    "modes",
)


def download_job_name(videomodel: Mapping[str, Any]) -> str:
    # "-download" keeps the name apart from a VideoJob's Job of the same name; the CRD keeps names <= 63.
    return f"{str(videomodel['metadata']['name'])[:54]}-download"


def desired_download_job(videomodel: Mapping[str, Any], settings: OperatorSettings) -> dict[str, Any]:
    meta, spec = videomodel["metadata"], videomodel["spec"]
    name = download_job_name(videomodel)
    labels = standard_labels("model-download", str(meta["name"])) | {
        LABEL_VIDEOMODEL: str(meta["name"]),
        LABEL_VIDEOMODEL_UID: str(meta["uid"]),
    }
    env: list[dict[str, Any]] = [
        {"name": "VIDEOGEN_DOWNLOAD_REPO_ID", "value": spec["repoId"]},
        {"name": "VIDEOGEN_DOWNLOAD_REVISION", "value": spec.get("revision", "main")},
        {"name": "VIDEOGEN_DOWNLOAD_CACHE_DIR", "value": f"{settings.model_cache_mount_path.rstrip('/')}/hub"},
        {"name": "VIDEOGEN_DOWNLOAD_FAMILY", "value": spec.get("family", "")},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
        {"name": "HOME", "value": "/tmp"},
        *({"name": k, "value": v} for k, v in sorted(settings.download_env.items())),
    ]
    if settings.hf_token_secret:
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": settings.hf_token_secret, "key": "HF_TOKEN", "optional": True}},
            }
        )
    placement: dict[str, Any] = {}
    if settings.download_node_selector:
        placement["nodeSelector"] = dict(settings.download_node_selector)
    if settings.download_tolerations:
        placement["tolerations"] = [dict(t) for t in settings.download_tolerations]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference("VideoModel", dict(videomodel))],
        },
        "spec": {
            "backoffLimit": settings.download_backoff_limit,
            "activeDeadlineSeconds": settings.download_deadline_seconds,
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {"containerName": DOWNLOAD_CONTAINER, "operator": "In", "values": [10]},
                    },
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                ]
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": restricted_pod_security(settings),
                    "containers": [
                        {
                            "name": DOWNLOAD_CONTAINER,
                            "image": settings.download_image,
                            "command": list(settings.download_command),
                            "env": env,
                            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                            "securityContext": dict(RESTRICTED_CONTAINER_SECURITY),
                            "volumeMounts": [
                                {"name": "model-cache", "mountPath": settings.model_cache_mount_path},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                        }
                    ],
                    "volumes": [
                        {"name": "model-cache", "persistentVolumeClaim": {"claimName": settings.model_cache_pvc}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                    **placement,
                },
            },
        },
    }


def _termination(pod: Mapping[str, Any]) -> dict[str, Any] | None:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") != DOWNLOAD_CONTAINER:
            continue
        terminated = (status.get("state") or {}).get("terminated")
        if not terminated:
            return None
        text = str(terminated.get("message") or "")
        try:
            doc = json.loads(text)
        except ValueError:
            return {"message": text.strip() or f"download exited with code {terminated.get('exitCode')}"}
        return doc if isinstance(doc, dict) else {"message": text}
    return None


def summarize_download(job: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """VideoModel status fields (no conditions) for the download Job's current state."""
    if job is None:
        return {"state": PENDING, "message": "creating the download Job"}
    ordered = sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))
    conditions = {c.get("type"): c for c in job.get("status", {}).get("conditions") or [] if c.get("status") == "True"}
    if "Complete" in conditions:
        done = [d for p in ordered if p.get("status", {}).get("phase") == "Succeeded" if (d := _termination(p))]
        if not done or "path" not in done[-1]:
            return {"state": FAILED, "message": "the download Job succeeded but left no result (pod gone?)"}
        result = done[-1]
        fields: dict[str, Any] = {k: result[k] for k in STATUS_FIELDS if k in result and result[k] is not None}
        return fields | {"state": READY, "message": f"{result.get('fileCount', 0)} files in the model cache"}
    if "Failed" in conditions:
        results = [d for p in ordered if (d := _termination(p))]
        detail = results[-1].get("message") if results else None
        return {"state": FAILED, "message": str(detail or conditions["Failed"].get("message") or "download failed")}
    return {"state": DOWNLOADING, "message": f"downloading with Job {job['metadata']['name']}"}


def model_status(current: Mapping[str, Any], fields: Mapping[str, Any], generation: int, now: str) -> dict[str, Any]:
    """The full VideoModel status: fields plus a Ready condition (lastTransitionTime kept while it holds)."""
    ready = fields["state"] == READY
    previous = next((c for c in current.get("conditions") or [] if c.get("type") == "Ready"), None)
    status = "True" if ready else "False"
    since = previous["lastTransitionTime"] if previous and previous.get("status") == status else now
    return {
        **{k: fields[k] for k in STATUS_FIELDS if k in fields},
        "observedGeneration": generation,
        "conditions": [
            {
                "type": "Ready",
                "status": status,
                "reason": str(fields["state"]),
                "message": str(fields.get("message", ""))[:32768],
                "lastTransitionTime": since,
                "observedGeneration": generation,
            }
        ],
    }
