"""How store code waits for something outside the process: a network round trip, a pause.

By default it waits where it is called, blocking the calling thread: what a command wants. A
mount serves every request on one event-loop thread; it installs its own `Waiting`
(`metafs/fs/offload.py`), under which a request that waits for etcd (or containerd) lets the
loop answer meanwhile the requests it can from memory.

The store calls `turn()` before it touches what transactions share (a transaction begins, a
watch starts), `result(start)` for a call to a server and `pause(seconds)` between two tries.
Under a mount, requests take turns at the store, one at a time, and keep their turn until
they are answered: the store code between two waits runs as it does in a command, alone. A
lock held across a wait must therefore be taken only after `turn()`.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol, TypeVar

    T = TypeVar("T")

    class Future(Protocol):
        """A call under way, as gRPC's `.future()` gives it (concurrent.futures' methods)."""

        def result(self) -> Any: ...
        def done(self) -> bool: ...
        def cancel(self) -> bool: ...
        def add_done_callback(self, fn: Callable[[Any], None]) -> None: ...


class Waiting:
    """Waiting in the calling thread (a command's)."""

    def turn(self) -> None:
        """Wait until the caller may use the store's shared state."""

    def result(self, start: Callable[[], Future]) -> Any:
        """The result of the call `start()` begins (what its future's `result()` gives)."""
        return start().result()

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)


_current = Waiting()


def install(waiting: Waiting) -> None:
    """Make `waiting` the process's way to wait (a mount, before it serves)."""
    global _current
    _current = waiting


def turn() -> None:
    _current.turn()


def result(start: Callable[[], Future]) -> Any:
    return _current.result(start)


def pause(seconds: float) -> None:
    _current.pause(seconds)
