"""`metafs mount` and `metafs umount`: the store of one namespace as a filesystem."""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .. import validation
from ..containers import DEFAULT_RUNTIME, spec_from_json
from . import live
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
        help="namespace (default: $METAFS_NAMESPACE, else $CONTAINERD_NAMESPACE, else 'default')",
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
    live.add_options(mount, sub=True)
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
        args.namespace = validation.identifier(args.mount_namespace, "namespace")
    mountpoint = args.mountpoint.absolute()
    _clear_stale(mountpoint)
    if args.log is None and not args.foreground:
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        args.log = Path(state) / "metafs" / "mount.log"
    if args.log is not None:
        _check_log(args.log)
    options = daemon.MountOptions(
        store=store_locator(args),
        mountpoint=mountpoint,
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
    if args.containerd:
        live.live_mount(args, options)
    if args.max_map_size is not None:
        options.max_map_size = args.max_map_size
    if args.cache_timeout is not None:
        options.cache_timeout = args.cache_timeout
    if args.max_nodes is not None:
        options.max_nodes = args.max_nodes
    daemon.check_mountpoint(options.mountpoint)
    if args.foreground or "://" not in options.store:
        # every reason it cannot, said here; not a store reached through a client library
        # (etcd's gRPC), which a forked daemon could not use after the parent did
        open_store(args, readonly=args.read_only).close()
    if args.foreground:
        return daemon.serve(options)
    return daemon.background(options)


def _check_log(path: Path) -> None:
    """The daemon logs there once detached, where it can no longer say why it fails: open it
    here first."""
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True)
        with open(path, "a"):
            pass
    except OSError as exc:
        raise SystemExit(f"metafs: cannot write the log {path}: {exc.strerror}") from None


def mounted_fstype(path: Path) -> str | None:
    """The filesystem type mounted on `path` (absolute, symlinks resolved), from the kernel's
    table: unlike stat() it answers for a mount whose daemon died."""
    with open("/proc/self/mounts") as mounts:
        found = None
        for line in mounts:
            fields = line.split()
            # the table escapes space, tab, newline and backslash as octal (\040)
            where = fields[1].encode().decode("unicode_escape").encode("latin-1").decode()
            if where == str(path):
                found = fields[2]  # the last one listed is the one on top
    return found


def _is_stale(path: Path) -> bool:
    try:
        os.statvfs(path)  # never answered from the kernel's caches, as stat() may be
    except OSError as exc:
        return exc.errno in (errno.ENOTCONN, errno.ECONNABORTED)
    return False


def _fusermount(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount3"
    return subprocess.run([tool, *args], capture_output=True, text=True, check=False)


def _clear_stale(mountpoint: Path) -> None:
    """A metafs mount whose daemon died (killed) answers every access with ENOTCONN: unmount
    it (lazily) so that it can be mounted again. (The first access after the kill may say
    ECONNABORTED, the next ones ENOTCONN.); any other stale mount is the user's to clear."""
    if not _is_stale(mountpoint):
        return
    path = Path(os.path.realpath(mountpoint))
    if mounted_fstype(path) != "fuse.metafs":
        raise SystemExit(
            f"metafs: {mountpoint} is a stale mount (its daemon is gone): "
            f"run 'fusermount3 -u -z {mountpoint}' first"
        )
    done = _fusermount("-u", "-z", str(path))
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        raise SystemExit(f"metafs: cannot remove the stale mount on {mountpoint}: {reason}")
    print(f"metafs: removed the stale mount on {mountpoint} (its daemon had died)", file=sys.stderr)


def cmd_umount(args: argparse.Namespace) -> int:
    path = Path(os.path.realpath(args.mountpoint))
    fstype = mounted_fstype(path)
    if fstype is None:
        raise SystemExit(f"metafs: {args.mountpoint} is not mounted")
    if fstype != "fuse.metafs":
        raise SystemExit(f"metafs: {args.mountpoint} is a {fstype} mount, not a metafs one")
    stale = _is_stale(path)
    # a dead daemon's mount is unmounted lazily: an open file in it must not keep it
    done = _fusermount("-u", *(["-z"] if stale else []), str(path))
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        raise SystemExit(
            f"metafs: cannot unmount {args.mountpoint}: {reason.removeprefix('fusermount3: ')}"
        )
    return 0
