"""``videogen-api``: serve the API with uvicorn, configured from the environment."""

from __future__ import annotations

import socket
import sys

import uvicorn
from fastapi import FastAPI

from videogen_api.app import create_app
from videogen_api.config import ApiSettings, ConfigurationError
from videogen_api.job_events import JobEventHub
from videogen_common import tracing
from videogen_common.logs import configure_logging


def server_config(app: FastAPI, settings: ApiSettings, **overrides: object) -> uvicorn.Config:
    """uvicorn's configuration for these settings (the tests serve the app with it too)."""
    options: dict[str, object] = {
        "host": settings.host,
        "port": settings.port,
        # Behind an ingress, output_url uses the client-facing scheme and host, from the proxies trusted here.
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        # Beyond this many connections and requests at once uvicorn answers 503 instead of queueing more work.
        "limit_concurrency": settings.max_connections,
        # On SIGTERM requests in progress (uploads above all) finish for this long before they are cut; the chart's
        # terminationGracePeriodSeconds leaves room for it.
        "timeout_graceful_shutdown": settings.shutdown_grace(),
        # uvicorn's own lines go through the root logger's format (configure_logging), and the request id middleware
        # writes the one line per request that its access log would.
        "log_config": None,
        "access_log": False,
    }
    return uvicorn.Config(app, **(options | overrides))  # type: ignore[arg-type]


class ApiServer(uvicorn.Server):
    """uvicorn, ending the job event streams as it starts to stop: the requests in progress get the grace period,
    an open stream (which lasts until its job ends) is told to reconnect elsewhere instead."""

    def __init__(self, config: uvicorn.Config, job_events: JobEventHub) -> None:
        super().__init__(config)
        self._job_events = job_events

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._job_events.close()
        await super().shutdown(sockets)


def main() -> None:
    settings = ApiSettings()
    configure_logging(settings.log_format)
    try:
        app = create_app(settings)
    except ConfigurationError as exc:
        # A message naming the setting, not a traceback: the pod's log says what to fix.
        print(f"videogen-api: cannot start: {exc}", file=sys.stderr)
        sys.exit(2)
    tracing.configure_tracing("videogen-api")
    try:
        ApiServer(server_config(app, settings), app.state.job_events).run()
    finally:
        tracing.shutdown_tracing()


if __name__ == "__main__":
    main()
