"""`helm test`: submit a tiny text-to-video job through the API, read it back, then wait for its video or cancel it.

Runs in the API image (its python, the standard library only). Every failure exits 1 with what went wrong.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import NoReturn

API = os.environ["VIDEOGEN_TEST_API_URL"].rstrip("/")
MODEL = os.environ.get("VIDEOGEN_TEST_MODEL", "")
WAIT_SECONDS = int(os.environ.get("VIDEOGEN_TEST_WAIT_SECONDS", "0"))
KEYS_FILE = os.environ.get("VIDEOGEN_TEST_API_KEYS_FILE", "")
# The smallest request every model family accepts (the runner adjusts sizes and frames to the model).
TINY = {"prompt": "helm test: a lighthouse at dusk", "num_frames": 9, "width": 64, "height": 64}
TINY |= {"num_inference_steps": 2, "fps": 8, "seed": 0}


def api_key() -> str | None:
    """The first key of the API key Secret ('<key>' or '<key> admin' per line)."""
    if not KEYS_FILE:
        return None
    with open(KEYS_FILE) as keys:
        return next((line.split()[0] for line in keys if line.strip()), None)


def call(method: str, path: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/json"}
    if (key := api_key()) is not None:
        headers["X-API-Key"] = key
    data = json.dumps(body).encode() if body is not None else None
    # The chart sets an http(s) URL (values.schema.json checks it).
    request = urllib.request.Request(f"{API}{path}", data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the API's own URL
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def fail(message: str) -> NoReturn:
    print(f"FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    if not MODEL:
        fail("no model to test with: set helmTest.model or defaultModels.textToVideo to a VideoModel that is Ready")
    code, submitted = call("POST", "/api/v1/generate/text-to-video", TINY | {"model": MODEL})
    if code != 202:
        fail(f"submit answered {code}: {submitted}")
    job_id = str(submitted["job_id"])
    print(f"submitted {job_id}")
    code, job = call("GET", f"/api/v1/job/{job_id}")
    if code != 200 or job.get("job_id") != job_id:
        fail(f"GET /api/v1/job/{job_id} answered {code}: {job}")
    print(f"read back {job_id}: {job['status']}")
    if WAIT_SECONDS == 0:
        code, cancelled = call("DELETE", f"/api/v1/job/{job_id}")
        # 202: cancel requested; 200: it was already; 400: it finished first. Each leaves nothing running.
        if code not in (200, 202, 400):
            fail(f"cancelling {job_id} answered {code}: {cancelled}")
        print(f"cancelled {job_id}" if code != 400 else f"{job_id} finished before the cancel")
        return
    deadline = time.monotonic() + WAIT_SECONDS
    while job["status"] not in ("completed", "failed", "cancelled"):
        if time.monotonic() > deadline:
            call("DELETE", f"/api/v1/job/{job_id}")
            fail(f"{job_id} still {job['status']} after {WAIT_SECONDS} s (cancelled)")
        time.sleep(2)
        code, job = call("GET", f"/api/v1/job/{job_id}")
        if code != 200:
            fail(f"GET /api/v1/job/{job_id} answered {code}: {job}")
    if job["status"] != "completed":
        fail(f"{job_id} ended {job['status']} ({job.get('reason')}): {job.get('message')}")
    print(f"completed {job_id}: {job['output_path']}")


main()
