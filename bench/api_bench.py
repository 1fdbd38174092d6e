"""Latency figures for the API (issue 5's benchmark; figures, not a timed test).

Against a running API (``videogen-api``, e.g. from ``make up``):

    .venv/bin/python bench/api_bench.py --url http://127.0.0.1:8080

1. GET /api/v1/job/{id} from ``--clients`` concurrent clients (default 100), each sending its next request as soon
   as the last one is answered, for ``--seconds``: the most the API serves, and the latency at that load.
2. The same clients paced to ``--get-rate`` requests/s in all (default 200), each on a fixed schedule: the target
   (p99 <= 20 ms at 200 requests/s). A closed loop of 100 clients cannot show it: its latency is just
   100 / throughput.
3. POST text-to-video at ``--submit-rate`` per second (default 20) for ``--seconds``: p50/p99 of every answer
   (accepted or 429; the concurrency limit usually refuses most, which is the common case to be fast at).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from urllib.parse import urlsplit

import httpx


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def _report(what: str, samples: list[float], codes: dict[int, int], seconds: float) -> None:
    print(
        f"{what}: n={len(samples)} rate={len(samples) / seconds:.0f}/s p50={_percentile(samples, 0.5):.1f}ms "
        f"p99={_percentile(samples, 0.99):.1f}ms mean={statistics.fmean(samples) * 1000:.1f}ms codes={codes}"
    )


class _Connection:
    """One keep-alive HTTP/1.1 connection that sends bare GETs. The bench shares the API's 2 cores: httpx costs
    about a millisecond of CPU per request, which would measure the client, not the API."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, url: str) -> _Connection:
        parsed = urlsplit(url)
        reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port or 80)
        return cls(reader, writer, parsed.netloc)

    async def get(self, path: str) -> int:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def bench_get_job(url: str, job_id: str, clients: int, seconds: float) -> None:
    samples: list[float] = []
    codes: dict[int, int] = {}
    connections = [await _Connection.open(url) for _ in range(clients)]
    deadline = time.monotonic() + seconds

    async def client(connection: _Connection) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            code = await connection.get(f"/api/v1/job/{job_id}")
            samples.append(time.perf_counter() - started)
            codes[code] = codes.get(code, 0) + 1

    await asyncio.gather(*(client(connection) for connection in connections))
    for connection in connections:
        connection.close()
    _report(f"GET job x{clients} clients, closed loop", samples, codes, seconds)


async def get_paced(
    url: str, path: str, rate: float, seconds: float, clients: int = 20
) -> tuple[list[float], dict[int, int]]:
    """GETs of ``path`` paced to ``rate``/s from ``clients`` keep-alive connections: (latencies, codes)."""
    samples: list[float] = []
    codes: dict[int, int] = {}
    connections = [await _Connection.open(url) for _ in range(clients)]
    interval = clients / rate
    start = time.monotonic()

    async def client(index: int, connection: _Connection) -> None:
        # Client i sends at start + i/rate + k*interval: together an even stream of `rate` requests per second.
        # Latency counts from the scheduled time, so a server that falls behind cannot hide it (no coordinated
        # omission).
        due = start + index / rate
        while due < start + seconds:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            code = await connection.get(path)
            samples.append(time.monotonic() - due)
            codes[code] = codes.get(code, 0) + 1
            due += interval

    await asyncio.gather(*(client(i, connection) for i, connection in enumerate(connections)))
    for connection in connections:
        connection.close()
    return samples, codes


async def bench_get_job_paced(url: str, job_id: str, clients: int, rate: float, seconds: float) -> None:
    started = time.monotonic()
    samples, codes = await get_paced(url, f"/api/v1/job/{job_id}", rate, seconds, clients)
    _report(f"GET job x{clients} clients paced to {rate:g}/s", samples, codes, time.monotonic() - started)


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
    parser.add_argument("--get-rate", type=float, default=200)
    parser.add_argument("--submit-rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    limits = httpx.Limits(max_connections=args.clients + 10, max_keepalive_connections=args.clients + 10)
    async with httpx.AsyncClient(base_url=args.url, timeout=30, limits=limits) as http:
        submitted = await http.post("/api/v1/generate/text-to-video", json={"prompt": "bench", "num_frames": 8})
        if submitted.status_code != 202:
            raise SystemExit(f"could not create a job to read back: {submitted.status_code} {submitted.text}")
        job_id = submitted.json()["job_id"]
        await bench_get_job(args.url, job_id, args.clients, args.seconds)
        await bench_get_job_paced(args.url, job_id, args.clients, args.get_rate, args.seconds)
        await bench_submit(http, args.submit_rate, args.seconds)
        await http.delete(f"/api/v1/job/{job_id}")


if __name__ == "__main__":
    asyncio.run(main())
