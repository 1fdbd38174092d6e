"""What a VideoJob owes its webhook, and what each delivery attempt changes (pure functions, no cluster)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.resources.videojob_status import Progress, State, VideoJobStatus, WebhookStatus
from videogen_common.webhooks import WebhookEvent
from videogen_operator.webhook_queue import Outcome, RetryPolicy, after_attempt, enqueue, next_due
from videogen_operator.webhook_sender import webhook_patch

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RetryPolicy(first_seconds=5, max_seconds=60, window_seconds=300)


def spec(**fields: Any) -> VideoJobSpec:
    return VideoJobSpec.model_validate({"mode": "text-to-video", "prompt": "a cat", **fields})


def status(state: State, step: int = 0, webhook: WebhookStatus | None = None) -> VideoJobStatus:
    progress = Progress(step=step, total_steps=10, percent=step * 10) if step else None
    return VideoJobStatus(state=state, progress=progress, webhook=webhook)


def events(webhook: WebhookStatus | None) -> list[str]:
    return [f"{p.event.value}" for p in (webhook.pending if webhook else [])]


def test_without_a_webhook_nothing_is_queued() -> None:
    assert enqueue("u", spec(), status(State.COMPLETED), NOW) is None


def test_the_default_filter_queues_only_the_terminal_event() -> None:
    job = spec(webhook="https://example.com/h")
    assert events(enqueue("u", job, status(State.PROCESSING, step=3), NOW)) == []
    done = enqueue("u", job, status(State.COMPLETED, step=10), NOW)
    assert events(done) == ["completed"] and done is not None and done.pending[0].id == "u.completed"


def test_events_queue_in_order_once_each_and_progress_coalesces() -> None:
    job = spec(webhook="https://example.com/h", webhookEventsFilter=["start", "progress", "failed"])
    queued = enqueue("u", job, status(State.PROCESSING, step=1), NOW)
    assert events(queued) == ["start", "progress"]
    queued = enqueue("u", job, status(State.PROCESSING, step=4, webhook=queued), NOW)
    assert events(queued) == ["start", "progress"] and queued is not None and queued.pending[1].id == "u.progress.4"
    # Nothing new: the same object, so nothing is written.
    assert enqueue("u", job, status(State.PROCESSING, step=4, webhook=queued), NOW) is queued
    failed = enqueue("u", job, status(State.FAILED, step=4, webhook=queued), NOW)
    assert events(failed) == ["start", "progress", "failed"]
    assert failed is not None and set(failed.queued) == {WebhookEvent.START, WebhookEvent.FAILED}


def test_a_job_that_finished_unseen_still_reports_its_start() -> None:
    job = spec(webhook="https://example.com/h", webhookEventsFilter=["start", "completed"])
    assert events(enqueue("u", job, status(State.COMPLETED), NOW)) == ["start", "completed"]
    assert events(enqueue("u", job, status(State.CANCELLED), NOW)) == []


def test_a_failed_attempt_backs_off_exponentially_until_the_window_ends() -> None:
    job = spec(webhook="https://example.com/h")
    webhook = enqueue("u", job, status(State.COMPLETED), NOW)
    assert webhook is not None
    moment, waits = NOW, []
    while webhook.pending:
        item, wait = next_due(webhook, moment)
        if item is None:
            assert wait is not None
            waits.append(wait)
            moment += timedelta(seconds=wait)
            continue
        webhook = after_attempt(webhook, item, Outcome(error="no answer"), POLICY, moment)
    assert waits == [5, 10, 20, 40, 60, 60, 60]
    assert webhook.dropped == 1 and webhook.delivered == 0
    assert webhook.last_error is not None and "given up after 8 attempts" in webhook.last_error


def test_a_delivered_event_leaves_the_queue_and_clears_the_error() -> None:
    job = spec(webhook="https://example.com/h", webhookEventsFilter=["start", "completed"])
    webhook = enqueue("u", job, status(State.COMPLETED), NOW)
    assert webhook is not None
    webhook = after_attempt(webhook, webhook.pending[0], Outcome(status_code=302, error="redirect"), POLICY, NOW)
    assert webhook.last_status_code == 302 and webhook.pending[0].attempts == 1
    webhook = after_attempt(webhook, webhook.pending[0], Outcome(status_code=200), POLICY, NOW)
    assert events(webhook) == ["completed"] and webhook.delivered == 1 and webhook.last_error is None
    # The patch removes the old error rather than leaving it (merge patch: null removes).
    assert webhook_patch(webhook)["webhook"]["lastError"] is None


def test_a_refused_destination_is_given_up_at_once() -> None:
    webhook = enqueue("u", spec(webhook="http://169.254.169.254/"), status(State.COMPLETED), NOW)
    assert webhook is not None
    webhook = after_attempt(
        webhook, webhook.pending[0], Outcome(error="refused: link-local", permanent=True), POLICY, NOW
    )
    assert webhook.pending == [] and webhook.dropped == 1 and webhook.last_error == "refused: link-local"
