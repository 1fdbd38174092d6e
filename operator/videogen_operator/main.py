"""``videogen-operator``: run the operator (kopf) on some namespaces or all, or ``download`` a model (in a pod)."""

from __future__ import annotations

import argparse
import asyncio
import logging

import kopf

from videogen_operator.settings import OperatorSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="videogen-operator", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["run", "download"], default="run")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)")
    args = parser.parse_args(argv)
    if args.command == "download":
        from videogen_operator import download

        download.main()
        return

    import videogen_operator.handlers  # noqa: F401 - registers the handlers with kopf

    settings = OperatorSettings()
    kopf.configure(log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN)
    # One "Handler succeeded" line per watch event would drown everything else.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    asyncio.run(
        kopf.operator(
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            liveness_endpoint=settings.liveness_endpoint,
            # One replica by design (Deployment strategy Recreate): no peering objects needed.
            standalone=True,
        )
    )


if __name__ == "__main__":
    main()
