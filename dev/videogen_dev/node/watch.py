"""The pods bound to this node as the apiserver lists and watches them, fed to `NodePods` until the agent stops.

Each round lists (syncing every pod and forgetting the ones gone), then watches from that list's
resourceVersion until the server ends the watch after `resync_seconds`; any failure relists.
"""

import contextlib
import logging
import threading
import time
from typing import Any

from kubernetes import watch

from videogen_dev.node.pods import NodePods

log = logging.getLogger("videogen.node-agent")


def watch_pods(core: Any, node_name: str, resync_seconds: float, pods: NodePods, stopping: threading.Event) -> None:
    field_selector = f"spec.nodeName={node_name}"
    while not stopping.is_set():
        try:
            listed = core.list_pod_for_all_namespaces(field_selector=field_selector)
            seen = set()
            for pod in listed.items:
                seen.add(pod.metadata.uid)
                pods.sync(pod)
            pods.forget_vanished(seen)
            watcher = watch.Watch()  # type: ignore[no-untyped-call]
            stream = watcher.stream(  # type: ignore[no-untyped-call]
                core.list_pod_for_all_namespaces,
                field_selector=field_selector,
                resource_version=listed.metadata.resource_version,
                timeout_seconds=int(resync_seconds),
                _request_timeout=resync_seconds + 10,
            )
            # A watchdog: once a watch was seen blocked in a read past both its server and client timeouts
            # (under an overloaded apiserver). Shutting the response down unblocks the read; we relist.
            watchdog = threading.Timer(resync_seconds * 2 + 15, _shut_down_watch, args=(watcher,))
            watchdog.daemon = True
            watchdog.start()
            try:
                for event in stream:
                    if stopping.is_set():
                        break
                    if event["type"] == "DELETED":
                        pods.deleted(event["object"])
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        pods.sync(event["object"])
            finally:
                watchdog.cancel()
        except Exception:
            if not stopping.is_set():
                log.exception("pod watch failed; relisting")
                time.sleep(1)


def _shut_down_watch(watcher: Any) -> None:
    response = getattr(watcher, "_resp", None)
    if response is not None:
        log.warning("pod watch overran its deadline; closing it to relist")
        with contextlib.suppress(Exception):
            response.shutdown()
            response.release_conn()
