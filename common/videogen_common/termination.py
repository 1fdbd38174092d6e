"""The container termination message, the one channel a pod without Kubernetes credentials (the runner, the model
download) has back to the operator: one compact JSON document that Kubernetes keeps in the pod's status."""

from __future__ import annotations

import json
from typing import Any, Final

#: Environment variable overriding the termination message path (tests write elsewhere).
TERMINATION_LOG_ENV: Final = "VIDEOGEN_TERMINATION_LOG"
#: Where Kubernetes reads it by default (the container's terminationMessagePath).
TERMINATION_LOG: Final = "/dev/termination-log"
#: Kubernetes keeps at most this many bytes of a termination message.
TERMINATION_MESSAGE_LIMIT: Final = 4096


def _compact(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def termination_message(doc: dict[str, Any]) -> str:
    """``doc`` as compact JSON within :data:`TERMINATION_MESSAGE_LIMIT`: ``timings`` go first, then ``message`` is
    shortened to the longest start that fits."""
    text = _compact(doc)
    if len(text.encode()) <= TERMINATION_MESSAGE_LIMIT:
        return text
    doc = {k: v for k, v in doc.items() if k != "timings"}
    raw = str(doc.get("message", "")).encode()

    def with_message(n: int) -> str:
        return _compact({**doc, "message": raw[:n].decode(errors="ignore") + "..."})

    # JSON escaping makes the size non-linear in the message's length, so search.
    lo, hi = 0, len(raw)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(with_message(mid).encode()) <= TERMINATION_MESSAGE_LIMIT:
            lo = mid
        else:
            hi = mid - 1
    return with_message(lo)
