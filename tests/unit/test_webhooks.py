"""Webhook signing (Standard Webhooks), destination checking (SSRF) and the VideoJob's webhook fields."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from pydantic import ValidationError

from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.webhooks import (
    DEFAULT_EVENTS,
    WebhookEvent,
    destination_problem,
    generate_secret,
    sign,
    signed_headers,
    verify,
)

# The example of the Standard Webhooks reference libraries' tests (and Svix's): secret, id, timestamp, payload and
# the signature every implementation must produce for them.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_standard_webhooks_example() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_signed_headers_verify_and_a_changed_body_or_old_timestamp_does_not() -> None:
    secret = generate_secret()
    headers = signed_headers(secret, "msg_1", 1000, b"{}")
    assert set(headers) >= {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert verify(secret, headers, b"{}", now=1010)
    assert not verify(secret, headers, b"{ }", now=1010)
    assert not verify(secret, headers, b"{}", now=1000 + 301)
    assert not verify(generate_secret(), headers, b"{}", now=1010)
    # Standard Webhooks allows several space-separated signatures (key rotation): any one matching is enough.
    rotated = headers | {"webhook-signature": f"v1,bm90IHRoaXMgb25l {headers['webhook-signature']}"}
    assert verify(secret, rotated, b"{}", now=1010)


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="])
def test_a_malformed_or_short_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        sign(secret, "msg", 0, b"")


def test_default_events_are_the_terminal_ones() -> None:
    assert {e for e in WebhookEvent if e.terminal} == DEFAULT_EVENTS
    assert {WebhookEvent.START, WebhookEvent.PROGRESS}.isdisjoint(DEFAULT_EVENTS)


def resolver(answers: dict[str, Sequence[str]]) -> Callable[[str, int], Sequence[str]]:
    """A DNS stand-in: the test says what each name resolves to."""

    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in answers:
            raise OSError("Name or service not known")
        return answers[host]

    return resolve


DNS = resolver(
    {
        "public.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        "rebinding.example": ["93.184.215.14", "10.0.0.7"],
        "metadata.example": ["169.254.169.254"],
        "internal.example": ["10.96.0.10"],
        "cluster.example": ["100.64.3.4"],
    }
)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://127.0.0.1", "loopback"),
        ("https://127.0.0.1:8443/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[fd00::1]/hook", "private"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.1.1/hook", "private"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://metadata.example/hook", "link-local"),
        ("https://rebinding.example/hook", "10.0.0.7"),
        ("https://cluster.example/hook", "private or reserved"),
        ("http://public.example/hook", "must use https"),
        ("https://user:pw@public.example/hook", "credentials"),
        ("https://public.example@10.0.0.1/hook", "credentials"),
        ("ftp://public.example/hook", "http(s) URL"),
        ("https:///hook", "http(s) URL"),
        ("https://nowhere.example/hook", "does not resolve"),
    ],
)
def test_destinations_inside_or_unsigned_are_refused(url: str, why: str) -> None:
    problem = destination_problem(url, resolver=DNS)
    assert problem is not None and why in problem, problem


def test_a_public_https_destination_is_allowed() -> None:
    assert destination_problem("https://public.example/hooks/videogen?x=1", resolver=DNS) is None
    assert destination_problem("https://93.184.215.14/hook", resolver=DNS) is None


def test_the_allowlist_trusts_named_hosts_and_networks_for_http_and_internal_addresses() -> None:
    assert destination_problem("http://127.0.0.1:9000/hook", ["127.0.0.1/32"], resolver=DNS) is None
    assert destination_problem("http://internal.example/hook", ["internal.example"], resolver=DNS) is None
    assert destination_problem("http://internal.example/hook", ["10.96.0.0/12"], resolver=DNS) is None
    # A trusted network covers only its own addresses.
    assert destination_problem("https://rebinding.example/", ["10.0.0.0/8"], resolver=DNS) is None
    assert destination_problem("http://rebinding.example/", ["10.0.0.0/8"], resolver=DNS) is not None
    assert destination_problem("http://169.254.169.254/", ["127.0.0.1/32"], resolver=DNS) is not None


def test_the_clusters_own_networks_are_refused_even_when_public() -> None:
    problem = destination_problem("https://public.example/", internal_networks=["93.184.0.0/16"], resolver=DNS)
    assert problem is not None and "cluster" in problem


def test_videojob_spec_takes_a_webhook_url_and_an_event_filter() -> None:
    spec = VideoJobSpec.model_validate(
        {
            "mode": "text-to-video",
            "prompt": "a cat",
            "webhook": "https://example.com/h",
            "webhookEventsFilter": ["start"],
        }
    )
    assert spec.webhook == "https://example.com/h" and spec.webhook_events_filter == [WebhookEvent.START]
    for bad in ("ftp://example.com/", "https://user:pw@example.com/", "https://exa mple.com/", "https://" + "a" * 2050):
        with pytest.raises(ValidationError):
            VideoJobSpec.model_validate({"mode": "text-to-video", "prompt": "a", "webhook": bad})
    with pytest.raises(ValidationError):
        VideoJobSpec.model_validate({"mode": "text-to-video", "prompt": "a", "webhookEventsFilter": ["finished"]})
