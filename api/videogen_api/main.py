"""``videogen-api``: serve the API with uvicorn, configured from the environment."""

from __future__ import annotations

import logging

import uvicorn

from videogen_api.app import create_app
from videogen_api.config import ApiSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ApiSettings()
    # proxy_headers: behind an ingress, output_url should use the client-facing scheme and host.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, proxy_headers=True)


if __name__ == "__main__":
    main()
