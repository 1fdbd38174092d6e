"""The local control plane and GPU-pool node behave like a real cluster: scheduling, Jobs, GC, RBAC."""

import json
import subprocess
import uuid
from typing import Any

import pytest

from tests.rbac import read_can_i
from videogen_dev.cluster import Cluster
from videogen_dev.waiting import wait_for

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def gpu_job(name: str, script: str, **pod_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "tolerations": [GPU_TOLERATION],
                    "containers": [
                        {
                            "name": "main",
                            "image": "busybox:1.36",
                            "command": ["sh", "-c", script],
                            "resources": {"limits": {"nvidia.com/gpu": "1"}},
                        }
                    ],
                    **pod_spec,
                }
            },
        },
    }


def apply(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def job_condition(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    job = cluster.get_json("-n", namespace, "job", name)
    return {c["type"]: c["status"] for c in job["status"].get("conditions", [])}


def job_pods(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    return list(cluster.get_json("-n", namespace, "pods", "-l", f"job-name={name}")["items"])


def live_processes(marker: str) -> str:
    # Zombies are excluded: they are dead and only wait for a parent to reap them.
    return subprocess.run(["pgrep", "--runstates", "RSDT", "-f", marker], capture_output=True, text=True).stdout


def terminated(pod: dict[str, Any]) -> dict[str, Any]:
    return dict(pod["status"]["containerStatuses"][0]["state"]["terminated"])


def test_apiserver_is_ready(cluster: Cluster) -> None:
    assert cluster.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"


def test_gpu_node_is_ready_with_gpu_capacity_labels_and_taint(cluster: Cluster) -> None:
    node = cluster.get_json("node", cluster.settings.node_name)
    assert int(node["status"]["allocatable"]["nvidia.com/gpu"]) >= 1
    assert node["metadata"]["labels"]["videogen.dev/pool"] == "gpu"
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in node["spec"]["taints"]
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"


def test_gpu_job_is_scheduled_on_the_local_node_and_completes(cluster: Cluster, namespace: str) -> None:
    apply(cluster, namespace, gpu_job("ok", "echo hello; printf done > /dev/termination-log"))
    wait_for(lambda: job_condition(cluster, namespace, "ok"), lambda c: c.get("Complete") == "True", 60, "Complete")
    (pod,) = job_pods(cluster, namespace, "ok")
    assert pod["spec"]["nodeName"] == cluster.settings.node_name
    assert pod["status"]["phase"] == "Succeeded"
    assert terminated(pod)["exitCode"] == 0
    assert terminated(pod)["message"] == "done"


def test_failing_command_fails_the_job_with_its_exit_code(cluster: Cluster, namespace: str) -> None:
    apply(cluster, namespace, gpu_job("bad", "echo 'no GPU memory left' > /dev/termination-log; exit 3"))
    wait_for(lambda: job_condition(cluster, namespace, "bad"), lambda c: c.get("Failed") == "True", 60, "Failed")
    (pod,) = job_pods(cluster, namespace, "bad")
    assert pod["status"]["phase"] == "Failed"
    assert terminated(pod)["exitCode"] == 3
    assert terminated(pod)["message"].strip() == "no GPU memory left"


def test_pod_failure_policy_sees_the_exit_code(cluster: Cluster, namespace: str) -> None:
    job = gpu_job("nonretry", "exit 42")
    job["spec"]["backoffLimit"] = 3
    job["spec"]["podFailurePolicy"] = {
        "rules": [{"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}}]
    }
    apply(cluster, namespace, job)
    wait_for(lambda: job_condition(cluster, namespace, "nonretry"), lambda c: c.get("Failed") == "True", 60, "Failed")
    assert len(job_pods(cluster, namespace, "nonretry")) == 1  # FailJob: no retry despite backoffLimit 3
    reasons = {
        c["type"]: c.get("reason") for c in cluster.get_json("-n", namespace, "job", "nonretry")["status"]["conditions"]
    }
    assert reasons["Failed"] == "PodFailurePolicy"


def test_deleting_a_job_garbage_collects_its_pods(cluster: Cluster, namespace: str) -> None:
    apply(cluster, namespace, gpu_job("long", "sleep 600"))
    wait_for(
        lambda: [p["status"].get("phase") for p in job_pods(cluster, namespace, "long")],
        lambda phases: phases == ["Running"],
        60,
        "a running pod",
    )
    cluster.kubectl("delete", "-n", namespace, "job", "long", "--cascade=background", "--wait=false")
    wait_for(lambda: job_pods(cluster, namespace, "long"), lambda pods: pods == [], 60, "pods garbage-collected")


def test_deleting_a_pod_stops_its_process_with_sigterm(cluster: Cluster, namespace: str) -> None:
    marker = f"videogen-test-{uuid.uuid4().hex}"
    # The trap proves SIGTERM arrived: the shell reports it through a file in the node's state folder.
    script = f"trap 'echo got-term > /tmp/{marker}; exit 0' TERM; while true; do sleep 0.2; done; : {marker}"
    apply(cluster, namespace, gpu_job("term", script))
    (pod,) = wait_for(
        lambda: job_pods(cluster, namespace, "term"),
        lambda pods: [p["status"].get("phase") for p in pods] == ["Running"],
        60,
        "a running pod",
    )
    # "Running" is reported at fork; the command line shows the marker once the shim has exec'd it.
    wait_for(lambda: live_processes(marker), lambda out: out != "", 10, "the container process")
    cluster.kubectl("delete", "-n", namespace, "pod", pod["metadata"]["name"], "--grace-period=5", "--wait=true")
    with open(f"/tmp/{marker}") as f:
        assert f.read().strip() == "got-term"
    assert live_processes(marker) == ""


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(cluster: Cluster, namespace: str) -> None:
    marker = f"videogen-test-{uuid.uuid4().hex}"
    apply(cluster, namespace, gpu_job("stubborn", f"trap '' TERM; while true; do sleep 0.2; done; : {marker}"))
    (pod,) = wait_for(
        lambda: job_pods(cluster, namespace, "stubborn"),
        lambda pods: [p["status"].get("phase") for p in pods] == ["Running"],
        60,
        "a running pod",
    )
    # "Running" is reported at fork; the command line shows the marker once the shim has exec'd it.
    wait_for(lambda: live_processes(marker), lambda out: out != "", 10, "the container process")
    cluster.kubectl("delete", "-n", namespace, "pod", pod["metadata"]["name"], "--grace-period=1", "--wait=true")
    assert live_processes(marker) == ""


def test_env_from_literals_secrets_configmaps_and_the_downward_api(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "secret", "generic", "creds", "-n", namespace, "--from-literal=key=s3cr3t")
    cluster.kubectl("create", "configmap", "cfg", "-n", namespace, "--from-literal=region=eu-west-1")
    job = gpu_job("env", 'printf "%s|%s|%s|%s|%s" "$LIT" "$SECRET" "$REGION" "$POD" "$NS" > /dev/termination-log')
    job["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "LIT", "value": "plain"},
        {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}},
        {"name": "REGION", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "region"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    apply(cluster, namespace, job)
    wait_for(lambda: job_condition(cluster, namespace, "env"), lambda c: c.get("Complete") == "True", 60, "Complete")
    (pod,) = job_pods(cluster, namespace, "env")
    assert terminated(pod)["message"] == f"plain|s3cr3t|eu-west-1|{pod['metadata']['name']}|{namespace}"


def test_empty_dir_is_a_private_folder_at_its_mount_path(cluster: Cluster, namespace: str) -> None:
    job = gpu_job(
        "scratch", "echo data > /scratch/f && cat /scratch/f > /dev/termination-log && ls /dev/shm >/dev/null"
    )
    spec = job["spec"]["template"]["spec"]
    spec["volumes"] = [{"name": "scratch", "emptyDir": {}}, {"name": "shm", "emptyDir": {"medium": "Memory"}}]
    spec["containers"][0]["volumeMounts"] = [
        {"name": "scratch", "mountPath": "/scratch"},
        {"name": "shm", "mountPath": "/dev/shm"},
    ]
    apply(cluster, namespace, job)
    wait_for(
        lambda: job_condition(cluster, namespace, "scratch"), lambda c: c.get("Complete") == "True", 60, "Complete"
    )
    (pod,) = job_pods(cluster, namespace, "scratch")
    assert terminated(pod)["message"].strip() == "data"


def test_more_gpus_than_the_node_has_stays_unschedulable(cluster: Cluster, namespace: str) -> None:
    job = gpu_job("greedy", "true")
    job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "64"
    apply(cluster, namespace, job)
    (pod,) = wait_for(
        lambda: job_pods(cluster, namespace, "greedy"),
        lambda pods: (
            len(pods) == 1 and any(c.get("reason") == "Unschedulable" for c in pods[0]["status"].get("conditions", []))
        ),
        60,
        "an Unschedulable pod",
    )
    message = next(c["message"] for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert "nvidia.com/gpu" in message


def test_without_the_gpu_toleration_a_pod_is_not_scheduled(cluster: Cluster, namespace: str) -> None:
    apply(cluster, namespace, gpu_job("untolerated", "true", tolerations=[]))
    wait_for(
        lambda: job_pods(cluster, namespace, "untolerated"),
        lambda pods: (
            len(pods) == 1 and any("taint" in c.get("message", "") for c in pods[0]["status"].get("conditions", []))
        ),
        60,
        "a pod refused for the GPU taint",
    )


def test_an_image_without_a_local_stand_in_is_reported_not_run(cluster: Cluster, namespace: str) -> None:
    job = gpu_job("noimage", "true")
    job["spec"]["template"]["spec"]["containers"][0]["image"] = "example.com/unknown/thing:1"
    apply(cluster, namespace, job)
    (pod,) = wait_for(
        lambda: job_pods(cluster, namespace, "noimage"),
        lambda pods: (
            len(pods) == 1 and "waiting" in (pods[0]["status"].get("containerStatuses") or [{"state": {}}])[0]["state"]
        ),
        60,
        "a waiting container",
    )
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImagePull"
    assert "images.py" in waiting["message"]


def test_a_service_account_without_bindings_is_refused_pods(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    token = cluster.kubectl("create", "token", "nobody", "-n", namespace).stdout.strip()

    def list_pods_as_nobody() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(cluster.settings.venv_bin / "kubectl"),
                f"--server={cluster.settings.apiserver_url}",
                f"--certificate-authority={cluster.settings.pki_dir / 'ca.crt'}",
                f"--token={token}",
                *("get", "pods", "-n", namespace),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )

    refused = list_pods_as_nobody()
    assert refused.returncode != 0
    assert "forbidden" in refused.stderr.lower()
    assert f"system:serviceaccount:{namespace}:nobody" in refused.stderr
    # ...and the same token works once RBAC grants it.
    cluster.kubectl("create", "role", "pod-reader", "-n", namespace, "--verb=list", "--resource=pods")
    cluster.kubectl(
        *("create", "rolebinding", "nobody-reads", "-n", namespace),
        *("--role=pod-reader", f"--serviceaccount={namespace}:nobody"),
    )
    wait_for(list_pods_as_nobody, lambda r: r.returncode == 0, 30, "the RoleBinding to take effect")


@pytest.mark.parametrize("what", [["get", "secret/unrelated"], ["list", "secrets"]])
def test_the_node_identity_cannot_read_secrets_no_pod_of_it_uses(
    cluster: Cluster, namespace: str, what: list[str]
) -> None:
    cluster.kubectl("create", "secret", "generic", "unrelated", "-n", namespace, "--from-literal=k=v")
    node_user = f"system:node:{cluster.settings.node_name}"
    # "secret/unrelated" is the Secret named unrelated, as kubectl reads it (not a subresource).
    args = ("auth", "can-i", *what, "-n", namespace, f"--as={node_user}", "--as-group=system:nodes")
    assert not read_can_i(cluster.kubectl(*args, check=False))


def test_run_as_user_and_the_service_account_token_are_honoured(cluster: Cluster, namespace: str) -> None:
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    script = f'printf "%s|%s|%s" "$(id -u)" "$(cat {sa}/namespace)" "$(test -s {sa}/token && echo token)"'
    job = gpu_job("identity", script + " > /dev/termination-log")
    job["spec"]["template"]["spec"]["securityContext"] = {"runAsUser": 1000, "runAsNonRoot": True, "fsGroup": 2000}
    apply(cluster, namespace, job)
    wait_for(
        lambda: job_condition(cluster, namespace, "identity"), lambda c: "Complete" in c or "Failed" in c, 60, "done"
    )
    (pod,) = job_pods(cluster, namespace, "identity")
    assert terminated(pod)["message"] == f"1000|{namespace}|token"


def test_without_automount_there_is_no_token(cluster: Cluster, namespace: str) -> None:
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    job = gpu_job(
        "notoken", f"test -e {sa}/token && echo has-token > /dev/termination-log || echo none > /dev/termination-log"
    )
    job["spec"]["template"]["spec"]["automountServiceAccountToken"] = False
    apply(cluster, namespace, job)
    wait_for(lambda: job_condition(cluster, namespace, "notoken"), lambda c: "Complete" in c, 60, "Complete")
    (pod,) = job_pods(cluster, namespace, "notoken")
    assert terminated(pod)["message"].strip() == "none"


def test_kubectl_logs_shows_container_output(cluster: Cluster, namespace: str) -> None:
    apply(cluster, namespace, gpu_job("chatty", "for i in 1 2 3; do echo line $i; done"))
    wait_for(lambda: job_condition(cluster, namespace, "chatty"), lambda c: "Complete" in c, 60, "Complete")
    assert cluster.kubectl("logs", "-n", namespace, "job/chatty").stdout.splitlines() == ["line 1", "line 2", "line 3"]
    assert cluster.kubectl("logs", "-n", namespace, "job/chatty", "--tail=1").stdout.strip() == "line 3"


def test_kubectl_logs_follow_streams_until_the_container_ends(cluster: Cluster, namespace: str) -> None:
    apply(cluster, namespace, gpu_job("slow", "for i in 1 2 3; do echo tick $i; sleep 0.5; done"))
    wait_for(
        lambda: [p["status"].get("phase") for p in job_pods(cluster, namespace, "slow")],
        lambda phases: phases == ["Running"],
        60,
        "a running pod",
    )
    followed = cluster.kubectl("logs", "-f", "-n", namespace, "job/slow", timeout=30)
    assert followed.stdout.splitlines()[-1] == "tick 3"


def test_a_mount_over_an_ancestor_of_the_checkout_hides_neither_the_venv_nor_the_termination_log(
    cluster: Cluster, namespace: str
) -> None:
    # CI may clone under /tmp, and runner pods mount an emptyDir at /tmp: the same shape, one level up.
    checkout = cluster.settings.venv_bin.parent.parent
    python = cluster.settings.venv_bin / "python"
    job = gpu_job("shadow", f"test -x {python} && echo visible > /dev/termination-log")
    spec = job["spec"]["template"]["spec"]
    spec["volumes"] = [{"name": "shadow", "emptyDir": {}}]
    spec["containers"][0]["volumeMounts"] = [{"name": "shadow", "mountPath": str(checkout.parent)}]
    apply(cluster, namespace, job)
    wait_for(
        lambda: job_condition(cluster, namespace, "shadow"), lambda c: "Complete" in c or "Failed" in c, 60, "done"
    )
    (pod,) = job_pods(cluster, namespace, "shadow")
    assert terminated(pod)["message"].strip() == "visible"
