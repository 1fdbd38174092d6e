"""Benchmark: time from VideoJob creation to Job creation, at a steady rate, with the cap out of the way.

Needs the local environment (``make up``). Creates a namespace with a VideoModel marked Ready, starts the
operator (``python -m videogen_operator.main``) on that namespace with a no-op runner whose pods are never
scheduled, creates N VideoJobs at R per second from 8 client threads, and reports p50/p99/max of (Job ADDED
seen by a watch) - (VideoJob create call sent), and errors. Figures, not a test:

    .venv/bin/python bench/operator_bench.py --count 500 --rate 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from videogen_dev.cluster import Cluster
from videogen_dev.settings import dev_settings
from videogen_dev.waiting import wait_for

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def setup(cluster: Cluster, ns: str) -> None:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "videogen-runner", "namespace": ns}},
        {
            "apiVersion": "videogen.dev/v1alpha1",
            "kind": "VideoModel",
            "metadata": {"name": "smoke", "namespace": ns},
            "spec": {"repoId": "videogen-smoke/bench"},
        },
    ]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
    # The download is not what is measured: mark the model Ready before the operator starts, so it never runs one.
    ready = {
        "status": {
            "state": "Ready",
            "path": f"/models/hub/models--videogen-smoke--bench/snapshots/{COMMIT}",
            "resolvedRevision": COMMIT,
            "pipelineClass": "WanPipeline",
            "family": "wan",
            "modes": ["text-to-video", "video-to-video"],
        }
    }
    cluster.kubectl(
        "patch", "videomodel", "smoke", "-n", ns, "--subresource=status", "--type=merge", "-p", json.dumps(ready)
    )


def operator_env() -> dict[str, str]:
    values: dict[str, Any] = {
        # A no-op runner whose pods never start: the benchmark measures the operator, and hundreds of pods on the
        # shared local node would only slow everybody down. No node has this label, so the pods stay Pending.
        "runner_image": "busybox",
        "runner_command": ["sh", "-c", "exit 0"],
        "node_selector": {"videogen.dev/bench": "no-such-node"},
        "runner_run_as_user": None,
        "runner_cpu_request": "1m",
        "runner_memory_request": "1Mi",
        "runner_memory_limit": None,
        "max_running_jobs": None,
        "metrics_port": None,
        "liveness_endpoint": None,
        "log_format": "plain",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOGEN_OPERATOR_")}
    env |= {
        f"VIDEOGEN_OPERATOR_{k.upper()}": "null" if v is None else v if isinstance(v, str) else json.dumps(v)
        for k, v in values.items()
    }
    env["KUBECONFIG"] = str(dev_settings().admin_kubeconfig)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="VideoJobs created per second")
    args = parser.parse_args()

    settings = dev_settings()
    cluster = Cluster(settings)
    config.load_kube_config(str(settings.admin_kubeconfig))  # type: ignore[no-untyped-call]
    custom, batch = client.CustomObjectsApi(), client.BatchV1Api()
    ns = f"bench-{uuid.uuid4().hex[:8]}"
    cache = Path(tempfile.mkdtemp(prefix=f"videogen-{ns}-"))
    setup(cluster, ns)
    log = cache / "operator.log"
    with log.open("wb") as out:
        operator = subprocess.Popen(
            [sys.executable, "-m", "videogen_operator.main", "--namespace", ns],
            env=operator_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    created: dict[str, float] = {}
    seen: dict[str, float] = {}
    errors: list[str] = []
    stop = threading.Event()

    def watch_jobs() -> None:
        w = watch.Watch()  # type: ignore[no-untyped-call]
        while not stop.is_set():
            for event in w.stream(batch.list_namespaced_job, ns, timeout_seconds=5):  # type: ignore[no-untyped-call]
                name = event["object"].metadata.name
                if event["type"] == "ADDED" and name not in seen:
                    seen[name] = time.monotonic()
                if stop.is_set():
                    break

    try:
        wait_for(
            lambda: custom.get_namespaced_custom_object("videogen.dev", "v1alpha1", ns, "videomodels", "smoke"),
            lambda vm: dict(vm).get("status", {}).get("state") == "Ready",  # type: ignore[call-overload]
            60,
            "the bench VideoModel to be Ready",
        )
        watcher = threading.Thread(target=watch_jobs, daemon=True)
        watcher.start()
        interval = 1.0 / args.rate
        start = time.monotonic()

        def create(i: int) -> None:
            time.sleep(max(0.0, start + i * interval - time.monotonic()))
            name = f"bench-{i:04d}"
            body = {
                "apiVersion": "videogen.dev/v1alpha1",
                "kind": "VideoJob",
                "metadata": {"name": name},
                "spec": {"mode": "text-to-video", "model": "smoke", "prompt": "bench", "gpus": 0},
            }
            try:
                # Counted from before the call: the apiserver's own create time is part of what users wait for.
                created[name] = time.monotonic()
                custom.create_namespaced_custom_object("videogen.dev", "v1alpha1", ns, "videojobs", body)
            except client.ApiException as err:
                del created[name]
                errors.append(f"create {name}: {err.status} {err.reason}")

        # Several clients, so that the apiserver's latency does not slow the steady rate down.
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(args.count)))
        achieved = args.count / (time.monotonic() - start)
        wait_for(lambda: len(seen), lambda n: n >= len(created), 120, "every Job to be created")
        latencies = sorted(seen[n] - created[n] for n in created if n in seen)
        failed_vjs = [
            vj["metadata"]["name"]
            for vj in custom.list_namespaced_custom_object("videogen.dev", "v1alpha1", ns, "videojobs")["items"]  # type: ignore[index]
            if vj.get("status", {}).get("state") == "failed"
        ]
        errors += [f"{n}: failed" for n in failed_vjs]
        operator_errors = sum(1 for line in log.read_text(errors="replace").splitlines() if "Traceback" in line)
        print(
            json.dumps(
                {
                    "count": args.count,
                    "rate_requested": args.rate,
                    "rate_achieved": round(achieved, 1),
                    "jobs_created": len(latencies),
                    "p50_s": round(statistics.median(latencies), 3),
                    "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
                    "max_s": round(latencies[-1], 3),
                    "errors": errors,
                    "operator_tracebacks": operator_errors,
                },
                indent=2,
            )
        )
    finally:
        stop.set()
        os.killpg(operator.pid, signal.SIGTERM)
        operator.wait(15)
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
