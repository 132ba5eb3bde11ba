"""Ordered key-value engines: what the store needs from the storage below it, and nothing more.

The store (`metafs/store.py`) keeps bolt's nested buckets as flat *full keys*
(`metafs/layout.py`): byte strings of any length, ordered bytewise, each bucket's entries one
contiguous key range. An engine stores such keys and their values. It knows nothing of buckets;
the store knows nothing of the engine's own details (LMDB's key length limit and map size, an
etcd cluster's endpoints).

The contract every engine keeps (the bucket-API model test in tests/test_store.py runs
against each one):

- Keys are non-empty `bytes` of any length, values `bytes` (possibly empty), ordered by plain
  bytewise comparison of the keys.
- `Engine.reader()` is a consistent snapshot: it sees every transaction committed before it
  began and nothing after, until it is closed.
- `Engine.writer()` opens the one write transaction of the store: it waits while another
  writer (in this process or in another one) is open, sees its own changes, and
  `commit()` makes all of them visible at once (durable on return, unless the engine was
  opened with `sync=False`) or raises with nothing applied; `abort()` discards them.
- `Reader.items(start, stop)` yields `(key, value)` forward in key order for
  `start <= key < stop` (`stop=None`: to the end). In a write transaction it sees the
  transaction's own changes; changing keys outside the range while iterating is allowed,
  changing keys inside it is not (as in bolt).
- `Engine.generation()` changes whenever a write transaction commits, by any process or host,
  and is cheap: the mount asks for it on every request.
- Errors are metafs errors: `StoreFull` (ENOSPC) when there is no room, `NotFound` for a store
  that does not exist, `CorruptStore`, `Conflict`, `MetafsError` for the rest.

A new engine is one module here with classes following `Engine`, `Reader` and `Writer` and an
opener function, one line in `_OPENERS` below so that `open_engine("scheme://...")` finds it,
and one entry in `ENGINES` in tests/test_store.py, which runs the bucket-API tests on it.
`memory.py` is the smallest complete example.
"""

from __future__ import annotations

import os

from ..errors import InvalidArgument

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Protocol
else:  # the classes below are for type checkers: plain classes when running
    Protocol = object


class Reader(Protocol):
    """A consistent snapshot of the store (or, as `Writer`, the open write transaction)."""

    def get(self, key: bytes) -> bytes | None:
        """The value stored under `key`, or None."""
        ...

    def items(self, start: bytes = b"", stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of every entry with `start <= key < stop`, in key order."""
        ...

    def close(self) -> None:
        """End the snapshot (for a writer: abort, if neither committed nor aborted yet)."""
        ...


class Writer(Reader, Protocol):
    """The store's single write transaction."""

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None:
        """Remove `key`; a missing key is no error."""
        ...

    def delete_range(self, start: bytes, stop: bytes) -> None:
        """Remove every key with `start <= key < stop`."""
        ...

    def commit(self) -> None:
        """Apply every change at once and end the transaction; on error, nothing is applied
        and the transaction is ended."""
        ...

    def abort(self) -> None:
        """Discard every change and end the transaction."""
        ...


class Engine(Protocol):
    """One store, opened by one process (never shared across `fork()`)."""

    location: str  # what `open_engine` was given, for messages
    readonly: bool

    def reader(self) -> Reader: ...

    def writer(self) -> Writer:
        """Begin the write transaction, waiting for any other writer to end."""
        ...

    def generation(self) -> int:
        """A counter that changes with every commit, by anyone."""
        ...

    def sync(self) -> None:
        """Make what was committed durable (for an engine opened with `sync=False`)."""
        ...

    def backup(self, dest: str) -> None:
        """Write a consistent copy of the whole store to the new location `dest`, while
        readers and writers go on."""
        ...

    def space(self) -> tuple[int, int]:
        """(bytes the store's data takes, bytes it may still grow by): what `df` shows of a
        mount of it."""
        ...

    def release_memory(self) -> None:
        """Give back memory held for reading that the engine can cheaply get again (a
        long-running mount calls it every second)."""
        ...

    def close(self) -> None: ...


if TYPE_CHECKING:
    Opener = Callable[..., Engine]

# The kinds of store besides an LMDB directory: scheme -> opener, or "module:function" to be
# imported when first used (an engine's client libraries load only when a store needs them).
# The opener is called as `opener(locator, readonly=..., create=..., sync=..., **options)`.
_OPENERS: dict[str, Opener | str] = {
    "memory": "metafs.engines.memory:open_memory",
    "etcd": "metafs.etcd.engine:open_etcd",
    "containerd": "metafs.live.engine:open_live",  # a running containerd's meta.db, read-only
}


def register(scheme: str, opener: Opener | str) -> None:
    """Make `open_engine("SCHEME://...")` use `opener` (a callable, or "module:function")."""
    _OPENERS[scheme] = opener


def open_engine(
    locator: str | os.PathLike[str],
    *,
    readonly: bool = False,
    create: bool = False,
    sync: bool = True,
    **options: int,
) -> Engine:
    """Open the store at `locator`: `SCHEME://...` for a registered engine, else a directory
    path (LMDB). `create`: make the store if it does not exist (else `NotFound`). `options` are
    an engine's own (LMDB's `map_size` and `max_map_size`); an engine refuses those it does not
    know."""
    text = os.fspath(locator)
    scheme, sep, _rest = text.partition("://")
    if sep and scheme.isidentifier():
        try:
            opener = _OPENERS[scheme]
        except KeyError:
            raise InvalidArgument(f'store "{text}": unknown kind of store "{scheme}://"') from None
        if isinstance(opener, str):
            module, _colon, name = opener.partition(":")
            import importlib  # here: an LMDB store needs none

            opener = _OPENERS[scheme] = getattr(importlib.import_module(module), name)
        return opener(text, readonly=readonly, create=create, sync=sync, **options)
    from .lmdb import LmdbEngine

    return LmdbEngine(text, readonly=readonly, create=create, sync=sync, **options)
