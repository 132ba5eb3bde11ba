"""The LMDB store: transactions and a bolt-like bucket API over the key layout.

`Store.read()` and `Store.write()` are context managers yielding a `Txn`; a write transaction
commits (and, by default, syncs) when the block ends without an exception and is the only way
anything changes. Inside it, `Bucket` offers what bolt's bucket does: get, put, delete, nested
buckets, ordered iteration and seek.

When the LMDB map is full, the transaction is not lost: every mutation is logged, so the
transaction is aborted, the map doubled, and the log replayed in a fresh write transaction —
invisible to the code inside the `with` block. Several processes may share one store: a write
transaction holds the store's writer lock (`write.lock`, an flock, plus a thread lock) from its
first operation to its end, so no other writer can commit between the abort and the replay; a
reader that meets a map grown by another process adopts its size.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path

import lmdb

from . import layout
from .errors import (
    AlreadyExists,
    Conflict,
    CorruptStore,
    InvalidArgument,
    MetafsError,
    NotFound,
    StoreFull,
)

DEFAULT_MAP_SIZE = 64 << 20
DEFAULT_MAX_MAP_SIZE = 1 << 40
WRITE_LOCK = "write.lock"
_libc = ctypes.CDLL(None, use_errno=True)


class Store:
    """One LMDB environment in a directory. Open it once per process, never across fork()."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        sync: bool = True,
        map_size: int = DEFAULT_MAP_SIZE,
        max_map_size: int = DEFAULT_MAX_MAP_SIZE,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.max_map_size = max_map_size
        if not readonly:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InvalidArgument(f'store "{self.path}": {exc.strerror}') from exc
        elif not (self.path / "data.mdb").exists():
            raise NotFound(f'store "{self.path}"')
        try:
            self.env = lmdb.Environment(
                str(self.path),
                map_size=map_size,
                readonly=readonly,
                sync=sync,
                max_dbs=0,
                max_readers=512,
            )
        except lmdb.DiskError as exc:
            raise StoreFull(f'store "{self.path}"') from exc
        except lmdb.InvalidError as exc:
            raise CorruptStore(f'store "{self.path}" is not an LMDB environment') from exc
        except lmdb.Error as exc:
            raise MetafsError(f'store "{self.path}": {exc}') from exc
        self.env.reader_check()
        self._thread_lock = threading.Lock()
        self._writer: int | None = None  # the thread inside a write transaction
        self._lock_fd = -1
        if not readonly:
            self._lock_fd = os.open(self.path / WRITE_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)

    @classmethod
    def open(cls, path: str | os.PathLike[str], **options: object) -> Store:
        return cls(path, **options)  # type: ignore[arg-type]

    def close(self) -> None:
        self.env.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sync(self) -> None:
        """Flush a store opened with `sync=False` to disk."""
        self.env.sync(True)

    def release_pages(self) -> None:
        """Unmap the store's data from this process: the pages stay in the page cache and map
        back on the next read. LMDB reads through a shared mapping of the whole file, so a
        long-lived reader otherwise counts every page it ever read as its resident memory, and
        mapped pages are the last the kernel reclaims."""
        data = str((self.path / "data.mdb").resolve())
        with open("/proc/self/maps") as maps:
            ranges = [line.split(None, 1)[0] for line in maps if line.rstrip("\n").endswith(data)]
        for span in ranges:
            start, end = (int(edge, 16) for edge in span.split("-"))
            _libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), mmap.MADV_DONTNEED)

    def space(self) -> tuple[int, int]:
        """(bytes the store's data takes, bytes it may still grow by): its pages in use, and
        the free space of the filesystem holding it, within the store's size limit."""
        used = (self.env.info()["last_pgno"] + 1) * self.env.stat()["psize"]
        fs = os.statvfs(self.path)
        return used, max(min(fs.f_bavail * fs.f_frsize, self.max_map_size - used), 0)

    def generation(self) -> int:
        """The id of the last committed transaction, by any process: a cheap change counter.
        Read off a new read transaction's snapshot: a quarter of what `env.info()` costs (the
        mount asks on every request)."""
        txn = self._begin(write=False)
        generation: int = txn.id()
        txn.abort()
        return generation

    def _begin(self, write: bool) -> lmdb.Transaction:
        try:
            return self.env.begin(write=write)
        except lmdb.MapResizedError:
            self.env.set_mapsize(0)  # adopt the size another process grew the map to
            return self.env.begin(write=write)

    def read(self) -> Reading:
        """A read-only snapshot of the store: `with store.read() as tx: ...`."""
        return Reading(self)

    @contextmanager
    def write(self) -> Iterator[Txn]:
        """A write transaction: atomic, committed when the block ends, aborted on exception."""
        if self.readonly:
            raise InvalidArgument(f'store "{self.path}" is open read-only')
        with self._writer_lock():
            tx = Txn(self, self._begin(write=True), write=True)
            try:
                yield tx
                tx._run_before_commit()
            except BaseException:
                tx._txn.abort()
                raise
            tx._commit()

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        """Exclude every other metafs writer, in this process and in others, for a whole write
        transaction, replays after a map resize included."""
        if self._writer == threading.get_ident():
            raise InvalidArgument("a write transaction is already open in this thread")
        with self._thread_lock:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._writer = threading.get_ident()
            try:
                yield
            finally:
                self._writer = None
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _grow(self) -> None:
        size = self.env.info()["map_size"]
        if size >= self.max_map_size:
            raise StoreFull(f'store "{self.path}" reached its limit of {self.max_map_size} bytes')
        try:
            self.env.set_mapsize(min(size * 2, self.max_map_size))
        except lmdb.Error as exc:
            raise StoreFull(f'store "{self.path}"') from exc


class Reading:
    """The context of `Store.read()`: a class rather than a generator, since the mount begins
    one for every object it reads."""

    __slots__ = ("_store", "_txn")

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> Txn:
        self._txn = self._store._begin(write=False)
        return Txn(self._store, self._txn, write=False)

    def __exit__(self, *exc: object) -> None:
        self._txn.abort()


class Txn:
    """A transaction; `root()` and `bucket(*path)` lead to the data."""

    def __init__(self, store: Store, txn: lmdb.Transaction, *, write: bool) -> None:
        self.store = store
        self._txn = txn
        self.writable = write
        self._log: list[tuple[bytes, bytes | None]] = []
        self._base = txn.id()
        self._before_commit: dict[Hashable, Callable[[], object]] = {}

    def root(self) -> Bucket:
        return Bucket(self, ())

    def bucket(self, *path: bytes) -> Bucket | None:
        """The bucket at `path`, or None if it (or any bucket on the way) does not exist."""
        prefix = layout.bucket_prefix(path)
        if path and self._get(prefix) is None:
            return None
        return Bucket(self, path, prefix)

    def read_bucket(self, *path: bytes) -> list[tuple[tuple[bytes, ...], bytes]] | None:
        """What `Bucket.walk()` gives for the bucket at `path`, as a list; None if there is
        no such bucket. One cursor pass where `bucket(*path).walk()` is a lookup and a pass."""
        return layout.read_bucket(self._txn, layout.bucket_prefix(path))

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

    def _run_before_commit(self) -> None:
        while self._before_commit:
            key = next(iter(self._before_commit))
            self._before_commit.pop(key)()

    # -- raw access by full key; every mutation is logged for replay after a map resize --

    def _get(self, full: bytes) -> bytes | None:
        stored = self._txn.get(layout.lmdb_key(full))
        if stored is None:
            return None
        return layout.unpack(layout.lmdb_key(full), stored)[1]

    def _put(self, full: bytes, value: bytes) -> None:
        self._mutate(layout.lmdb_key(full), layout.pack_value(full, value))

    def _delete_lmdb(self, key: bytes) -> None:
        self._mutate(key, None)

    def _mutate(self, key: bytes, stored: bytes | None) -> None:
        if not self.writable:
            raise InvalidArgument("write in a read-only transaction")
        self._log.append((key, stored))
        try:
            self._apply(key, stored)
        except lmdb.MapFullError:
            self._replay()
        except lmdb.DiskError as exc:
            raise StoreFull(f'store "{self.store.path}"') from exc

    def _apply(self, key: bytes, stored: bytes | None) -> None:
        if stored is None:
            self._txn.delete(key)
        else:
            self._txn.put(key, stored)

    def _replay(self) -> None:
        """Abort, grow the map, and apply the whole log again in a new write transaction."""
        while True:
            self._txn.abort()
            self.store._grow()
            self._txn = self.store._begin(write=True)
            if self._txn.id() != self._base:
                self._txn.abort()
                raise Conflict("the store changed while the map was being resized")
            try:
                for key, stored in self._log:
                    self._apply(key, stored)
                return
            except lmdb.MapFullError:
                continue

    def _commit(self) -> None:
        while True:
            try:
                self._txn.commit()
                return
            except lmdb.MapFullError:
                self._replay()
            except lmdb.DiskError as exc:
                raise StoreFull(f'store "{self.store.path}"') from exc

    def _cursor(self) -> layout.Cursor:
        return layout.Cursor(self._txn)


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
        return self.tx._get(self._key(key))

    def _require(self) -> None:
        """Refuse writes through the handle of a deleted bucket: they would leave entries that
        no bucket holds (and that its parent would list as a bucket `bucket()` cannot find)."""
        if self.path and self.tx._get(self._prefix) is None:
            raise NotFound(f"{self!r} does not exist (any more)")

    def put(self, key: bytes, value: bytes) -> None:
        if not key:
            raise InvalidArgument("empty key")
        self._require()
        if self.tx._get(self._sub(key)) is not None:
            raise InvalidArgument(f"{key!r} is a bucket in {self!r}, not a key")
        self.tx._put(self._key(key), value)

    def delete(self, key: bytes) -> None:
        """Delete plain key `key`; a missing key is no error, as in bolt."""
        full = self._key(key)
        if self.tx._get(full) is not None:
            self.tx._delete_lmdb(layout.lmdb_key(full))

    def bucket(self, name: bytes) -> Bucket | None:
        prefix = self._sub(name)
        if self.tx._get(prefix) is None:
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
        if self.tx._get(self._sub(name)) is not None:
            raise AlreadyExists(f"bucket {name!r} in {self!r}")
        if self.tx._get(self._key(name)) is not None:
            raise InvalidArgument(f"{name!r} is a key in {self!r}, not a bucket")
        self.tx._put(self._sub(name), b"")
        return Bucket(self.tx, (*self.path, name))

    def create_bucket_if_not_exists(self, name: bytes) -> Bucket:
        return self.bucket(name) or self.create_bucket(name)

    def delete_bucket(self, name: bytes) -> None:
        """Delete the nested bucket `name` and everything in it."""
        prefix = self._sub(name)
        if self.tx._get(prefix) is None:
            raise NotFound(f"bucket {name!r} in {self!r}")
        cursor = self.tx._cursor()
        cursor.seek(prefix)
        doomed = []
        for full, _value, key in cursor.entries():
            if not full.startswith(prefix):
                break
            doomed.append(key)
        for key in doomed:
            self.tx._delete_lmdb(key)

    def items(self, start: bytes | None = None) -> Iterator[tuple[bytes, bytes | None]]:
        """(name, value) of each entry in bolt's order from `start` on; None marks a bucket.

        As in bolt, do not change the bucket while iterating over it; changing other buckets is
        fine, even when that grows the map and replays the transaction.
        """
        prefix = self._prefix
        skip = len(prefix)
        seek: bytes | None = prefix + layout.component(start, layout.BUCKET) if start else prefix
        txn, cursor = None, None
        while seek is not None:
            if self.tx._txn is not txn:  # first time round, or a replay made a new transaction
                txn, cursor = self.tx._txn, self.tx._cursor()
            cursor.seek(seek)
            seek = None
            for full, value, _key in cursor.entries():
                if not full.startswith(prefix):
                    return
                if len(full) == skip:
                    continue  # this bucket's own marker
                name, kind, used = layout.split_first(full[skip:])
                yield name, (value if kind == layout.KEY else None)
                if kind == layout.BUCKET or self.tx._txn is not txn:
                    # past what the bucket holds, or on in a new cursor after a replay
                    seek = layout.successor(full[: skip + used])
                    break

    def walk(self) -> Iterator[tuple[tuple[bytes, ...], bytes]]:
        """(path below this bucket, value) of every plain key in it and in the buckets nested
        in it, in bolt's order: a whole object read in one pass. Do not change the store while
        walking."""
        return layout.walk(self.tx._txn, self._prefix)

    def walk_buckets(self) -> Iterator[tuple[bytes, list[tuple[tuple[bytes, ...], bytes]]]]:
        """(name, its `walk()` as a list) of every bucket nested in this one, in bolt's order:
        a whole collection read in one pass. Do not change the store while walking."""
        return layout.walk_buckets(self.tx._txn, self._prefix)

    def is_empty(self) -> bool:
        return next(self.items(), None) is None
