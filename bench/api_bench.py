"""Latency figures for the API (issue 5's benchmark; figures, not a timed test).

Against a running API (``videogen-api``, e.g. from ``make up``):

    .venv/bin/python bench/api_bench.py --url http://127.0.0.1:8080

1. GET /api/v1/job/{id} from ``--clients`` concurrent clients (default 100) for ``--seconds``: p50/p99 and rate.
   Target: p99 <= 20 ms at 200 requests/s.
2. POST text-to-video at ``--submit-rate`` per second (default 20) for ``--seconds``: p50/p99 of every answer
   (accepted or 429; the concurrency limit usually refuses most, which is the common case to be fast at).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def _report(what: str, samples: list[float], codes: dict[int, int], seconds: float) -> None:
    print(
        f"{what}: n={len(samples)} rate={len(samples) / seconds:.0f}/s p50={_percentile(samples, 0.5):.1f}ms "
        f"p99={_percentile(samples, 0.99):.1f}ms mean={statistics.fmean(samples) * 1000:.1f}ms codes={codes}"
    )


async def bench_get_job(http: httpx.AsyncClient, job_id: str, clients: int, seconds: float) -> None:
    samples: list[float] = []
    codes: dict[int, int] = {}
    deadline = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await http.get(f"/api/v1/job/{job_id}")
            samples.append(time.perf_counter() - started)
            codes[response.status_code] = codes.get(response.status_code, 0) + 1

    await asyncio.gather(*(client() for _ in range(clients)))
    _report(f"GET job x{clients} clients", samples, codes, seconds)


async def bench_submit(http: httpx.AsyncClient, rate: float, seconds: float) -> None:
    samples: list[float] = []
    codes: dict[int, int] = {}

    async def submit(i: int) -> None:
        started = time.perf_counter()
        response = await http.post("/api/v1/generate/text-to-video", json={"prompt": f"bench {i}", "num_frames": 8})
        samples.append(time.perf_counter() - started)
        codes[response.status_code] = codes.get(response.status_code, 0) + 1

    tasks = []
    for i in range(int(rate * seconds)):
        tasks.append(asyncio.create_task(submit(i)))
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*tasks)
    _report(f"POST text-to-video at {rate:g}/s", samples, codes, seconds)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--submit-rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    limits = httpx.Limits(max_connections=args.clients + 10, max_keepalive_connections=args.clients + 10)
    async with httpx.AsyncClient(base_url=args.url, timeout=30, limits=limits) as http:
        submitted = await http.post("/api/v1/generate/text-to-video", json={"prompt": "bench", "num_frames": 8})
        if submitted.status_code != 200:
            raise SystemExit(f"could not create a job to read back: {submitted.status_code} {submitted.text}")
        job_id = submitted.json()["job_id"]
        await bench_get_job(http, job_id, args.clients, args.seconds)
        await bench_submit(http, args.submit_rate, args.seconds)
        await http.delete(f"/api/v1/job/{job_id}")


if __name__ == "__main__":
    asyncio.run(main())
