"""`--containerd` and its options: read a running containerd instead of a store.

Where that containerd is follows ctr: `--address`, else `$CONTAINERD_ADDRESS`, else
`<state>/containerd.sock`. The namespace is the usual one (`-n`, else `$METAFS_NAMESPACE`, else
ctr's `$CONTAINERD_NAMESPACE`, else "default").
"""

from __future__ import annotations

import os

from ..live import DEFAULT_ROOT, DEFAULT_STATE, need_grpc

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py

# seconds the kernel keeps entries and attributes: half a second leaves room for containerd's
# commit, the engine's look at the txid and a new copy within the 1-second bound
LIVE_CACHE_TIMEOUT = 0.5

if TYPE_CHECKING:  # the rest loads grpc: only for the commands that use it
    import argparse

    from ..fs.daemon import MountOptions
    from ..live.api import Containerd
    from ..live.editor import ContainerdEditor
    from ..live.tasks import Roots
    from ..store import Store


def add_options(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """The options before the command, or (`sub`) after `mount` too, where they override."""
    import argparse  # here: a valid one-shot command line is parsed without it

    def default(value: object) -> object:
        return argparse.SUPPRESS if sub else value

    group = parser.add_argument_group("a live node (see docs/live.md)")
    group.add_argument(
        "--containerd",
        action="store_true",
        default=default(False),
        help="read the running containerd: its live metadata and its tasks",
    )
    group.add_argument(
        "--root",
        default=default(DEFAULT_ROOT),
        help=f"containerd's root dir (default {DEFAULT_ROOT})",
    )
    group.add_argument(
        "--state",
        default=default(DEFAULT_STATE),
        help=f"containerd's state dir (default {DEFAULT_STATE})",
    )
    group.add_argument(
        "--address",
        default=default(None),
        help="containerd's socket (default: $CONTAINERD_ADDRESS, else STATE/containerd.sock)",
    )


def resolve(args: argparse.Namespace) -> None:
    """Fill in the socket's address by ctr's rule."""
    if args.address is None:
        env = os.environ.get("CONTAINERD_ADDRESS")
        args.address = (
            env.removeprefix("unix://") if env else os.path.join(args.state, "containerd.sock")
        )


def client(args: argparse.Namespace) -> Containerd:
    need_grpc()
    from ..live.api import Containerd

    return Containerd(args.address, args.namespace)


def roots(args: argparse.Namespace) -> Roots:
    from ..live.tasks import Roots

    return Roots(args.state, args.runc_root, args.proc_root, args.cgroup_root)


def live_mount(args: argparse.Namespace, options: MountOptions) -> None:
    """A mount of a live node: its metadata, read from meta.db and changed through containerd's
    API (unless --read-only), and tasks/ beside it."""
    need_grpc()
    from ..fs.views.tasks import TasksView
    from ..live.tasks import LiveTasks, Roots

    source = LiveTasks(args.address, args.namespace, Roots(args.state))
    options.cache_timeout = LIVE_CACHE_TIMEOUT
    options.round_trips = True  # to containerd: tasks/ and every change
    options.views = {**options.views, "tasks": lambda context: TasksView(context, source)}
    if not options.readonly:
        address, namespace = args.address, args.namespace
        options.editor = lambda store: editor(address, namespace, store, log=True)


def editor(
    address: str, namespace: str, store: Store | None = None, *, log: bool = False
) -> ContainerdEditor:
    """The changes to a live node, as containerd's API calls; with the `store` whose engine
    reads that node, which then shows each change at once; `log`: a containerd that does not
    answer is logged too (a mount's daemon)."""
    need_grpc()
    from ..live.editor import ContainerdEditor
    from ..live.engine import LiveEngine

    engine = store.engine if store is not None else None
    engine = engine if isinstance(engine, LiveEngine) else None
    return ContainerdEditor(address, namespace, engine, log_unavailable=log)
