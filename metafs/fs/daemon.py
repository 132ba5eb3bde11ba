"""Mounting: run the filesystem in this process or in a background daemon.

The parent of a background mount returns only once the mount is ready (or has failed, with
the reason). The store is opened in the process that serves, after the fork: an LMDB
environment must never cross a fork(). SIGINT, SIGTERM and SIGHUP unmount cleanly, and so does
`fusermount3 -u`; the daemon then exits 0.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyfuse3
import trio

from .. import waiting
from ..codec import AnyValue
from ..containers import DEFAULT_RUNTIME
from ..editor import Editor
from ..store import Store
from ..store_editor import StoreEditor
from . import wait
from .offload import Offload
from .operations import MAX_NODES, Operations
from .tree import Tree
from .view import EMPTY_SPEC
from .views import STORE_VIEWS, ViewFactory

log = logging.getLogger("metafs.mount")

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# workers of a mount whose handlers wait for the store (offload.py): each request beyond
# the last worker waits until one is free (pyfuse3 adds them as they are needed, up to this)
WORKERS = 64
MAX_WORKERS = 99  # pyfuse3's own default, with its own wait
_malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc only


@dataclass
class MountOptions:
    store: str  # a store directory, or a SCHEME://... locator (see metafs.engines)
    mountpoint: Path
    namespace: str = "default"
    readonly: bool = False
    default_runtime: str = DEFAULT_RUNTIME
    default_spec: AnyValue = field(default_factory=lambda: EMPTY_SPEC)
    cache_timeout: float = 0.9
    max_nodes: int = MAX_NODES
    max_map_size: int | None = None  # LMDB's limit (its default: 1 TiB)
    log_file: Path | None = None
    debug: bool = False
    views: dict[str, ViewFactory] = field(default_factory=lambda: dict(STORE_VIEWS))
    editor: Callable[[Store], Editor] | None = None  # who makes changes: None, the store's
    # the views or the editor make round trips (a live node's containerd), which must not stop
    # the event loop; a store whose engine says `round_trips` (etcd) is taken as such too
    round_trips: bool = False


def check_mountpoint(path: Path) -> None:
    if not path.is_dir():
        raise SystemExit(f"metafs: mount point {path} is not a directory")
    if os.path.ismount(path):
        raise SystemExit(f"metafs: {path} is already a mount point")


def background(options: MountOptions) -> int:
    """Fork a daemon that mounts and serves; return 0 once the mount is ready."""
    check_mountpoint(options.mountpoint)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            message = pipe.read().decode(errors="replace")
        if message == "ready":
            return 0
        os.waitpid(pid, 0)
        print(f"metafs: mount failed: {message or 'the daemon died'}", file=sys.stderr)
        return 1
    os.close(read_end)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    if options.log_file is None:
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        options.log_file = Path(state) / "metafs" / "mount.log"

    def ready(error: str | None = None) -> None:
        os.write(write_end, (error or "ready").encode())
        os.close(write_end)

    status = serve(options, ready)
    os._exit(status)


def serve(options: MountOptions, ready: Callable[[str | None], None] | None = None) -> int:
    """Mount and serve until unmounted or signalled; the exit status."""
    _setup_logging(options)
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # until trio's receiver is in place
    try:
        engine_options = (
            {} if options.max_map_size is None else {"max_map_size": options.max_map_size}
        )
        store = Store.open(options.store, readonly=options.readonly, create=False, **engine_options)
    except Exception as exc:
        return _failed(f"cannot open store {options.store}: {exc}", ready)
    editor = options.editor(store) if options.editor else StoreEditor(store, options.namespace)
    tree = Tree(
        store,
        options.namespace,
        editor,
        readonly=options.readonly,
        default_runtime=options.default_runtime,
        default_spec=options.default_spec,
        views=options.views,
    )
    offload = None
    if options.round_trips or getattr(store.engine, "round_trips", False):
        offload = Offload()
        waiting.install(offload)
    ops = Operations(
        tree, timeout=options.cache_timeout, max_nodes=options.max_nodes, offload=offload
    )
    # Not pyfuse3's default_permissions: with it the kernel checks every path walk and open
    # against the attributes it holds, and asks for them again (GETATTR) after each change
    # invalidated them: a second `echo > file` took 7 requests, now 4. Only the mounting user
    # reaches a mount without allow_other, and the handlers refuse what the mode bits say
    # they would (read-only fields, a read-only mount); access(2) is answered by `access`.
    fuse_options = {"fsname=metafs", "subtype=metafs"}
    if options.readonly:
        fuse_options.add("ro")
    try:
        pyfuse3.init(ops, str(options.mountpoint), fuse_options)
    except Exception as exc:
        store.close()
        return _failed(f"cannot mount {options.mountpoint}: {exc}", ready)
    log.info(
        "mounted %s (store %s, namespace %s)", options.mountpoint, options.store, options.namespace
    )
    replaced = wait.install(offload)
    # pyfuse3's workers: one is enough while no handler ever awaits (see wait.py)
    workers = (1 if offload is None else WORKERS) if replaced else MAX_WORKERS
    try:
        trio.run(_run, ops, store, ready, workers)
    except BaseException:
        log.exception("the mount loop failed")
        return 1
    finally:
        pyfuse3.close(unmount=True)
        ops.shutdown()
        store.close()
        log.info("unmounted %s", options.mountpoint)
    return 0


async def _run(
    ops: Operations,
    store: Store,
    ready: Callable[[str | None], None] | None,
    workers: int,
) -> None:
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(*_SIGNALS) as signals:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
            nursery.start_soon(_on_signal, signals)
            nursery.start_soon(ops.sweep)
            nursery.start_soon(_release_memory, store)
            if ready is not None:
                ready(None)
            await pyfuse3.main(1, workers)
            nursery.cancel_scope.cancel()


async def _release_memory(store: Store, interval: float = 1.0, trim_every: int = 10) -> None:
    """Keep the daemon's resident memory bounded.

    - The store's engine gives back what it holds for reading (LMDB: its pages mapped into the
      daemon stay below a limit; a walk of the tree reads the whole database, which would
      otherwise stay in the daemon's resident memory for good, while the pages stay in the
      page cache either way).
    - Every `trim_every` intervals, the C heap's free memory goes back to the system
      (`malloc_trim`): the node sweep and dropped listings free memory in blocks that malloc
      would otherwise keep (measured: about 10 MB after a walk of 100k images).
    """
    ticks = 0
    while True:
        await trio.sleep(interval)
        ticks += 1
        try:
            store.release_memory()
            if ticks % trim_every == 0 and _malloc_trim is not None:
                _malloc_trim(0)
        except Exception:
            log.exception("releasing memory")


async def _on_signal(signals: object) -> None:
    async for signum in signals:  # type: ignore[attr-defined]
        log.info("%s: unmounting", signal.Signals(signum).name)
        pyfuse3.terminate()
        return


def _failed(message: str, ready: Callable[[str | None], None] | None) -> int:
    log.error("%s", message)
    if ready is not None:
        ready(message)
    else:
        print(f"metafs: {message}", file=sys.stderr)
    return 1


def _setup_logging(options: MountOptions) -> None:
    handler: logging.Handler
    if options.log_file is not None:
        options.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(options.log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if options.debug else logging.INFO)
