"""What the agent remembers about each pod it runs: its containers' processes and their last reported statuses."""

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

from videogen_dev.node.launch import Launch
from videogen_dev.node.runtime import Container


@dataclass
class ContainerRun:
    """One start of a container; a restart is a new one with restart_count one higher."""

    name: str
    container: Container
    launch: Launch
    started_at: dt.datetime
    restart_count: int = 0


@dataclass
class PodRun:
    pod: Any
    stop_requested: threading.Event = field(default_factory=threading.Event)
    grace_seconds: int = 30
    # The live (or last) process of each container, init containers included.
    runs: dict[str, ContainerRun] = field(default_factory=dict)
    # The last reported state of each container: the API replaces these lists whole on every patch.
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    init_statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
