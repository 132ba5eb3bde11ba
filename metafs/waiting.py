"""How store code waits for something outside the process: a network round trip, a pause.

By default it waits where it is called, blocking the calling thread: what a command wants. A
mount serves every request on one event-loop thread; it installs its own `Waiting`
(`metafs/fs/offload.py`), under which a request that waits for etcd (or containerd) does so
in a worker thread while the loop answers the requests it can from memory.

The store calls `turn()` before it touches what transactions share (a transaction begins, a
watch starts), and `call(fn, *args)` for every call that waits. Under a mount, requests take
turns at the store, one at a time, and keep their turn until they are answered: the store
code between two waits runs as it does in a command, alone. A lock held across a wait must
therefore be taken only after `turn()`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")


class Waiting:
    """Waiting in the calling thread (a command's)."""

    def turn(self) -> None:
        """Wait until the caller may use the store's shared state."""

    def call(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)`, a call that waits on something outside the process."""
        return fn(*args)


_current = Waiting()


def install(waiting: Waiting) -> None:
    """Make `waiting` the process's way to wait (a mount, before it serves)."""
    global _current
    _current = waiting


def turn() -> None:
    _current.turn()


def call(fn: Callable[..., T], *args: object) -> T:
    return _current.call(fn, *args)
