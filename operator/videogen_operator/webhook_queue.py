"""Which webhook events a VideoJob owes its receiver, and what a delivery attempt changes: pure functions over
``status.webhook``.

The queue lives in the VideoJob's status, not in this process: an event is queued (``pending``) in the same status
the operator reads after a restart, and leaves it only when delivered or given up on, so a restart loses no event.
Queuing is level-based: the events the status shows (processing, a progress step, a terminal state) that the
filter selects and that were never queued are queued now, whatever watch events were missed. Delivery is at least
once: an attempt whose outcome was not yet written is repeated, with the same ``webhook-id`` (receivers
de-duplicate by it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from videogen_common.resources.meta import MESSAGE_MAX_LENGTH
from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.resources.videojob_status import PendingWebhook, State, VideoJobStatus, WebhookStatus
from videogen_common.webhooks import DEFAULT_EVENTS, WebhookEvent

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(moment: datetime) -> str:
    # Sub-second precision: back-off steps of a second or two must not round to nothing.
    return moment.strftime(TIME_FORMAT)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def selected(spec: VideoJobSpec) -> frozenset[WebhookEvent]:
    """The events spec.webhookEventsFilter selects (the terminal ones when it is unset)."""
    if spec.webhook is None:
        return frozenset()
    return DEFAULT_EVENTS if spec.webhook_events_filter is None else frozenset(spec.webhook_events_filter)


_TERMINAL_EVENTS: Final = {
    State.COMPLETED: WebhookEvent.COMPLETED,
    State.FAILED: WebhookEvent.FAILED,
    State.CANCELLED: WebhookEvent.CANCELLED,
}


def _events_shown(status: VideoJobStatus) -> list[WebhookEvent]:
    """The non-progress events the status shows have happened, in the order they happen."""
    state = status.current_state
    step = status.progress.step if status.progress else 0
    events = []
    # A job that completed, or made a denoising step, started, even if the operator never saw it processing.
    if state in (State.PROCESSING, State.COMPLETED) or step > 0:
        events.append(WebhookEvent.START)
    if state.terminal:
        events.append(_TERMINAL_EVENTS[state])
    return events


def _message_id(uid: str, event: WebhookEvent, step: int | None = None) -> str:
    # Deterministic: an event queued again after a crash keeps its id, so the receiver can tell the repeat.
    return f"{uid}.{event.value}" + (f".{step}" if step is not None else "")


def enqueue(uid: str, spec: VideoJobSpec, status: VideoJobStatus, now: datetime) -> WebhookStatus | None:
    """``status.webhook`` with every due event queued (the same object when nothing is due; None without a
    webhook). At most one progress event waits: a newer step replaces an undelivered one."""
    wanted = selected(spec)
    if not wanted:
        return status.webhook
    current = status.webhook or WebhookStatus()
    pending = list(current.pending)
    queued = list(current.queued)
    progress_step = current.progress_step
    moment = format_time(now)
    shown = _events_shown(status)
    for event in shown:
        if event is WebhookEvent.START and event not in queued:
            queued.append(event)
            if event in wanted:
                pending.append(PendingWebhook(id=_message_id(uid, event), event=event, time=moment))
    step = status.progress.step if status.progress else 0
    if step > (progress_step or 0):
        progress_step = step
        if WebhookEvent.PROGRESS in wanted:
            pending = [p for p in pending if p.event is not WebhookEvent.PROGRESS]
            message_id = _message_id(uid, WebhookEvent.PROGRESS, step)
            pending.append(PendingWebhook(id=message_id, event=WebhookEvent.PROGRESS, time=moment))
    for event in shown:
        if event.terminal and event not in queued:
            queued.append(event)
            if event in wanted:
                pending.append(PendingWebhook(id=_message_id(uid, event), event=event, time=moment))
    if (pending, queued, progress_step) == (current.pending, current.queued, current.progress_step):
        return status.webhook
    return current.model_copy(update={"pending": pending, "queued": queued, "progress_step": progress_step})


def next_due(webhook: WebhookStatus | None, now: datetime) -> tuple[PendingWebhook | None, float | None]:
    """The oldest pending event if it may be attempted now, else None with the seconds until it may (None: nothing
    is pending). Events go out in order: a later one waits for an earlier one's retries."""
    if webhook is None or not webhook.pending:
        return None, None
    first = webhook.pending[0]
    if first.next_attempt_time is None:
        return first, None
    wait = (parse_time(first.next_attempt_time) - now).total_seconds()
    return (first, None) if wait <= 0 else (None, wait)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: a status code (``delivered`` for 2xx), or an error (no answer, refused)."""

    status_code: int | None = None
    error: str | None = None
    #: The destination may never be called (refused by the destination check): no retry helps.
    permanent: bool = False

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code <= 299


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off from ``first_seconds`` doubling up to ``max_seconds``, for at most ``window_seconds``
    after the event happened."""

    first_seconds: float
    max_seconds: float
    window_seconds: float

    def delay(self, attempts: int) -> float:
        return float(min(self.first_seconds * 2 ** max(attempts - 1, 0), self.max_seconds))


def after_attempt(
    webhook: WebhookStatus, item: PendingWebhook, outcome: Outcome, policy: RetryPolicy, now: datetime
) -> WebhookStatus:
    """``webhook`` after one attempt of ``item``: delivered or given up (it leaves the queue), or scheduled again."""
    attempts = item.attempts + 1
    error = outcome.error
    if error is None and not outcome.delivered:
        error = f"the receiver answered HTTP {outcome.status_code}; a 2xx status is needed"
    rest = [p for p in webhook.pending if p.id != item.id]
    update: dict[str, object] = {
        "last_event": item.event,
        "last_attempt_time": format_time(now),
        "last_status_code": outcome.status_code,
        "last_error": error[:MESSAGE_MAX_LENGTH] if error else None,
    }
    if outcome.delivered:
        return webhook.model_copy(update=update | {"pending": rest, "delivered": webhook.delivered + 1})
    retry_at = now + timedelta(seconds=policy.delay(attempts))
    if outcome.permanent or retry_at > parse_time(item.time) + timedelta(seconds=policy.window_seconds):
        reason = "" if outcome.permanent else f"; given up after {attempts} attempts (retry window used up)"
        update["last_error"] = f"{error}{reason}"[:MESSAGE_MAX_LENGTH]
        return webhook.model_copy(update=update | {"pending": rest, "dropped": webhook.dropped + 1})
    again = item.model_copy(update={"attempts": attempts, "next_attempt_time": format_time(retry_at)})
    pending = [again if p.id == item.id else p for p in webhook.pending]
    return webhook.model_copy(update=update | {"pending": pending})
