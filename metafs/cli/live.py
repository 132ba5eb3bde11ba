"""`--containerd` and its options: read a running containerd instead of a store.

Where that containerd is follows ctr: `--address`, else `$CONTAINERD_ADDRESS`, else
`<state>/containerd.sock`; the namespace is `-n`, else `$CONTAINERD_NAMESPACE`, else "default".
"""

from __future__ import annotations

import argparse
import os

from ..live.api import DEFAULT_ROOT, DEFAULT_STATE, Containerd, default_namespace
from ..live.tasks import Roots


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("a live node (see docs/live.md)")
    group.add_argument(
        "--containerd",
        action="store_true",
        help="read the running containerd: its live metadata and its tasks",
    )
    group.add_argument(
        "--root", default=DEFAULT_ROOT, help=f"containerd's root dir (default {DEFAULT_ROOT})"
    )
    group.add_argument(
        "--state", default=DEFAULT_STATE, help=f"containerd's state dir (default {DEFAULT_STATE})"
    )
    group.add_argument(
        "--address",
        default=None,
        help="containerd's socket (default: $CONTAINERD_ADDRESS, else STATE/containerd.sock)",
    )


def resolve(args: argparse.Namespace) -> None:
    """Fill in the namespace by the rule of the store or of containerd, and the address."""
    if args.namespace is None:
        if args.containerd:
            args.namespace = default_namespace()
        else:
            args.namespace = os.environ.get("METAFS_NAMESPACE") or "default"
    if args.address is None:
        env = os.environ.get("CONTAINERD_ADDRESS")
        args.address = (
            env.removeprefix("unix://") if env else os.path.join(args.state, "containerd.sock")
        )


def client(args: argparse.Namespace) -> Containerd:
    return Containerd(args.address, args.namespace)


def roots(args: argparse.Namespace) -> Roots:
    return Roots(args.state, args.runc_root, args.proc_root, args.cgroup_root)
