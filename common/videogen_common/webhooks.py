"""Webhooks: which events a VideoJob reports, how a delivery is signed, and where one may go.

Pure parts only (no HTTP client, no Kubernetes): the operator delivers, the API checks a destination at submit time,
both with these functions.

Signing follows Standard Webhooks (https://www.standardwebhooks.com): headers ``webhook-id``, ``webhook-timestamp``
(Unix seconds) and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, keyed with the
installation's secret ``whsec_<base64 of 24-64 random bytes>``. A receiver verifies with any Standard Webhooks
library, or with :func:`verify`.

Destinations (:func:`destination_problem`) fail closed against SSRF: https only, and never an address inside the
cluster, the node or the cloud's metadata service, unless the installation's allow-list names the host or a network
holding the address. Host names are resolved and *every* address is checked; the operator checks again when it
delivers and connects to the address it checked, so a DNS answer that changes in between does not redirect it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_EVENTS",
    "SECRET_PREFIX",
    "Allowlist",
    "Destination",
    "DestinationRefused",
    "DestinationUnresolved",
    "IPAddress",
    "IPNetwork",
    "WebhookEvent",
    "destination_problem",
    "generate_secret",
    "parse_allowlist",
    "resolve_destination",
    "sign",
    "signed_headers",
    "verify",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Resolves (host, port) to the addresses a connection could reach; ``socket.getaddrinfo``'s shape, narrowed.
Resolver = Callable[[str, int], Sequence[str]]


class WebhookEvent(StrEnum):
    """What a VideoJob reports to its webhook (``spec.webhookEventsFilter``). ``WebhookEvent.X.doc`` says when."""

    doc: str

    def __new__(cls, value: str, doc: str) -> WebhookEvent:
        member = str.__new__(cls, value)
        member._value_ = value
        member.doc = doc
        return member

    START = "start", "the runner pod started generating (state processing)"
    PROGRESS = "progress", "a denoising step finished (status.progress changed)"
    COMPLETED = "completed", "the MP4 is in S3 (state completed)"
    FAILED = "failed", "the generation failed for good (state failed)"
    CANCELLED = "cancelled", "spec.cancel was set and the run is gone (state cancelled)"

    @property
    def terminal(self) -> bool:
        """The job's last event: nothing follows it."""
        return self in DEFAULT_EVENTS


#: The events a VideoJob without ``webhookEventsFilter`` reports: the terminal ones.
DEFAULT_EVENTS: Final = frozenset({WebhookEvent.COMPLETED, WebhookEvent.FAILED, WebhookEvent.CANCELLED})


# --- signing --------------------------------------------------------------------------------------------------------

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the format's prefix, not a secret
# Standard Webhooks asks for 24 to 64 bytes of key.
_MIN_KEY_BYTES: Final = 24
_MAX_KEY_BYTES: Final = 64


def generate_secret() -> str:
    """A new installation secret, ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r} followed by base64 (Standard Webhooks)")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as error:
        raise ValueError(f"the webhook secret after {SECRET_PREFIX!r} is not base64: {error}") from None
    if not _MIN_KEY_BYTES <= len(key) <= _MAX_KEY_BYTES:
        raise ValueError(
            f"the webhook secret holds {len(key)} bytes; Standard Webhooks asks for {_MIN_KEY_BYTES} to "
            f"{_MAX_KEY_BYTES} (generate one with: echo whsec_$(head -c 32 /dev/urandom | base64))"
        )
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``<id>.<timestamp>.<body>``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(_key(secret), signed, hashlib.sha256)).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one delivery (with its JSON content type)."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: int, tolerance_seconds: int = 300) -> bool:
    """A receiver's check: one of the ``v1`` signatures matches and the timestamp is within ``tolerance_seconds``
    of ``now`` (Standard Webhooks' replay window). ``headers`` keys are lower-case."""
    try:
        message_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
        signatures = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


# --- destinations ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowlist:
    """Destinations an installation trusts: host names (exact, case-insensitive) and networks. A trusted
    destination may use http and internal addresses; everything else must be https to public addresses."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    def trusts_address(self, address: IPAddress) -> bool:
        return any(address.version == network.version and address in network for network in self.networks)


def parse_networks(entries: Iterable[str]) -> list[IPNetwork]:
    """Networks from CIDRs or addresses (``webhook_internal_networks``); a typo raises ValueError, so the API and
    the operator both stop at start rather than fail every submit or delivery with a webhook later."""
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def parse_allowlist(entries: Iterable[str]) -> Allowlist:
    """An allow-list from its entries: a CIDR or IP address (``10.0.0.0/8``, ``127.0.0.1``) or a host name."""
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return Allowlist(frozenset(hosts), tuple(networks))


class DestinationRefused(ValueError):
    """A webhook URL the installation will not call; the message says why and what to do."""


class DestinationUnresolved(DestinationRefused):
    """The host name does not resolve (now): refused at submit, retried at delivery (DNS may recover)."""


@dataclass(frozen=True)
class Destination:
    """A checked webhook URL: where to connect (``addresses``, all checked) and what to ask for there."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _system_resolver(host: str, port: int) -> Sequence[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _unwrapped(address: IPAddress) -> IPAddress:
    # ::ffff:127.0.0.1 reaches 127.0.0.1: judge the IPv4 address inside.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address_problem(address: IPAddress, internal_networks: Sequence[IPNetwork]) -> str | None:
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (e.g. a cloud metadata service)"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if any(address.version == network.version and address in network for network in internal_networks):
        return "inside the cluster's service or pod networks"
    if address.is_private or not address.is_global:
        return "a private or reserved address (RFC 1918, ULA, shared or documentation ranges)"
    return None


def resolve_destination(
    url: str,
    allowlist: Allowlist,
    *,
    internal_networks: Sequence[IPNetwork] = (),
    resolver: Resolver = _system_resolver,
) -> Destination:
    """Check ``url`` and resolve its host; raise :class:`DestinationRefused` saying why it may not be called.

    An allow-listed host name is trusted whatever it resolves to; otherwise each address must be public (or inside
    an allow-listed network), and the scheme https unless every address is allow-listed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise DestinationRefused(f"webhook URL {url!r} is malformed: {error}") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if scheme not in ("http", "https") or not host:
        raise DestinationRefused(
            f"webhook URL {url!r} must be an http(s) URL with a host, e.g. https://example.com/hook"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise DestinationRefused(
            "webhook URL must not carry credentials (user:password@); authenticate the receiver "
            "by the webhook-signature header instead"
        )
    port = port if port is not None else (443 if scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    try:
        found = [literal.compressed] if literal is not None else list(resolver(host, port))
    except OSError as error:
        raise DestinationUnresolved(f"webhook host {host!r} does not resolve: {error}") from None
    if not found:
        raise DestinationUnresolved(f"webhook host {host!r} resolves to no address")
    addresses = [ipaddress.ip_address(text.split("%", 1)[0]) for text in found]
    trusted_name = literal is None and host in allowlist.hosts
    hint = " (allowed only where the installation allow-lists it: chart value webhooks.allowlist)"
    if not trusted_name:
        for address in addresses:
            if allowlist.trusts_address(address) or allowlist.trusts_address(_unwrapped(address)):
                continue
            problem = _address_problem(_unwrapped(address), internal_networks)
            if problem is not None:
                where = (
                    f"webhook address {address} is"
                    if literal is not None
                    else f"webhook host {host!r} resolves to {address},"
                )
                raise DestinationRefused(f"{where} {problem}{hint}")
    all_trusted = trusted_name or all(allowlist.trusts_address(_unwrapped(a)) for a in addresses)
    if scheme != "https" and not all_trusted:
        raise DestinationRefused(f"webhook URL must use https (got {scheme}://){hint}")
    return Destination(url=url, scheme=scheme, host=host, port=port, addresses=tuple(str(a) for a in addresses))


def destination_problem(
    url: str,
    allowlist: Allowlist | Iterable[str] = (),
    *,
    internal_networks: Sequence[IPNetwork | str] = (),
    resolver: Resolver = _system_resolver,
) -> str | None:
    """Why ``url`` may not receive webhooks (None: it may). Resolves the host (blocking): call it off the event loop.

    ``allowlist``: host names and CIDRs the installation trusts; ``internal_networks``: the cluster's service and
    pod CIDRs, refused like private ranges."""
    trusted = allowlist if isinstance(allowlist, Allowlist) else parse_allowlist(allowlist)
    networks = [ipaddress.ip_network(n, strict=False) if isinstance(n, str) else n for n in internal_networks]
    try:
        resolve_destination(url, trusted, internal_networks=networks, resolver=resolver)
    except DestinationRefused as refused:
        return str(refused)
    return None
