"""The progress channel: a small JSON object in S3, rewritten at every phase and denoising step.

The runner's pod has no Kubernetes token; the operator reads this object and mirrors it into the VideoJob status.
Step updates go through a background thread so a slow S3 never stalls the GPU; every update is written in order,
and :meth:`ProgressReporter.close` waits for the last one.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import UTC, datetime
from typing import Any

from videogen_common.runner_contract import ProgressLocation, ProgressPhase, ProgressReport
from videogen_runner.storage import put_json

log = logging.getLogger(__name__)


class ProgressReporter:
    """Writes :class:`ProgressReport` objects; with no location (a hand run) it only logs."""

    def __init__(self, client: Any, location: ProgressLocation | None, videojob_uid: str) -> None:
        self._client = client
        self._location = location
        self._uid = videojob_uid
        self._queue: queue.Queue[ProgressReport | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.written: list[ProgressReport] = []

    def report_now(self, phase: ProgressPhase, step: int = 0, total_steps: int = 0, message: str = "") -> None:
        """Write synchronously; S3 errors propagate (the first write doubles as the check that S3 works)."""
        self._write(self._report(phase, step, total_steps, message))

    def report(self, phase: ProgressPhase, step: int = 0, total_steps: int = 0, message: str = "") -> None:
        """Queue a write; never blocks the caller and never raises."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="progress-writer", daemon=True)
            self._thread.start()
        self._queue.put(self._report(phase, step, total_steps, message))

    def close(self) -> None:
        """Wait until every queued report is written (or given up on)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _report(self, phase: ProgressPhase, step: int, total_steps: int, message: str) -> ProgressReport:
        percent = round(100.0 * step / total_steps, 1) if total_steps else (100.0 if phase == "succeeded" else 0.0)
        return ProgressReport(
            videojob_uid=self._uid,
            phase=phase,
            step=step,
            total_steps=total_steps,
            percent=percent,
            updated_at=datetime.now(UTC),
            message=message,
        )

    def _write(self, report: ProgressReport) -> None:
        log.info("progress %s %d/%d", report.phase, report.step, report.total_steps)
        if self._location is not None:
            put_json(self._client, self._location.bucket, self._location.key, report.to_json())
        self.written.append(report)

    def _drain(self) -> None:
        while (report := self._queue.get()) is not None:
            try:
                self._write(report)
            except Exception as e:
                # Progress is advisory; a failing S3 will fail the upload at the end with the right exit code.
                log.warning("progress update not written: %s", e)
