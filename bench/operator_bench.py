"""Benchmark: time from VideoJob creation to Job creation, at a steady rate, with the cap out of the way.

Needs the local environment (``make up``). Creates a namespace with a VideoModel marked Ready, starts the
operator (``python -m videogen_operator.main``) on that namespace with a no-op runner whose pods are never
scheduled, waits for a warm-up VideoJob's Job (so the operator's start-up is not measured), creates N VideoJobs at
R per second from 8 client threads, and reports p50/p99/max of (Job ADDED seen by a watch) - (VideoJob create call
sent), errors, and the CPU the operator, this script and the whole machine used meanwhile. Figures, not a test:

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

from kubernetes import client, config

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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (Linux /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


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
    answered: dict[str, float] = {}
    errors: list[str] = []
    stop = threading.Event()

    def watch_jobs() -> None:
        # Raw JSON lines, names only, resumed from the last resourceVersion: V1Job models for hundreds of large Jobs
        # (and a fresh listing at each reconnect) cost this script seconds of the CPU the operator is measured on.
        version: str | None = None
        while not stop.is_set():
            response: Any = batch.list_namespaced_job(  # with _preload_content=False: the raw urllib3 response
                ns, watch=True, resource_version=version, timeout_seconds=10, _preload_content=False
            )
            buffer = b""
            for chunk in response.stream(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in filter(None, lines):
                    event = json.loads(line)
                    if event["type"] == "ERROR":  # e.g. 410 Gone: list again (``seen`` keeps the first sighting)
                        version = None
                        continue
                    meta = event["object"]["metadata"]
                    version = meta["resourceVersion"]
                    if event["type"] == "ADDED" and meta["name"] not in seen:
                        seen[meta["name"]] = time.monotonic()
            response.release_conn()

    try:
        wait_for(
            lambda: custom.get_namespaced_custom_object("videogen.dev", "v1alpha1", ns, "videomodels", "smoke"),
            lambda vm: dict(vm).get("status", {}).get("state") == "Ready",  # type: ignore[call-overload]
            60,
            "the bench VideoModel to be Ready",
        )
        watcher = threading.Thread(target=watch_jobs, daemon=True)
        watcher.start()

        def videojob(name: str) -> dict[str, Any]:
            return {
                "apiVersion": "videogen.dev/v1alpha1",
                "kind": "VideoJob",
                "metadata": {"name": name},
                "spec": {"mode": "text-to-video", "model": "smoke", "prompt": "bench", "gpus": 0},
            }

        # Warm-up, not counted: the operator's start (imports, login, listing) takes seconds on this machine, and the
        # first VideoJobs would measure that instead of the steady state. Its Job shows the operator is at work.
        custom.create_namespaced_custom_object("videogen.dev", "v1alpha1", ns, "videojobs", videojob("warm-up"))
        wait_for(lambda: "warm-up" in seen, bool, 120, "the warm-up VideoJob's Job")
        operator_cpu_before = cpu_seconds(operator.pid)
        interval = 1.0 / args.rate
        busy_before, total_before = machine_ticks()
        start = time.monotonic()

        def create(i: int) -> None:
            time.sleep(max(0.0, start + i * interval - time.monotonic()))
            name = f"bench-{i:04d}"
            body = videojob(name)
            try:
                # Counted from before the call: the apiserver's own create time is part of what users wait for.
                created[name] = time.monotonic()
                custom.create_namespaced_custom_object("videogen.dev", "v1alpha1", ns, "videojobs", body)
                answered[name] = time.monotonic()
            except client.ApiException as err:
                del created[name]
                errors.append(f"create {name}: {err.status} {err.reason}")

        # Several clients, so that the apiserver's latency does not slow the steady rate down.
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(args.count)))
        achieved = args.count / (time.monotonic() - start)
        busy_after, total_after = machine_ticks()
        wait_for(lambda: len(seen), lambda n: n > len(created), 120, "every Job to be created")
        latencies = sorted(seen[n] - created[n] for n in created if n in seen)
        create_calls = sorted(answered[n] - created[n] for n in answered)
        failed_vjs = [
            vj["metadata"]["name"]
            for vj in custom.list_namespaced_custom_object("videogen.dev", "v1alpha1", ns, "videojobs")["items"]  # type: ignore[index]
            if vj.get("status", {}).get("state") == "failed"
        ]
        errors += [f"{n}: failed" for n in failed_vjs]
        operator_cpu = round(cpu_seconds(operator.pid) - operator_cpu_before, 1)
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
                    # The VideoJob create call alone (API server and its admission): part of every latency above.
                    "create_call_p50_s": round(statistics.median(create_calls), 3),
                    "create_call_p99_s": round(
                        create_calls[min(len(create_calls) - 1, int(len(create_calls) * 0.99))], 3
                    ),
                    "errors": errors,
                    "operator_tracebacks": operator_errors,
                    # CPU the operator used from the first measured VideoJob until every Job was seen: the machine
                    # has 2 cores shared with the control plane, so this is what the latencies mostly depend on.
                    "operator_cpu_s": operator_cpu,
                    # How busy the whole machine was while the VideoJobs were created (everything on it, other
                    # users' work included): figures taken near 100% say more about the machine than the operator.
                    # This script's own CPU (8 creating clients and the Job watch), on the same 2 cores.
                    "bench_client_cpu_s": round(os.times().user + os.times().system, 1),
                    "machine_busy_pct": round(100 * (busy_after - busy_before) / max(1, total_after - total_before)),
                },
                indent=2,
            )
        )
    finally:
        stop.set()
        os.killpg(operator.pid, signal.SIGTERM)
        operator.wait(15)
        # Waits (bounded) for the 500 Jobs and pods to be deleted: a run started right after this one would otherwise
        # measure the garbage collection of this run's objects alongside its own.
        cluster.kubectl("delete", "namespace", ns, "--timeout=300s", check=False, timeout=310)
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
