"""The store: transactions and a bolt-like bucket API over the key layout and an engine.

`Store.read()` and `Store.write()` are context managers yielding a `Txn`; a write transaction
commits (and, by default, syncs) when the block ends without an exception and is the only way
anything changes. `Store.update(change)` is the re-runnable form: `change(tx)` runs again on a
fresh transaction when its commit meets another process's (`Conflict`).

Inside a transaction, `Bucket` offers what bolt's bucket does: get, put, delete, nested
buckets, ordered iteration and seek.

Buckets become keys in `layout`; the keys live in an ordered key-value engine
(`metafs/engines/`: LMDB in a directory, or another registered kind of store), which provides
the snapshots, the single writer and the atomic commit. Nothing here knows which engine it is.
"""

from __future__ import annotations

import _thread as threading  # threading's get_ident, without threading's imports (2 ms)
import os

from . import layout, waiting
from .contexts import contextmanager  # contextlib's, without its imports
from .engines import open_engine
from .errors import AlreadyExists, Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterator
    from contextlib import AbstractContextManager
    from typing import TypeVar

    from .engines import Engine, Reader, Writer

    T = TypeVar("T")

# runs of an update before its Conflict reaches the caller: two writers that keep writing one
# object each win about every second time, so many runs (with a pause growing to ~4 ms after
# the third) bound the wait to about a second of another's writes
ATTEMPTS = 64


class Store:
    """One open store. Open it once per process, never across fork().

    `Store(locator)` opens the store at a directory path (LMDB) or at a registered
    `SCHEME://...` locator, creating it if `create` (the default here; the command line asks
    for it only where the user meant to make a store); `Store(engine)` wraps an open engine.
    `options` are the engine's own (LMDB: `map_size`, `max_map_size`)."""

    def __init__(
        self,
        where: str | os.PathLike[str] | Engine,
        *,
        readonly: bool = False,
        create: bool = True,
        sync: bool = True,
        **options: int,
    ) -> None:
        if isinstance(where, (str, os.PathLike)):
            where = open_engine(
                where, readonly=readonly, create=create and not readonly, sync=sync, **options
            )
        self.engine: Engine = where
        self.readonly = where.readonly
        self.generation = where.generation  # type: ignore[method-assign]  # one call less
        self._writer: int | None = None  # the thread inside a write transaction

    @classmethod
    def open(cls, where: str | os.PathLike[str] | Engine, **options: object) -> Store:
        return cls(where, **options)  # type: ignore[arg-type]

    @property
    def path(self) -> str:
        """Where the store is, as it was named (a directory, or a locator)."""
        return self.engine.location

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sync(self) -> None:
        """Flush a store opened with `sync=False` to disk."""
        self.engine.sync()

    def backup(self, dest: str) -> None:
        """A consistent copy of the whole store at `dest`, while others read and write."""
        self.engine.backup(dest)

    def release_memory(self) -> None:
        """Give back memory the engine holds for reading (the mount calls it every second)."""
        self.engine.release_memory()

    def space(self) -> tuple[int, int]:
        """(bytes the store's data takes, bytes it may still grow by), as the engine knows
        them; (0, 0) from an engine that does not (the mount's `df`)."""
        space = getattr(self.engine, "space", None)
        return space() if space is not None else (0, 0)

    def generation(self) -> int:
        """A counter that changes with every commit, by any process: the mount asks on every
        request whether what it cached is still current."""
        return self.engine.generation()

    def read(self) -> Reading:
        """A read-only snapshot of the store: `with store.read() as tx: ...`."""
        return Reading(self)

    def write(self) -> AbstractContextManager[Txn]:
        """A write transaction: atomic, committed when the block ends, aborted on exception.
        It excludes every other writer, in this process and in others. An engine whose
        writers commit optimistically (etcd) raises `Conflict` when another process
        committed since the transaction read, and nothing is applied."""
        return self._transaction(self.engine.writer)

    def update(self, change: Callable[[Txn], T], *, attempts: int = ATTEMPTS) -> T:
        """Run `change(tx)` in a write transaction and commit; what it returns is returned.
        A `Conflict` (another process committed since the transaction read; nothing was
        applied) runs `change` again in a new transaction, up to `attempts` runs: so `change`
        must do nothing but read and change `tx` (what the caller does besides, it does once
        this returns). An engine may begin a run on what this process read last (etcd's
        `recent_writer`: no round trip to read it again; after a Conflict, what the refused
        commit read anew), its commit guard catching a change made since."""
        begin = getattr(self.engine, "recent_writer", None) or self.engine.writer
        run = 1
        while True:
            try:
                with self._transaction(begin) as tx:
                    result = change(tx)
                return result
            except Conflict:
                if run >= attempts:
                    raise
                if run > 2:  # writers that keep meeting: each waits a different while
                    waiting.pause(min(run, 16) * os.urandom(1)[0] / 1_020_000)
                run += 1

    @contextmanager
    def _transaction(self, begin: Callable[[], Writer]) -> Iterator[Txn]:
        if self.readonly:
            raise InvalidArgument(f'store "{self.path}" is open read-only')
        waiting.turn()  # (a mount's handlers: one at a time from here)
        if self._writer == threading.get_ident():
            raise InvalidArgument("a write transaction is already open in this thread")
        kv = begin()
        self._writer = threading.get_ident()
        try:
            tx = Txn(self, kv, write=True)
            try:
                yield tx
                tx._run_before_commit()
            except BaseException:
                kv.abort()
                raise
            kv.commit()
        finally:
            self._writer = None


class Reading:
    """The context of `Store.read()`: a class rather than a generator, since the mount begins
    one for every object it reads."""

    __slots__ = ("_store", "_kv")

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> Txn:
        waiting.turn()
        self._kv = self._store.engine.reader()
        return Txn(self._store, self._kv, write=False)

    def __exit__(self, *exc: object) -> None:
        self._kv.close()


class Txn:
    """A transaction; `root()` and `bucket(*path)` lead to the data."""

    def __init__(self, store: Store, kv: Reader, *, write: bool) -> None:
        self.store = store
        self._kv = kv
        self.writable = write
        self._before_commit: dict[Hashable, Callable[[], object]] = {}

    def root(self) -> Bucket:
        return Bucket(self, ())

    def bucket(self, *path: bytes) -> Bucket | None:
        """The bucket at `path`, or None if it (or any bucket on the way) does not exist."""
        prefix = layout.bucket_prefix(path)
        if path and self._kv.get(prefix) is None:
            return None
        return Bucket(self, path, prefix)

    def read_bucket(self, *path: bytes) -> list[tuple[tuple[bytes, ...], bytes]] | None:
        """What `Bucket.walk()` gives for the bucket at `path`, as a list; None if there is
        no such bucket. One pass where `bucket(*path).walk()` is a lookup and a pass."""
        return layout.read_bucket(self._kv, layout.bucket_prefix(path))

    def create_buckets(self, *path: bytes) -> Bucket:
        """The bucket at `path`, creating it and every missing bucket on the way."""
        bucket = self.root()
        for name in path:
            bucket = bucket.create_bucket_if_not_exists(name)
        return bucket

    def before_commit(self, key: Hashable, action: Callable[[], object]) -> None:
        """Run `action` inside this write transaction just before it commits, once per `key`
        however often it is asked for (the garbage collector runs this way, after every
        delete of the transaction, on its final state). An exception aborts the transaction."""
        if not self.writable:
            raise InvalidArgument("before_commit in a read-only transaction")
        self._before_commit.setdefault(key, action)

    def mark_dirty(self, namespace: str) -> None:
        """Something that may keep resources of `namespace` (an image, a container, a blob, a
        snapshot, a lease) was removed: the garbage collector runs on the namespace in this
        transaction, once, just before it commits, on its final state."""
        self.before_commit(("metafs.gc", namespace), lambda: _collect_garbage(self, namespace))

    def _run_before_commit(self) -> None:
        while self._before_commit:
            key = next(iter(self._before_commit))
            self._before_commit.pop(key)()

    def _writer(self) -> Writer:
        if not self.writable:
            raise InvalidArgument("write in a read-only transaction")
        return self._kv  # type: ignore[return-value]


def _collect_garbage(tx: Txn, namespace: str) -> None:
    from .gc import collect  # the collector reads the store through Txn: imported when used

    collect(tx, namespace)


class Bucket:
    """A bolt bucket inside a transaction. Names and values are bytes."""

    __slots__ = ("tx", "path", "_prefix")

    def __init__(self, tx: Txn, path: tuple[bytes, ...], prefix: bytes | None = None) -> None:
        self.tx = tx
        self.path = path
        self._prefix = layout.bucket_prefix(path) if prefix is None else prefix

    def __repr__(self) -> str:
        return f"Bucket({'/'.join(p.decode('utf-8', 'replace') for p in self.path) or '/'})"

    def _key(self, name: bytes) -> bytes:
        return self._prefix + layout.component(name, layout.KEY)

    def _sub(self, name: bytes) -> bytes:
        return self._prefix + layout.component(name, layout.BUCKET)

    def get(self, key: bytes) -> bytes | None:
        """The value of plain key `key`, or None (absent, or a bucket)."""
        return self.tx._kv.get(self._key(key))

    def _require(self) -> None:
        """Refuse writes through the handle of a deleted bucket: they would leave entries that
        no bucket holds (and that its parent would list as a bucket `bucket()` cannot find)."""
        if self.path and self.tx._kv.get(self._prefix) is None:
            raise NotFound(f"{self!r} does not exist (any more)")

    def put(self, key: bytes, value: bytes) -> None:
        if not key:
            raise InvalidArgument("empty key")
        self._require()
        if self.tx._kv.get(self._sub(key)) is not None:
            raise InvalidArgument(f"{key!r} is a bucket in {self!r}, not a key")
        self.tx._writer().put(self._key(key), value)

    def delete(self, key: bytes) -> None:
        """Delete plain key `key`; a missing key is no error, as in bolt."""
        self.tx._writer().delete(self._key(key))

    def bucket(self, name: bytes) -> Bucket | None:
        prefix = self._sub(name)
        if self.tx._kv.get(prefix) is None:
            return None
        return Bucket(self.tx, (*self.path, name), prefix)

    def child(self, name: bytes) -> Bucket:
        """The nested bucket `name` whether or not it exists (reading a missing bucket finds
        nothing): no lookup, and its key prefix is extended rather than re-encoded, for
        walks that read many buckets (the garbage collector)."""
        return Bucket(self.tx, (*self.path, name), self._sub(name))

    def create_bucket(self, name: bytes) -> Bucket:
        if not name:
            raise InvalidArgument("empty bucket name")
        self._require()
        if self.tx._kv.get(self._sub(name)) is not None:
            raise AlreadyExists(f"bucket {name!r} in {self!r}")
        if self.tx._kv.get(self._key(name)) is not None:
            raise InvalidArgument(f"{name!r} is a key in {self!r}, not a bucket")
        self.tx._writer().put(self._sub(name), b"")
        return Bucket(self.tx, (*self.path, name))

    def create_bucket_if_not_exists(self, name: bytes) -> Bucket:
        return self.bucket(name) or self.create_bucket(name)

    def delete_bucket(self, name: bytes) -> None:
        """Delete the nested bucket `name` and everything in it."""
        prefix = self._sub(name)
        if self.tx._kv.get(prefix) is None:
            raise NotFound(f"bucket {name!r} in {self!r}")
        self.tx._writer().delete_range(prefix, layout.successor(prefix))

    def items(self, start: bytes | None = None) -> Iterator[tuple[bytes, bytes | None]]:
        """(name, value) of each entry in bolt's order from `start` on; None marks a bucket.

        As in bolt, do not change the bucket while iterating over it; changing other buckets is
        fine.
        """
        prefix = self._prefix
        skip = len(prefix)
        _start, stop = layout.key_range(prefix)
        seek: bytes | None = prefix + layout.component(start, layout.BUCKET) if start else prefix
        while seek is not None:
            entries = self.tx._kv.items(seek, stop)
            seek = None
            for full, value in entries:
                if len(full) == skip:
                    continue  # this bucket's own marker
                name, kind, used = layout.split_first(full[skip:])
                if kind == layout.KEY:
                    yield name, value
                else:
                    yield name, None
                    seek = layout.successor(full[: skip + used])  # past what it holds
                    break

    def walk(self) -> Iterator[tuple[tuple[bytes, ...], bytes]]:
        """(path below this bucket, value) of every plain key in it and in the buckets nested
        in it, in bolt's order: a whole object read in one pass. Do not change the store while
        walking."""
        return layout.walk(self.tx._kv, self._prefix)

    def walk_buckets(self) -> Iterator[tuple[bytes, list[tuple[tuple[bytes, ...], bytes]]]]:
        """(name, its `walk()` as a list) of every bucket nested in this one, in bolt's order:
        a whole collection read in one pass. Do not change the store while walking."""
        return layout.walk_buckets(self.tx._kv, self._prefix)

    def is_empty(self) -> bool:
        return next(self.items(), None) is None
