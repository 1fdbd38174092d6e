"""Waiting for a condition in tests and scripts, with a timeout that reports what was last seen."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    pass


def wait_for(
    observe: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float,
    what: str,
    interval: float = 0.25,
) -> T:
    """Call `observe` until `done(observation)`; on timeout fail with the last observation."""
    deadline = time.monotonic() + timeout
    while True:
        seen = observe()
        if done(seen):
            return seen
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout}s waiting for {what}; last seen:\n{seen!r}")
        time.sleep(interval)
