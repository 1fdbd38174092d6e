"""The node agent process (`videogen-node-agent`): wires the parts together and runs until SIGTERM.

Threads: the logs server, the heartbeat, one per running pod; the main thread watches pods.
"""

import functools
import logging
import signal
import sys
import threading
from typing import Any

from videogen_dev import node_logs
from videogen_dev.node import registration
from videogen_dev.node.apiserver import connect
from videogen_dev.node.launch import find_log_file
from videogen_dev.node.podman import PodmanRuntime
from videogen_dev.node.pods import NodePods
from videogen_dev.node.runtime import LocalProcessRuntime, NodeRuntime
from videogen_dev.node.settings import NodeAgentSettings
from videogen_dev.node.watch import watch_pods


def _serve_logs(settings: NodeAgentSettings, pods: NodePods) -> None:
    if settings.serving_cert is None or settings.serving_key is None or settings.client_ca is None:
        return
    locate = functools.partial(find_log_file, settings.pods_dir)
    node_logs.serve(
        settings.logs_port, settings.serving_cert, settings.serving_key, settings.client_ca, locate, pods.is_running
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = NodeAgentSettings()  # type: ignore[call-arg]  # required fields come from the environment
    api = connect(settings.kubeconfig)
    podman = PodmanRuntime(settings) if settings.containers else None
    if podman is not None:
        podman.remove_leftovers()
    pods = NodePods(api.core, settings, NodeRuntime(LocalProcessRuntime(settings.venv_bin), podman))
    stopping = threading.Event()
    _serve_logs(settings, pods)
    registration.register(api, settings)

    def on_term(signum: int, frame: Any) -> None:
        stopping.set()
        pods.kill_all()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    threading.Thread(
        target=registration.heartbeat_forever, args=(api, settings, stopping), daemon=True, name="heartbeat"
    ).start()
    watch_pods(api.core, settings.name, settings.resync_seconds, pods, stopping)


if __name__ == "__main__":
    main()
