"""``videogen-operator``: run the operator (kopf) on some namespaces or all, or ``download`` a model (in a pod)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import kopf

from videogen_common import tracing
from videogen_common.logs import configure_logging
from videogen_operator import leader
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
    # The components' one line format (videogen_common.logs), kopf's own lines included.
    configure_logging(settings.log_format)
    # One "Handler succeeded" line per watch event would drown everything else.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    lease_namespace = None
    if settings.leader_election:
        try:
            lease_namespace = leader.lease_namespace(settings, args.namespace)
        except ValueError as err:
            print(f"videogen-operator: cannot start: {err}", file=sys.stderr)
            sys.exit(2)
    tracing.configure_tracing("videogen-operator")
    try:
        _run(args, settings, lease_namespace)
    finally:
        tracing.shutdown_tracing()


def _run(args: argparse.Namespace, settings: OperatorSettings, lease_namespace: str | None) -> None:
    asyncio.run(
        kopf.operator(
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            liveness_endpoint=settings.liveness_endpoint,
            # Our own Lease decides who acts (videogen_operator.leader): kopf's peering objects are not needed.
            standalone=True,
            # The retention sweep lists only these namespaces (empty: all).
            memo=kopf.Memo(lease_namespace=lease_namespace, namespaces=tuple(args.namespace)),
        )
    )


if __name__ == "__main__":
    main()
