"""Benchmark: what months of history cost (issue 17; figures, not a timed test).

Needs the local environment (``make up``, or ``videogen-dev cluster-up``). In a namespace of its own, for each
history size given (``--finished 0 10000 50000``), side by side:

1. creates that many finished VideoJobs quickly (created with the finished label, then a completed status written
   directly), with no API or operator running;
2. starts the API (``videogen-api``, its own process, on a free loopback port, limit out of the way) and the operator
   (``python -m videogen_operator.main``, a no-op runner whose pods are never scheduled, as bench/operator_bench.py;
   no caps, no TTL), so their start-up with that history is part of what is measured;
3. after the control plane has settled from those creates, measures REST submit p50/p99 at ``--submit-rate`` (5/s,
   which this 2-core machine sustains with room to spare), then submit p50/p99 and the operator's VideoJob -> Job
   p99 at ``--rate`` (20/s), ``--submits`` jobs each;
   ``GET /api/v1/job/{id}`` p99 paced at ``--get-rate`` (200/s) for ``--seconds``, of a recent job (served by the
   cache) and of the oldest finished one (outside the cache's window: a GET by name from the apiserver);
   ``GET /api/v1/jobs`` first-page p99 at 20/s; the API's and the operator's RSS;
4. on the largest history, a sustained run: ``--sustained`` jobs (1,000) at ``--rate`` through REST and the
   operator's queue, counting errors (non-202 answers, Failed VideoJobs, jobs without their Job) and duplicates
   (job ids, Jobs);
5. restarts the operator with a TTL of 0 and times its retention sweep until no finished VideoJob is left.

Prints one JSON object per history size. Develop with small counts on a shared machine:

    .venv/bin/python bench/history_bench.py --finished 0 300 --submits 40 --sustained 60 --seconds 3 \
        --cache-finished-jobs 100

and run the issue's figures alone on the machine:

    .venv/bin/python bench/history_bench.py --finished 0 10000 50000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from api_bench import get_paced
from kubernetes import client, config
from operator_bench import cpu_seconds, operator_env, setup

from videogen_common.resources.meta import GROUP, LABEL_FINISHED, LABEL_MANAGED_BY, MANAGED_BY_API, VERSION
from videogen_dev.cluster import Cluster
from videogen_dev.settings import DevSettings, dev_settings
from videogen_dev.waiting import wait_for

T2V = "/api/v1/generate/text-to-video"
#: The request every submit sends: the bench's Ready VideoModel, so the API checks it as it would a real one.
REQUEST = {"prompt": "history bench", "model": "smoke"}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def rss_mib(pid: int) -> float:
    """Resident memory of a running process (Linux /proc), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- history -----------------------------------------------------------------------------------------------------


def finished_name(index: int) -> str:
    # Valid job ids (job_<seconds>_<12 hex>) from long ago, so GET /api/v1/job/{id} can name them.
    return f"job-{1_600_000_000 + index}-{index:012x}"


def create_history(custom: client.CustomObjectsApi, ns: str, first: int, last: int, bucket: str) -> float:
    """Finished VideoJobs ``first`` .. ``last - 1``: created labelled finished (the operator's watch never sees
    them), then given a completed status. Returns the seconds it took."""
    started = time.monotonic()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def one(index: int) -> None:
        name = finished_name(index)
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "VideoJob",
            "metadata": {"name": name, "labels": {LABEL_FINISHED: "true", LABEL_MANAGED_BY: MANAGED_BY_API}},
            "spec": {"mode": "text-to-video", "model": "smoke", "prompt": f"history {index}"},
        }
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "videojobs", body)
        filename = f"text2video_20200913_{index % 240000:06d}_{index % 0xFFFFFF:06x}.mp4"
        status = {
            "state": "completed",
            "reason": "Succeeded",
            "completionTime": now,
            "progress": {"step": 50, "totalSteps": 50, "percent": 100},
            "output": {"uri": f"s3://{bucket}/outputs/{filename}", "file": filename, "path": f"./outputs/{filename}"},
        }
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, ns, "videojobs", name, {"status": status},
            _content_type="application/merge-patch+json",
        )  # fmt: skip

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(first, last)))
    return time.monotonic() - started


def finished_left(custom: client.CustomObjectsApi, ns: str) -> int:
    page: Any = custom.list_namespaced_custom_object(
        GROUP, VERSION, ns, "videojobs", label_selector=f"{LABEL_FINISHED}=true", limit=1
    )
    return len(page["items"]) + int(page["metadata"].get("remainingItemCount") or 0)


# --- the processes -----------------------------------------------------------------------------------------------


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def s3_env(settings: DevSettings) -> dict[str, str]:
    return {
        "VIDEOGEN_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "VIDEOGEN_S3_ACCESS_KEY_ID": settings.s3_access_key,
        "VIDEOGEN_S3_SECRET_ACCESS_KEY": settings.s3_secret_key,
        "VIDEOGEN_S3_REGION": settings.s3_region,
    }


def api_env(settings: DevSettings, ns: str, port: int, finished_window: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOGEN_API_", "VIDEOGEN_S3_"))}
    return (
        env
        | s3_env(settings)
        | {
            "VIDEOGEN_API_NAMESPACE": ns,
            "VIDEOGEN_API_KUBECONFIG": str(settings.admin_kubeconfig),
            "VIDEOGEN_API_AUTH_DISABLED": "true",
            "VIDEOGEN_API_HOST": "127.0.0.1",
            "VIDEOGEN_API_PORT": str(port),
            # The limit out of the way: every submit is admitted (the count still runs for each).
            "VIDEOGEN_API_MAX_CONCURRENT_JOBS": "1000000",
            "VIDEOGEN_API_MAX_CONNECTIONS": "2048",
            "VIDEOGEN_API_BUCKET": settings.s3_buckets[0],
            "VIDEOGEN_API_INPUTS_PREFIX": f"bench/{ns}/inputs",
            "VIDEOGEN_API_OUTPUTS_PREFIX": f"bench/{ns}/outputs",
            "VIDEOGEN_API_LOG_FORMAT": "plain",
        }
        | ({"VIDEOGEN_API_CACHE_FINISHED_JOBS": str(finished_window)} if finished_window is not None else {})
    )


def bench_operator_env(settings: DevSettings, ns: str, ttl_seconds: int | None, sweep_seconds: float) -> dict[str, str]:
    """bench/operator_bench.py's operator (no-op runner, pods never scheduled, no running-jobs cap), without the GPU
    cap either, with S3 (the retention sweep deletes inputs and progress objects) under the bench's own prefixes."""
    env: dict[str, str] = {k: v for k, v in operator_env().items() if not k.startswith("VIDEOGEN_S3_")}
    return (
        env
        | s3_env(settings)
        | {
            "VIDEOGEN_OPERATOR_MAX_GPUS": "null",
            "VIDEOGEN_OPERATOR_VIDEOJOB_TTL_SECONDS": "null" if ttl_seconds is None else str(ttl_seconds),
            "VIDEOGEN_OPERATOR_RETENTION_SWEEP_SECONDS": str(sweep_seconds),
            "VIDEOGEN_OPERATOR_OUTPUT_BUCKET": settings.s3_buckets[0],
            "VIDEOGEN_OPERATOR_OUTPUT_PREFIX": f"bench/{ns}/outputs",
            "VIDEOGEN_OPERATOR_INPUTS_PREFIX": f"bench/{ns}/inputs",
            "VIDEOGEN_OPERATOR_PROGRESS_PREFIX": f"bench/{ns}",
        }
    )


def wait_api(url: str) -> None:
    def ready() -> int:
        try:
            return httpx.get(f"{url}/readyz", timeout=5).status_code
        except httpx.HTTPError:
            return 0

    wait_for(ready, lambda code: code == 200, 300, "the API to be ready (cache synced)")


# --- measurements ------------------------------------------------------------------------------------------------


class JobWatch:
    """When each Job was first seen (a raw watch of names, as bench/operator_bench.py)."""

    def __init__(self, batch: client.BatchV1Api, ns: str) -> None:
        self.seen: dict[str, float] = {}
        self.added: dict[str, int] = {}
        self._batch, self._ns = batch, ns
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            response: Any = self._batch.list_namespaced_job(
                self._ns, watch=True, resource_version=version, timeout_seconds=5, _preload_content=False
            )
            buffer = b""
            for chunk in response.stream(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in filter(None, lines):
                    event = json.loads(line)
                    if event["type"] == "ERROR":
                        version = None
                        continue
                    meta = event["object"]["metadata"]
                    version = meta["resourceVersion"]
                    if event["type"] == "ADDED":
                        self.added[meta["name"]] = self.added.get(meta["name"], 0) + 1
                        self.seen.setdefault(meta["name"], time.monotonic())
            response.release_conn()

    def stop(self) -> None:
        self._stop.set()


async def submit_at_rate(url: str, count: int, rate: float) -> tuple[list[float], dict[str, float], dict[int, int]]:
    """``count`` submits at ``rate``/s: latencies, the time each created job was answered, and the status codes."""
    latencies: list[float] = []
    answered: dict[str, float] = {}
    codes: dict[int, int] = {}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        async def submit() -> None:
            started = time.perf_counter()
            try:
                response = await http.post(T2V, json=REQUEST)
                code = response.status_code
            except httpx.HTTPError:
                code = 0
            latencies.append(time.perf_counter() - started)
            codes[code] = codes.get(code, 0) + 1
            if code == 202:
                name = response.json()["job_id"].replace("_", "-")
                if name in answered:
                    codes[-1] = codes.get(-1, 0) + 1  # a duplicate job id
                answered[name] = time.monotonic()

        start = time.monotonic()
        tasks = []
        for i in range(count):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(submit()))
        await asyncio.gather(*tasks)
    return latencies, answered, codes


def job_latencies(watch: JobWatch, answered: dict[str, float], timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(name not in watch.seen for name in answered):
        time.sleep(0.2)
    return [watch.seen[name] - at for name, at in answered.items() if name in watch.seen]


def delete_submitted(custom: client.CustomObjectsApi, ns: str) -> None:
    """The bench's open jobs (not labelled finished) go, so the next history size starts with none open."""
    custom.delete_collection_namespaced_custom_object(
        GROUP, VERSION, ns, "videojobs", label_selector=f"!{LABEL_FINISHED}"
    )
    wait_for(
        lambda: custom.list_namespaced_custom_object(
            GROUP, VERSION, ns, "videojobs", label_selector=f"!{LABEL_FINISHED}", limit=1
        ),
        lambda page: not page["items"],  # type: ignore[index]
        120,
        "the submitted VideoJobs to be deleted",
    )


def measure(args: argparse.Namespace, ctx: dict[str, Any], size: int, last: bool) -> dict[str, Any]:
    settings: DevSettings = ctx["settings"]
    custom: client.CustomObjectsApi = ctx["custom"]
    ns: str = ctx["ns"]
    logs: Path = ctx["logs"]
    figures: dict[str, Any] = {"finished_videojobs": size}
    if size > ctx["created"]:
        figures["history_create_s"] = round(create_history(custom, ns, ctx["created"], size, settings.s3_buckets[0]), 1)
        ctx["created"] = size
        # Tens of thousands of creates in minutes leave the control plane busy for a while (its caches, the garbage
        # collector's graph, etcd compaction): that is the bench's doing, not what history costs a running system.
        figures["settle_s"] = settle()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api_command = [str(Path(sys.executable).with_name("videogen-api"))]
    operator_command = [sys.executable, "-m", "videogen_operator.main", "--namespace", ns]
    watch = JobWatch(ctx["batch"], ns)
    started = time.monotonic()
    with (
        process(api_command, api_env(settings, ns, port, args.cache_finished_jobs), logs / "api.log") as api,
        process(operator_command, bench_operator_env(settings, ns, None, 300), logs / "operator.log") as operator,
    ):
        wait_api(url)
        figures["api_ready_s"] = round(time.monotonic() - started, 1)
        # Warm-up, not counted: the operator's start and the first requests' imports.
        warm = asyncio.run(submit_at_rate(url, 3, args.rate))[1]
        wait_for(lambda: all(n in watch.seen for n in warm), bool, 180, "the warm-up jobs' Jobs")
        operator_cpu = cpu_seconds(operator.pid)

        # Submit latency at a rate this 2-core machine sustains with room to spare, so what it shows is the cost of
        # a submit; at --rate the control plane, API and operator together nearly fill both cores and any extra work
        # (the apiserver's garbage collection over a larger watch cache) shows up amplified by queueing.
        latencies, answered, codes = asyncio.run(submit_at_rate(url, args.submits, args.submit_rate))
        figures |= {
            "submit_codes": codes,
            "submit_p50_ms": ms(statistics.median(latencies)),
            "submit_p99_ms": ms(percentile(latencies, 0.99)),
        }
        latencies, answered, codes = asyncio.run(submit_at_rate(url, args.submits, args.rate))
        to_job = job_latencies(watch, answered, 120)
        figures |= {
            "submit_at_rate_codes": codes,
            "submit_at_rate_p50_ms": ms(statistics.median(latencies)),
            "submit_at_rate_p99_ms": ms(percentile(latencies, 0.99)),
            "videojob_to_job_p50_s": round(statistics.median(to_job), 3) if to_job else None,
            "videojob_to_job_p99_s": round(percentile(to_job, 0.99), 3) if to_job else None,
            "jobs_without_job": len(answered) - len(to_job),
            "operator_cpu_s": round(cpu_seconds(operator.pid) - operator_cpu, 1),
        }
        recent = next(iter(answered)).replace("-", "_")
        for label, path in [("get_job_recent", f"/api/v1/job/{recent}")] + (
            [("get_job_oldest", f"/api/v1/job/{finished_name(0).replace('-', '_')}")] if size else []
        ):
            samples, get_codes = asyncio.run(get_paced(url, path, args.get_rate, args.seconds))
            figures[f"{label}_p50_ms"] = ms(statistics.median(samples))
            figures[f"{label}_p99_ms"] = ms(percentile(samples, 0.99))
            figures[f"{label}_codes"] = get_codes
        samples, list_codes = asyncio.run(get_paced(url, "/api/v1/jobs", 20, args.seconds, clients=4))
        figures |= {"list_jobs_p99_ms": ms(percentile(samples, 0.99)), "list_jobs_codes": list_codes}
        figures |= {"api_rss_mib": rss_mib(api.pid), "operator_rss_mib": rss_mib(operator.pid)}

        if last and args.sustained:
            figures["sustained"] = sustained(args, ctx, url, watch)
            figures |= {"api_rss_after_sustained_mib": rss_mib(api.pid)}
            figures |= {"operator_rss_after_sustained_mib": rss_mib(operator.pid)}
    watch.stop()
    delete_submitted(custom, ns)
    if size:
        figures["ttl_sweep_s"] = ttl_sweep(ctx, ns)
        ctx["created"] = 0
    return figures


def sustained(args: argparse.Namespace, ctx: dict[str, Any], url: str, watch: JobWatch) -> dict[str, Any]:
    latencies, answered, codes = asyncio.run(submit_at_rate(url, args.sustained, args.rate))
    to_job = job_latencies(watch, answered, 300)
    failed = [
        vj["metadata"]["name"]
        for vj in ctx["custom"].list_namespaced_custom_object(
            GROUP, VERSION, ctx["ns"], "videojobs", label_selector=f"!{LABEL_FINISHED}"
        )["items"]
        if vj.get("status", {}).get("state") == "failed"
    ]
    errors = sum(n for code, n in codes.items() if code != 202) + len(failed) + len(answered) - len(to_job)
    return {
        "jobs": args.sustained,
        "rate": args.rate,
        "codes": codes,
        "errors": errors,
        "duplicate_job_ids": codes.get(-1, 0),
        "duplicate_jobs": sum(n - 1 for name, n in watch.added.items() if name in answered and n > 1),
        "failed_videojobs": failed[:10],
        "submit_p50_ms": ms(statistics.median(latencies)),
        "submit_p99_ms": ms(percentile(latencies, 0.99)),
        "videojob_to_job_p99_s": round(percentile(to_job, 0.99), 3) if to_job else None,
    }


def settle(idle_cores: float = 0.3, window: float = 5.0, limit: float = 300.0) -> float:
    """Seconds until the kube-apiserver uses less than ``idle_cores`` of a core over ``window`` seconds (at most
    ``limit``)."""
    found = subprocess.run(["pgrep", "-x", "kube-apiserver"], capture_output=True, text=True).stdout.split()
    if not found:
        return 0.0
    pid = int(found[0])
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = cpu_seconds(pid)
        time.sleep(window)
        if cpu_seconds(pid) - before < idle_cores * window:
            break
    return round(time.monotonic() - started, 1)


def ttl_sweep(ctx: dict[str, Any], ns: str) -> float | None:
    """Seconds from an operator start with a TTL of 0 until no finished VideoJob is left (None past 20 minutes)."""
    command = [sys.executable, "-m", "videogen_operator.main", "--namespace", ns]
    started = time.monotonic()
    with process(command, bench_operator_env(ctx["settings"], ns, 0, 2), ctx["logs"] / "operator-sweep.log"):
        while finished_left(ctx["custom"], ns):
            if time.monotonic() - started > 1200:
                return None
            time.sleep(1)
    return round(time.monotonic() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--finished", type=int, nargs="+", default=[0, 10_000, 50_000], help="history sizes")
    parser.add_argument("--submits", type=int, default=200, help="REST submits measured per history size")
    parser.add_argument(
        "--submit-rate", type=float, default=5.0, help="submits per second of the submit-latency measurement"
    )
    parser.add_argument(
        "--rate", type=float, default=20.0, help="submits per second of the VideoJob -> Job and sustained runs"
    )
    parser.add_argument("--get-rate", type=float, default=200.0, help="GET job requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per GET measurement")
    parser.add_argument("--sustained", type=int, default=1000, help="jobs of the sustained run (0: none)")
    parser.add_argument(
        "--cache-finished-jobs", type=int, default=None, help="the API's window of finished jobs (unset: its default)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the namespace (and its logs folder) afterwards")
    args = parser.parse_args()

    settings = dev_settings()
    cluster = Cluster(settings)
    config.load_kube_config(str(settings.admin_kubeconfig))  # type: ignore[no-untyped-call]
    ns = f"bench-history-{uuid.uuid4().hex[:8]}"
    logs = Path(tempfile.mkdtemp(prefix=f"videogen-{ns}-"))
    setup(cluster, ns)
    ctx: dict[str, Any] = {
        "settings": settings,
        "custom": client.CustomObjectsApi(),
        "batch": client.BatchV1Api(),
        "ns": ns,
        "logs": logs,
        "created": 0,
    }
    sizes = sorted(args.finished)
    try:
        for size in sizes:
            print(json.dumps(measure(args, ctx, size, size == sizes[-1])), flush=True)
    finally:
        print(f"logs: {logs}", file=sys.stderr)
        if not args.keep:
            cluster.kubectl("delete", "namespace", ns, "--timeout=600s", check=False, timeout=610)
            shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
