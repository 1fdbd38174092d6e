"""`videogen-dev`: start, stop and inspect the local environment (used by the Makefile)."""

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from videogen_dev import cluster, controlplane, crd_files, processes, s3, settings_reference, system
from videogen_dev.settings import dev_settings
from videogen_dev.waiting import WaitTimeout


def main() -> None:
    parser = argparse.ArgumentParser(prog="videogen-dev", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up", help="the whole system: images, cluster, S3, CRDs, the chart (operator + API on :8080), smoke models"
    )
    cluster_up = sub.add_parser("cluster-up", help="only control plane, local node, S3 and CRDs (idempotent)")
    for command in (up, cluster_up):
        command.add_argument(
            "--processes",
            action="store_true",
            help="the node runs our images' pods as processes of the venv instead of containers of the images "
            "(builds no image, isolates nothing)",
        )
    sub.add_parser("down", help="stop everything; leaves no process behind")
    sub.add_parser("status", help="which parts run")
    sub.add_parser("reset", help="stop everything and delete the local state (etcd data, S3 data, certs)")
    logs = sub.add_parser("logs", help="the last lines of each component's log")
    logs.add_argument("--lines", type=int, default=20)
    reference = sub.add_parser("settings-reference", help="print the settings tables (README's, from the classes)")
    reference.add_argument("--write", action="store_true", help="rewrite README.md's settings section")
    crds = sub.add_parser("crds", help="check (or --write) the CRDs generated from the resource types")
    crds.add_argument("--write", action="store_true", help="rewrite crds/ and the chart's CRDs")
    smoke = sub.add_parser("make-smoke-model", help="write tiny random-weight pipelines (no download; needs torch)")
    smoke.add_argument("out_dir", type=Path, help="folder to write <name>/model_index.json etc. into")
    smoke.add_argument("--only", action="append", help="only this model (repeatable; default all)")
    smoke.add_argument("--seed", type=int, default=0, help="weight seed (same seed, same weights)")
    args = parser.parse_args()
    settings = dev_settings()
    if args.command in ("up", "cluster-up") and args.processes:
        settings = settings.model_copy(update={"node_containers": False})

    if args.command in ("up", "cluster-up"):
        started = time.monotonic()
        try:
            if args.command == "up":
                system.up(settings)
            else:
                cluster.up(settings)
        except (controlplane.ControlPlaneError, cluster.ClusterError, s3.S3Error, system.SystemUpError) as err:
            sys.exit(f"videogen-dev {args.command} failed: {err}")
        except WaitTimeout as err:
            sys.exit(f"videogen-dev {args.command} failed: {err}\n(see `make logs`)")
        print(f"local {'system' if args.command == 'up' else 'cluster'} ready in {time.monotonic() - started:.1f}s")
        if args.command == "up":
            url = system.api_url(settings)
            print(f"  API        : {url}   (curl {url}/health)")
            if settings.node_containers:
                print("  containers : podman ps (the API, the operator, and each download and runner Job's pod)")
            print(f"  release    : helm release {system.RELEASE} in namespace {system.NAMESPACE}; models: smoke-*")
        print(f"  kubeconfig : {settings.admin_kubeconfig}   (export KUBECONFIG=$PWD/.dev/kubeconfig)")
        print(f"  apiserver  : {settings.apiserver_url}")
        print(f"  node       : {settings.node_name} (nvidia.com/gpu, taint nvidia.com/gpu=present:NoSchedule)")
        print(f"  S3         : {settings.s3_endpoint_url} buckets {', '.join(settings.s3_buckets)}")
        print(f"  logs       : {settings.log_dir}/")
    elif args.command == "down":
        cluster.down(settings)
        print("local cluster stopped")
    elif args.command == "reset":
        cluster.down(settings)
        shutil.rmtree(settings.state_dir, ignore_errors=True)
        print(f"removed {settings.state_dir}")
    elif args.command == "status":
        for name, pid in cluster.status(settings).items():
            print(f"{name:26} {'running, pid ' + str(pid) if pid else 'stopped'}")
    elif args.command == "settings-reference":
        if args.write:
            changed = settings_reference.write()
            print(f"{settings_reference.README}: {'updated' if changed else 'already current'}")
        else:
            print(settings_reference.render())
    elif args.command == "crds":
        if args.write:
            written = crd_files.write()
            print("\n".join(f"{path}: updated" for path in written) or "CRDs already current")
        elif stale := crd_files.stale():
            sys.exit(f"stale generated CRDs (run `make crds`): {', '.join(stale)}")
        else:
            print("CRDs current")
    elif args.command == "logs":
        for name in cluster.status(settings):
            print(f"==> {name} <==\n{processes.log_tail(settings, name, args.lines)}\n")
    elif args.command == "make-smoke-model":
        # Everything is built in code: nothing may wait for (or reach) the Hub, and the libraries' progress bars and
        # notices would bury the written paths.
        for name, value in {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "DIFFUSERS_VERBOSITY": "error",
            "TRANSFORMERS_VERBOSITY": "error",
        }.items():
            os.environ.setdefault(name, value)
        # Imported here: only this command needs torch.
        from videogen_dev.smoke_weights import make_smoke_models

        try:
            for path in make_smoke_models(args.out_dir, args.only, seed=args.seed):
                print(path)
        except ValueError as err:
            sys.exit(f"videogen-dev make-smoke-model: {err}")


if __name__ == "__main__":
    main()
