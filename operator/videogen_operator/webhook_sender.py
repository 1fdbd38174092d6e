"""The webhook workers: one per VideoJob with a spec.webhook, sending what ``status.webhook`` says is owed.

Each worker is the only writer of its VideoJob's ``status.webhook`` (the reconciler writes the rest of the status),
so queueing and delivery outcomes never race a status write. A worker wakes on every watch event of its VideoJob,
queues the events the status now shows (``webhook_queue.enqueue``), attempts the oldest due one, writes the outcome,
and sleeps until the next retry is due; it ends when nothing is pending, and the next watch event starts it again.
After a restart the first watch event of every VideoJob starts its worker, which resumes from the status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob_status import WebhookStatus
from videogen_operator import metrics, webhook_delivery, webhook_queue
from videogen_operator.kube import Kube
from videogen_operator.settings import OperatorSettings
from videogen_operator.workers import Workers

log = logging.getLogger(__name__)


def webhook_patch(webhook: WebhookStatus) -> dict[str, Any]:
    """A merge patch for ``status.webhook``: unset fields as null, so that a cleared lastError is removed."""
    wire = webhook.to_wire()
    aliases = [info.alias or name for name, info in WebhookStatus.model_fields.items()]
    return {"webhook": {alias: wire.get(alias) for alias in aliases}}


class WebhookSender:
    def __init__(
        self,
        settings: OperatorSettings,
        kube: Kube,
        videojob: Callable[[str], VideoJob | None],
        on_error: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.kube = kube
        self._videojob = videojob
        self.policy = webhook_queue.RetryPolicy(
            first_seconds=settings.webhook_retry_first_seconds,
            max_seconds=settings.webhook_retry_max_seconds,
            window_seconds=settings.webhook_retry_window_seconds,
        )
        self.workers = Workers("webhook", self.send, on_error, settings.settle_seconds)
        # What this process last wrote to each VideoJob's status.webhook: newer than the watched copy until the
        # write's watch event arrives (and never older, as no one else writes it).
        self._written: dict[str, WebhookStatus] = {}

    def changed(self, videojob: VideoJob) -> None:
        """A watch event of ``videojob``: start or wake its worker when it has an event to queue or send."""
        uid = videojob.uid
        if videojob.spec.webhook is None:
            return
        current = self._written.get(uid, videojob.status.webhook)
        status = videojob.status.model_copy(update={"webhook": current})
        due = webhook_queue.enqueue(uid, videojob.spec, status, datetime.now(UTC)) != current
        if due or (current is not None and current.pending) or self.workers.running(uid):
            self.workers.ensure(uid)

    def forget(self, uid: str) -> None:
        self.workers.stop(uid)
        self._written.pop(uid, None)

    async def send(self, uid: str) -> float | None:
        videojob = self._videojob(uid)
        if videojob is None:
            return None
        current = self._written.get(uid, videojob.status.webhook)
        now = datetime.now(UTC)
        status = videojob.status.model_copy(update={"webhook": current})
        webhook = webhook_queue.enqueue(uid, videojob.spec, status, now)
        if webhook is None:
            return None
        item, wait = webhook_queue.next_due(webhook, now)
        if item is not None:
            outcome = await webhook_delivery.deliver(videojob, item, self.settings)
            log.info(
                "VideoJob %s/%s: webhook %s (%s) attempt %d: %s",
                videojob.namespace,
                videojob.name,
                item.event.value,
                item.id,
                item.attempts + 1,
                "delivered" if outcome.delivered else (outcome.error or outcome.status_code),
            )
            attempted = webhook_queue.after_attempt(webhook, item, outcome, self.policy, datetime.now(UTC))
            metrics.observe_webhook(item.event, webhook, attempted)
            webhook = attempted
        if webhook != current:
            if not await self.kube.patch_status(videojob, webhook_patch(webhook)):
                return None
            self._written[uid] = webhook
        if item is not None:
            # Straight on to the next due event, if any (the next look says how long to wait otherwise).
            return 0.0 if webhook.pending else None
        return wait
