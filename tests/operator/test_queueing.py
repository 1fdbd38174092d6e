"""Admission under the cap: priority first, then creation order."""

from videogen_operator.queueing import QueueEntry, admitted, queue_position


def entry(name: str, created: str, priority: int = 0) -> QueueEntry:
    return QueueEntry(uid=name, namespace="ns", name=name, priority=priority, created=created)


WAITING = [
    entry("c", "2024-01-15T10:00:03Z"),
    entry("a", "2024-01-15T10:00:01Z"),
    entry("b", "2024-01-15T10:00:02Z"),
]


def test_first_in_first_out_up_to_the_free_places() -> None:
    assert [e.name for e in admitted(WAITING, running=1, cap=3)] == ["a", "b"]


def test_nothing_is_admitted_when_the_cap_is_reached() -> None:
    assert admitted(WAITING, running=3, cap=3) == []
    assert admitted(WAITING, running=5, cap=3) == []


def test_higher_priority_goes_first() -> None:
    urgent = [*WAITING, entry("z", "2024-01-15T10:00:09Z", priority=10)]
    assert [e.name for e in admitted(urgent, running=0, cap=2)] == ["z", "a"]


def test_no_cap_admits_everyone() -> None:
    assert len(admitted(WAITING, running=100, cap=None)) == 3


def test_queue_position_counts_from_one() -> None:
    assert queue_position(WAITING, "c") == 3
    assert queue_position(WAITING, "missing") is None
