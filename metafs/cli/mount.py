"""`metafs mount` and `metafs umount`: the store of one namespace as a filesystem."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from ..containers import DEFAULT_RUNTIME, spec_from_json
from ..errors import MetafsError
from .common import open_store, store_locator


def register(sub: argparse._SubParsersAction) -> None:
    mount = sub.add_parser(
        "mount",
        help="mount a namespace of the store as a filesystem",
        description="Mount one namespace: images/ and containers/ as directories, their "
        "fields as files; snapshots/, content/ and leases/ read-only, each with a why file "
        "saying what keeps it. Returns once the mount is ready and serves in the background.",
    )
    mount.add_argument("mountpoint", type=Path, metavar="MOUNTPOINT")
    mount.add_argument(
        "--store",
        dest="mount_store",
        type=str,
        default=None,
        help="store directory (default: $METAFS_STORE, else the data directory)",
    )
    mount.add_argument(
        "-n",
        "--namespace",
        dest="mount_namespace",
        default=None,
        help="namespace (default: $METAFS_NAMESPACE, else 'default')",
    )
    mount.add_argument("--read-only", action="store_true", help="refuse every change (EROFS)")
    mount.add_argument(
        "--foreground", "-f", action="store_true", help="stay attached and log to stderr"
    )
    mount.add_argument(
        "--default-runtime",
        default=DEFAULT_RUNTIME,
        metavar="NAME",
        help=f"runtime of containers made by mkdir (default: {DEFAULT_RUNTIME})",
    )
    mount.add_argument(
        "--default-spec",
        type=Path,
        default=None,
        metavar="FILE",
        help="OCI spec (JSON) of containers made by mkdir (default: {})",
    )
    mount.add_argument(
        "--log",
        type=Path,
        default=None,
        metavar="FILE",
        help="log file (default: stderr in the foreground, else $XDG_STATE_HOME/metafs/mount.log)",
    )
    mount.add_argument("--debug", action="store_true", help="log every refused request")
    # for tests and benchmarks
    # LMDB stores only: the size beyond which the store refuses writes (ENOSPC)
    mount.add_argument("--max-map-size", type=int, default=None, help=argparse.SUPPRESS)
    mount.add_argument("--cache-timeout", type=float, default=None, help=argparse.SUPPRESS)
    mount.add_argument("--max-nodes", type=int, default=None, help=argparse.SUPPRESS)
    mount.set_defaults(func=cmd_mount)

    umount = sub.add_parser("umount", aliases=["unmount"], help="unmount a metafs mount")
    umount.add_argument("mountpoint", type=Path, metavar="MOUNTPOINT")
    umount.set_defaults(func=cmd_umount)


def cmd_mount(args: argparse.Namespace) -> int:
    from ..fs import daemon  # pyfuse3 is needed only here

    if args.mount_store is not None:
        args.store = args.mount_store
    if args.mount_namespace is not None:
        args.namespace = args.mount_namespace
    options = daemon.MountOptions(
        store=store_locator(args),
        mountpoint=args.mountpoint.absolute(),
        namespace=args.namespace,
        readonly=args.read_only,
        default_runtime=args.default_runtime,
        log_file=args.log,
        debug=args.debug,
    )
    if args.default_spec is not None:
        try:
            options.default_spec = spec_from_json(args.default_spec.read_bytes())
        except OSError as exc:
            raise SystemExit(f"metafs: {exc}") from None
    if args.max_map_size is not None:
        options.max_map_size = args.max_map_size
    if args.cache_timeout is not None:
        options.cache_timeout = args.cache_timeout
    if args.max_nodes is not None:
        options.max_nodes = args.max_nodes
    daemon.check_mountpoint(options.mountpoint)
    open_store(args, readonly=args.read_only).close()  # every reason it cannot, said here
    if args.foreground:
        return daemon.serve(options)
    return daemon.background(options)


def cmd_umount(args: argparse.Namespace) -> int:
    import subprocess  # here: every other command starts without it

    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    command = [tool, "-u", str(args.mountpoint)] if tool else ["umount", str(args.mountpoint)]
    if not os.path.ismount(args.mountpoint):
        raise MetafsError(f"{args.mountpoint} is not mounted")
    return subprocess.run(command, check=False).returncode
