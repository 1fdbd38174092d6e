"""Prometheus metrics read the operator's in-memory view at scrape time."""

from prometheus_client import CollectorRegistry, generate_latest

from tests.operator.factories import videojob
from videogen_operator.metrics import StateCollector


def test_videojobs_by_state_and_queue_length_are_exported() -> None:
    videojobs = [
        videojob("a", status={"state": "processing"}),
        videojob("b", status={"state": "pending", "reason": "Queued"}),
        videojob("c", status={"state": "pending", "reason": "Queued"}),
        videojob("d"),  # not seen by the operator yet: pending
    ]
    registry = CollectorRegistry()
    registry.register(StateCollector(lambda: videojobs, lambda: 2))
    text = generate_latest(registry).decode()
    assert 'videogen_videojobs{state="pending"} 3.0' in text
    assert 'videogen_videojobs{state="processing"} 1.0' in text
    assert 'videogen_videojobs{state="completed"} 0.0' in text
    assert "videogen_queue_length 2.0" in text
