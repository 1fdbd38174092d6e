"""Admission under the caps: priority first, then creation order; GPUs requested and Jobs running both capped."""

from videogen_operator.cluster_view import GPUS, trimmed_job, trimmed_pod
from videogen_operator.queueing import Caps, QueueEntry, Usage, admitted, never_fits, queue_position


def entry(name: str, created: str, priority: int = 0, gpus: int = 1) -> QueueEntry:
    return QueueEntry(uid=name, namespace="ns", name=name, priority=priority, created=created, gpus=gpus)


def names(entries: list[QueueEntry]) -> list[str]:
    return [e.name for e in entries]


WAITING = [
    entry("c", "2024-01-15T10:00:03Z"),
    entry("a", "2024-01-15T10:00:01Z"),
    entry("b", "2024-01-15T10:00:02Z"),
]
JOBS_3 = Caps(max_jobs=3)


def test_first_in_first_out_up_to_the_free_places() -> None:
    assert names(admitted(WAITING, Usage(jobs=1, gpus=1), JOBS_3)) == ["a", "b"]


def test_nothing_is_admitted_when_the_cap_is_reached() -> None:
    assert admitted(WAITING, Usage(jobs=3, gpus=3), JOBS_3) == []
    assert admitted(WAITING, Usage(jobs=5, gpus=5), JOBS_3) == []


def test_higher_priority_goes_first() -> None:
    urgent = [*WAITING, entry("z", "2024-01-15T10:00:09Z", priority=10)]
    assert names(admitted(urgent, Usage(), Caps(max_jobs=2))) == ["z", "a"]


def test_no_cap_admits_everyone() -> None:
    assert len(admitted(WAITING, Usage(jobs=100, gpus=100), Caps())) == 3


def test_an_8_gpu_job_counts_8_against_max_gpus() -> None:
    big = entry("big", "2024-01-15T10:00:00Z", gpus=8)
    caps = Caps(max_jobs=10, max_gpus=8)
    assert names(admitted([big], Usage(), caps)) == ["big"]
    # One GPU in use leaves 7: the 8-GPU job waits, where counting Jobs it would have gone (1 of 10 running).
    assert admitted([big], Usage(jobs=1, gpus=1), caps) == []
    # Admitted, it fills the cap on its own: nothing that needs a GPU follows it.
    assert names(admitted([big, *WAITING], Usage(), caps)) == ["big"]


def test_a_job_waiting_for_gpus_is_not_overtaken_by_smaller_gpu_jobs() -> None:
    big = entry("big", "2024-01-15T10:00:00Z", gpus=8)
    # 4 of 8 GPUs in use: the three 1-GPU jobs behind it would fit, but starting them would starve it.
    assert admitted([big, *WAITING], Usage(jobs=2, gpus=4), Caps(max_jobs=10, max_gpus=8)) == []


def test_a_job_asking_for_no_gpu_passes_one_waiting_for_gpus() -> None:
    big = entry("big", "2024-01-15T10:00:00Z", gpus=8)
    cpu = entry("cpu", "2024-01-15T10:00:05Z", gpus=0)
    assert names(admitted([big, *WAITING, cpu], Usage(jobs=2, gpus=4), Caps(max_jobs=10, max_gpus=8))) == ["cpu"]
    # It still needs a place under the Job cap.
    assert admitted([big, cpu], Usage(jobs=2, gpus=4), Caps(max_jobs=2, max_gpus=8)) == []


def test_the_gpu_cap_and_the_job_cap_hold_together() -> None:
    two = [entry(n, f"2024-01-15T10:00:0{i}Z", gpus=2) for i, n in enumerate("pqrs")]
    # GPUs bind first: 3 free GPUs take one 2-GPU job though 3 Job places are free.
    assert names(admitted(two, Usage(jobs=1, gpus=1), Caps(max_jobs=4, max_gpus=4))) == ["p"]
    # The Job cap binds first: 2 places for 2-GPU jobs with 8 GPUs free.
    assert names(admitted(two, Usage(), Caps(max_jobs=2, max_gpus=8))) == ["p", "q"]


def test_a_job_asking_for_more_gpus_than_the_cap_never_fits() -> None:
    problem = never_fits(8, Caps(max_gpus=4))
    assert problem is not None and problem.startswith("spec.gpus 8 is more than")
    assert "queue.maxGPUs" in problem
    assert never_fits(4, Caps(max_gpus=4)) is None
    assert never_fits(8, Caps()) is None


def test_queue_position_counts_from_one() -> None:
    assert queue_position(WAITING, "c") == 3
    assert queue_position(WAITING, "missing") is None


def test_the_index_keeps_the_gpus_a_job_and_a_pod_ask_for() -> None:
    containers = [
        {"name": "runner", "resources": {"limits": {"nvidia.com/gpu": "8", "memory": "64Gi"}}},
        {"name": "sidecar", "resources": {}},
    ]
    job = {"metadata": {"name": "big"}, "spec": {"template": {"spec": {"containers": containers}}}, "status": {}}
    assert trimmed_job(job)[GPUS] == 8
    assert trimmed_pod({"metadata": {"name": "big-x"}, "spec": {"containers": containers}})[GPUS] == 8
    assert trimmed_pod({"metadata": {"name": "cpu-x"}, "spec": {"containers": [{"name": "runner"}]}})[GPUS] == 0
