"""One webhook delivery: check the destination again, sign the body, POST it once, say what came of it.

The destination is checked at every attempt (DNS may have changed since the job was submitted) and the connection
goes to the addresses that check approved, never to a second lookup's answer, so a host that re-resolves to an
internal address between the check and the connection (DNS rebinding) still cannot be reached. TLS is verified
against the URL's host name as usual. Redirects are not followed: a 3xx is a failed delivery. No proxy from the
environment is used (it would connect to a destination the check never saw).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from videogen_common.job_view import job_view
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob_status import PendingWebhook
from videogen_common.webhooks import (
    Destination,
    DestinationRefused,
    DestinationUnresolved,
    resolve_destination,
    signed_headers,
)
from videogen_operator.settings import OperatorSettings
from videogen_operator.webhook_queue import Outcome

USER_AGENT = "videogen-webhooks/1"


class _CheckedAddresses(AbstractResolver):
    """Answers every lookup with the addresses the destination check approved."""

    def __init__(self, destination: Destination) -> None:
        self._destination = destination

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self._destination.addresses
        ]

    async def close(self) -> None:
        return None


def payload(videojob: VideoJob, item: PendingWebhook) -> bytes:
    """The body: Standard Webhooks' envelope (type, timestamp, data) around the job as the REST API shows it."""
    document: dict[str, Any] = {"type": item.event.value, "timestamp": item.time, "data": job_view(videojob)}
    return json.dumps(document, separators=(",", ":")).encode()


async def post(destination: Destination, body: bytes, headers: dict[str, str], timeout_seconds: float) -> Outcome:
    """POST ``body`` once; the outcome is the status code, or why there was none."""
    connector = aiohttp.TCPConnector(resolver=_CheckedAddresses(destination), use_dns_cache=False, force_close=True)
    timeout = aiohttp.ClientTimeout(total=timeout_seconds)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session,
            session.post(destination.url, data=body, headers=headers, allow_redirects=False) as response,
        ):
            code, location = response.status, response.headers.get("location", "")
    except TimeoutError:
        return Outcome(error=f"the receiver did not answer within {timeout_seconds:g} s")
    except aiohttp.ClientError as error:
        return Outcome(error=f"no answer from the receiver: {error or type(error).__name__}")
    if 300 <= code <= 399:
        return Outcome(
            status_code=code, error=f"the receiver answered HTTP {code} (a redirect to {location!r}), not followed"
        )
    return Outcome(status_code=code)


async def deliver(videojob: VideoJob, item: PendingWebhook, settings: OperatorSettings) -> Outcome:
    """One attempt of ``item`` to the VideoJob's webhook, checked and signed."""
    url = videojob.spec.webhook
    if url is None:
        return Outcome(error="spec.webhook is not set", permanent=True)
    if settings.webhook_secret is None:
        # Fail closed: a receiver cannot tell an unsigned delivery from a forged one.
        return Outcome(error="the operator has no webhook signing secret (setting webhook_secret); nothing is sent")
    trusted, internal = settings.webhook_trusted(), settings.webhook_internal()
    try:
        destination = await asyncio.to_thread(resolve_destination, url, trusted, internal_networks=internal)
    except DestinationUnresolved as unresolved:
        return Outcome(error=str(unresolved))
    except DestinationRefused as refused:
        return Outcome(error=f"refused: {refused}", permanent=True)
    body = payload(videojob, item)
    headers = signed_headers(settings.webhook_secret.get_secret_value(), item.id, int(time.time()), body)
    headers["user-agent"] = USER_AGENT
    return await post(destination, body, headers, settings.webhook_timeout_seconds)
