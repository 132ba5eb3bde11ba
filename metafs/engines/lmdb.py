"""The LMDB engine: a store in a directory (`data.mdb`, `lock.mdb`, `write.lock`), on one machine.

What only this module knows:

- **Key folding.** LMDB keys are limited to 511 bytes while a full key may be longer (a label
  key may be 4095 bytes). A full key longer than `DIRECT_MAX` is stored under a *folded* key:
  its first `DIRECT_MAX + 1` bytes followed by a 16-byte BLAKE2b of the whole full key, and the
  value is prefixed with the full key. Folded keys all have length `FOLDED_LEN`, which no
  direct key has. Their order is exact up to the prefix; the few entries sharing a folded
  prefix form one *group* that `_Cursor` sorts by full key, so iteration is still in full-key
  order and point lookups stay direct.
- **Map growth.** When the map is full, the write transaction is not lost: every change is
  logged, so the transaction is aborted, the map doubled (up to `max_map_size`), and the log
  replayed in a fresh write transaction, invisibly to the caller. A reader that meets a map
  grown by another process adopts its size.
- **One writer.** A write transaction holds `write.lock` (an flock, plus a thread lock) from
  its start to its end, so no other writer can commit between an abort and its replay.
- **Privacy.** The directory is created 0700 and every file 0600: the store holds every label.
- **A full disk.** LMDB copies every page it changes, so even a delete needs free pages, and
  on a full filesystem nothing could be deleted any more. The directory therefore holds a
  `reserve` file (`RESERVE_SIZE` bytes, allocated). When a commit finds the filesystem full,
  the reserve is given up (emptied: the empty file says the store met a full disk), so
  that what frees data can still commit. From then on a transaction that adds data is
  refused with ENOSPC before it commits, while one that removes at least as much as it adds
  goes on, until the reserve can be allocated again with `REFILL_MARGIN` to spare: someone
  freed space outside the store (what a removal frees stays in LMDB's file). Without the
  margin, the next write would take the reserve back from the very space its release gave,
  and commit into the pages the refused commit had written: a few writes accepted after a
  refusal, then refusals again. A short write at commit (several pages, the disk full in
  between) is reported by LMDB as EIO; on a filesystem with less free space than the
  reserve, it is ENOSPC too.
"""

from __future__ import annotations

import _thread
import errno
import fcntl
import mmap
import os
import stat

import lmdb

from ..codec import put_uvarint, read_uvarint
from ..contexts import suppress
from ..errors import (
    Conflict,
    CorruptStore,
    InvalidArgument,
    MetafsError,
    NotFound,
    PermissionDenied,
    StoreFull,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

DEFAULT_MAP_SIZE = 64 << 20
DEFAULT_MAX_MAP_SIZE = 1 << 40
DATA = "data.mdb"
LOCK = "lock.mdb"
WRITE_LOCK = "write.lock"
RESERVE = "reserve"
RESERVE_SIZE = 1 << 20
REFILL_MARGIN = RESERVE_SIZE // 2  # free beyond the reserve before writes resume after a refusal
MAPPED_LIMIT = 64 << 20  # release_memory() unmaps the store's pages beyond this

DIRECT_MAX = 400
_PREFIX_LEN = DIRECT_MAX + 1
_HASH_LEN = 16
FOLDED_LEN = _PREFIX_LEN + _HASH_LEN

# ---- full keys <-> LMDB keys ----------------------------------------------------------------


def lmdb_key(full_key: bytes) -> bytes:
    """The LMDB key under which the entry with this full key is stored."""
    if len(full_key) <= DIRECT_MAX:
        return full_key
    import hashlib  # here: it loads OpenSSL (2 ms), and keys this long are rare

    return full_key[:_PREFIX_LEN] + hashlib.blake2b(full_key, digest_size=_HASH_LEN).digest()


def pack_value(full_key: bytes, value: bytes) -> bytes:
    """The LMDB value for an entry: the value itself, or for a folded key, full key + value."""
    if len(full_key) <= DIRECT_MAX:
        return value
    return put_uvarint(len(full_key)) + full_key + value


def unpack(key: bytes, stored: bytes) -> tuple[bytes, bytes]:
    """(full key, value) of a stored LMDB entry."""
    if len(key) != FOLDED_LEN:
        return key, stored
    length, pos = read_uvarint(stored)
    return stored[pos : pos + length], stored[pos + length :]


def seek_key(full_key: bytes) -> bytes:
    """An LMDB key at or before every stored key whose full key is >= `full_key`."""
    return full_key if len(full_key) <= DIRECT_MAX else full_key[:_PREFIX_LEN]


class _Cursor:
    """Iterates stored entries in full-key order, sorting folded groups as it meets them."""

    def __init__(self, txn: lmdb.Transaction) -> None:
        self._cur: Any = txn.cursor()  # its keys and values are bytes (not memoryviews)
        self._group: list[tuple[bytes, bytes, bytes]] = []  # (full, value, lmdb key), reversed
        self._valid = False  # the LMDB cursor sits on an entry not yet yielded or grouped
        self._more = False  # with a group loaded: entries follow the group

    def seek(self, full_key: bytes) -> None:
        """Position at the first entry whose full key is >= `full_key`."""
        self._group = []
        self._valid = self._cur.set_range(seek_key(full_key))
        self._settle()
        if self._group:
            self._group = [e for e in self._group if e[0] >= full_key]
            if not self._group:
                self._after_group()

    def entries(self) -> Iterator[tuple[bytes, bytes, bytes]]:
        """Yield (full key, value, lmdb key) from the current position on."""
        while True:
            if self._group:
                yield self._group.pop()
                if not self._group:
                    self._after_group()
                continue
            if not self._valid:
                return
            for key, value in self._cur.iternext():  # direct keys at C speed
                if len(key) == FOLDED_LEN:
                    self._settle()
                    break
                yield key, value, key
            else:
                self._valid = False
                return

    def _after_group(self) -> None:
        self._valid = self._more and self._cur.next()
        self._settle()

    def _settle(self) -> None:
        """If the cursor is on a folded key, load its group into the buffer."""
        if not (self._valid and len(self._cur.key()) == FOLDED_LEN):
            return
        prefix = self._cur.key()[:_PREFIX_LEN]
        group = []
        while True:
            key = self._cur.key()
            full, value = unpack(key, self._cur.value())
            group.append((full, value, key))
            if not self._cur.next():
                self._more = False
                break
            nxt = self._cur.key()
            if len(nxt) != FOLDED_LEN or nxt[:_PREFIX_LEN] != prefix:
                self._cur.prev()
                self._more = True
                break
        group.sort(reverse=True)
        self._group = group
        self._valid = False


def _scan(txn: lmdb.Transaction, start: bytes, stop: bytes | None) -> Iterator[tuple[bytes, bytes]]:
    """(full key, value) for `start <= full key < stop`, in full-key order. Direct keys, nearly
    all of them, come straight off the LMDB cursor; from the first folded key on, the sorting
    `_Cursor` takes over. Direct and folded keys never interleave out of order (a direct key
    is shorter than a folded key's prefix), so handing over there loses and repeats nothing,
    and a direct key at or past `stop` ends the scan."""
    try:
        if len(start) <= DIRECT_MAX:
            cur: Any = txn.cursor()
            if not cur.set_range(start):
                return
            if stop is None:
                for key, value in cur.iternext():
                    if len(key) == FOLDED_LEN:
                        start = key[:_PREFIX_LEN]
                        break
                    yield key, value
                else:
                    return
            else:
                for key, value in cur.iternext():
                    if len(key) == FOLDED_LEN:
                        start = key[:_PREFIX_LEN]
                        break
                    if key >= stop:
                        return
                    yield key, value
                else:
                    return
        cursor = _Cursor(txn)
        cursor.seek(start)
        for full, value, _key in cursor.entries():
            if stop is not None and full >= stop:
                return
            yield full, value
    except lmdb.Error as exc:  # a damaged file
        raise CorruptStore(f"unreadable store: {exc}") from exc


def _get(txn: Any, key: bytes) -> bytes | None:
    try:
        if len(key) <= DIRECT_MAX:
            return txn.get(key)
        stored: bytes | None = txn.get(lmdb_key(key))
    except lmdb.Error as exc:  # a damaged file
        raise CorruptStore(f"unreadable store: {exc}") from exc
    if stored is None:
        return None
    length, pos = read_uvarint(stored)
    return stored[pos + length :]


# ---- the engine -----------------------------------------------------------------------------


def _normal_path(path: str | os.PathLike[str]) -> str:
    """`str(pathlib.PurePosixPath(path))`: no empty or "." parts, no trailing slash."""
    text = os.fspath(path)
    parts = [part for part in text.split("/") if part not in ("", ".")]
    lead = "/" if text.startswith("/") else ""
    if text.startswith("//") and not text.startswith("///"):
        lead = "//"
    return lead + "/".join(parts) or "."


class LmdbEngine:
    """An LMDB environment in a directory. Options of its own: `map_size` (the initial map,
    grown as needed) and `max_map_size` (beyond which a write fails with ENOSPC)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        create: bool = False,
        sync: bool = True,
        map_size: int = DEFAULT_MAP_SIZE,
        max_map_size: int = DEFAULT_MAX_MAP_SIZE,
    ) -> None:
        self.path = _normal_path(path)  # as pathlib would print it, without its imports
        self.location = str(path)
        self.readonly = readonly
        self.max_map_size = max_map_size
        self._reserve = os.path.join(self.path, RESERVE)  # a str: asked at every write
        lock = self._prepare(create)
        try:
            self.env = lmdb.Environment(
                str(self.path),
                map_size=min(map_size, max_map_size),
                readonly=readonly,
                sync=sync,
                mode=0o600,
                lock=lock,
                max_dbs=0,
                max_readers=512,
            )
        except lmdb.DiskError as exc:
            raise StoreFull(f'store "{self.path}"') from exc
        except lmdb.InvalidError as exc:
            raise CorruptStore(f'store "{self.path}" is not an LMDB environment') from exc
        except lmdb.Error as exc:
            raise MetafsError(f'store "{self.path}": {exc}') from exc
        if lock:
            self.env.reader_check()
        self._thread_lock = _thread.allocate_lock()  # threading.Lock
        self._lock_fd = -1
        if not readonly:
            self._lock_fd = os.open(
                os.path.join(self.path, WRITE_LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            self._make_reserve()

    def _prepare(self, create: bool) -> bool:
        """Check (or make) the directory before LMDB opens it, so that every way of getting
        it wrong is one clear error; whether readers may take LMDB's reader lock. A user who
        may read the store but not write `lock.mdb` reads without it: LMDB then cannot keep
        a writer from reusing the pages of a snapshot still being read, which commands that
        read briefly (`images ls`, `dump`) can afford on a store they cannot write to."""
        where = f'store "{self.path}"'
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            if self.readonly:
                raise NotFound(where) from None
            if not create:
                hint = "to make a new store there, create the directory"
                raise NotFound(f"{where} ({hint})") from None
            try:
                os.makedirs(self.path, mode=0o700)
            except OSError as exc:
                raise _os_error(where, exc) from exc
            return True
        except OSError as exc:
            raise _os_error(where, exc) from exc
        if not stat.S_ISDIR(info.st_mode):
            raise InvalidArgument(f"{where} is not a directory")
        if not os.access(self.path, os.R_OK | os.X_OK):
            raise PermissionDenied(f"cannot read {where}")
        data = os.path.join(self.path, DATA)
        if not os.path.exists(data):
            if self.readonly or not (create or not any(os.scandir(self.path))):
                raise NotFound(f"{where} (the directory holds no {DATA})")
        elif not os.access(data, os.R_OK):
            raise PermissionDenied(f"cannot read {where}")
        writable = os.access(self.path, os.W_OK) and all(
            not os.path.exists(path) or os.access(path, os.W_OK)
            for path in (data, os.path.join(self.path, WRITE_LOCK))
        )
        if not self.readonly and not writable:
            raise PermissionDenied(f"cannot write {where}")
        lock_file = os.path.join(self.path, LOCK)
        if os.path.exists(lock_file):
            return os.access(lock_file, os.R_OK | os.W_OK)
        return writable

    def close(self) -> None:
        self.env.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def sync(self) -> None:
        self.env.sync(True)

    def space(self) -> tuple[int, int]:
        """The pages in use; the free space of the filesystem holding the store, within
        `max_map_size`."""
        used = (self.env.info()["last_pgno"] + 1) * self.env.stat()["psize"]
        fs = os.statvfs(self.path)
        return used, max(min(fs.f_bavail * fs.f_frsize, self.max_map_size - used), 0)

    def generation(self) -> int:
        """The id of the last committed transaction, by any process. Read off a new read
        transaction's snapshot: a quarter of what `env.info()` costs."""
        txn = self._begin(write=False)
        generation: int = txn.id()
        txn.abort()
        return generation

    def reader(self) -> LmdbReader:
        return LmdbReader(self._begin(write=False))

    def writer(self) -> LmdbWriter:
        if self.readonly:
            raise InvalidArgument(f'store "{self.path}" is open read-only')
        self._thread_lock.acquire()
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        try:
            return LmdbWriter(self)
        except BaseException:
            self._unlock()
            raise

    def _unlock(self) -> None:
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def backup(self, dest: str) -> None:
        """A compacted copy made inside one read transaction: consistent whatever writers do
        meanwhile. `dest` must not exist, or be an empty directory."""
        from pathlib import Path  # here: a one-shot command need not load it

        target = Path(dest)
        try:
            target.mkdir(mode=0o700, parents=True)
        except FileExistsError:
            if not target.is_dir() or any(target.iterdir()):
                raise InvalidArgument(f'backup "{dest}": exists and is not empty') from None
        except OSError as exc:
            raise _os_error(f'backup "{dest}"', exc) from exc
        try:
            self.env.copy(str(target), compact=True)
            os.chmod(target / DATA, 0o600)
        except lmdb.Error as exc:
            raise MetafsError(f'backup "{dest}": {exc}') from exc

    def release_memory(self) -> None:
        """Unmap the store's pages once more than `MAPPED_LIMIT` of them are resident here."""
        if _resident_file_bytes() > MAPPED_LIMIT:
            self.release_pages()

    def release_pages(self) -> None:
        """Unmap the store's data from this process: the pages stay in the page cache and map
        back on the next read. LMDB reads through a shared mapping of the whole file, so a
        long-lived reader otherwise counts every page it ever read as its resident memory, and
        mapped pages are the last the kernel reclaims."""
        import ctypes  # here: a one-shot command need not load it

        libc = ctypes.CDLL(None, use_errno=True)
        data = os.path.realpath(os.path.join(self.path, DATA))
        with open("/proc/self/maps") as maps:
            ranges = [line.split(None, 1)[0] for line in maps if line.rstrip("\n").endswith(data)]
        for span in ranges:
            start, end = (int(edge, 16) for edge in span.split("-"))
            libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), mmap.MADV_DONTNEED)

    def _has_reserve(self) -> bool:
        try:
            return os.stat(self._reserve).st_size == RESERVE_SIZE
        except FileNotFoundError:
            return False

    def _make_reserve(self) -> bool:
        """Allocate the reserve if it is missing or was given up; False if the filesystem has
        no room for it (after a give-up: no room for it and `REFILL_MARGIN` more)."""
        try:
            size = os.stat(self._reserve).st_size
        except FileNotFoundError:
            size = None
        if size == RESERVE_SIZE:
            return True
        if size is not None:
            fs = os.statvfs(self.path)
            if fs.f_bavail * fs.f_frsize < RESERVE_SIZE + REFILL_MARGIN:
                return False
        partial = self._reserve + ".new"
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, RESERVE_SIZE)
            finally:
                os.close(fd)
            os.rename(partial, self._reserve)
            return True
        except OSError as exc:
            with suppress(FileNotFoundError):
                os.unlink(partial)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                return False
            raise _os_error(f'store "{self.path}"', exc) from exc

    def _give_up_reserve(self) -> None:
        """Free the reserve's space, leaving the file empty: the store is full until the
        reserve is taken again."""
        fd = os.open(self._reserve, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        os.close(fd)

    def _full(self, exc: lmdb.Error) -> bool:
        """Whether a failed commit failed for lack of space: ENOSPC, or EIO (a short write)
        on a filesystem left with less free space than the reserve."""
        text = str(exc)
        if "No space left" in text or "quota" in text.lower():
            return True
        if "Input/output error" not in text:
            return False
        fs = os.statvfs(self.path)
        return fs.f_bavail * fs.f_frsize < RESERVE_SIZE

    def _begin(self, write: bool) -> lmdb.Transaction:
        try:
            return self.env.begin(write=write)
        except lmdb.MapResizedError:
            self.env.set_mapsize(0)  # adopt the size another process grew the map to
            return self.env.begin(write=write)

    def _grow(self) -> None:
        size = self.env.info()["map_size"]
        if size >= self.max_map_size:
            raise StoreFull(f'store "{self.path}" reached its limit of {self.max_map_size} bytes')
        try:
            self.env.set_mapsize(min(size * 2, self.max_map_size))
        except lmdb.Error as exc:
            raise StoreFull(f'store "{self.path}"') from exc


def _os_error(where: str, exc: OSError) -> MetafsError:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PermissionDenied(where)
    if exc.errno == errno.ENOSPC:
        return StoreFull(where)
    if exc.errno == errno.ENOTDIR:
        return InvalidArgument(f"{where} is not a directory")
    return MetafsError(f"{where}: {exc.strerror}")


def _resident_file_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1]) * 1024
    return 0


class LmdbReader:
    """A read transaction: one consistent snapshot."""

    __slots__ = ("_txn",)

    def __init__(self, txn: lmdb.Transaction) -> None:
        self._txn = txn

    def get(self, key: bytes) -> bytes | None:
        return _get(self._txn, key)

    def items(self, start: bytes = b"", stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        return _scan(self._txn, start, stop)

    def close(self) -> None:
        self._txn.abort()


# A change, as logged for replay: (key, value) for a put, (key, None) for a delete,
# (start, stop) as a range delete's log entry is told apart by `_RANGE`.
_RANGE = object()


class LmdbWriter:
    """The write transaction, holding the engine's writer lock until it commits or aborts."""

    def __init__(self, engine: LmdbEngine) -> None:
        self._engine = engine
        self._txn = engine._begin(write=True)
        self._base = self._txn.id()
        self._log: list[tuple[object, bytes, bytes | None]] = []
        self._epoch = 0  # counts replays: iterators re-seek in the new transaction
        self._open = True
        # Without the reserve (a full disk), what the transaction adds minus what it
        # removes, in bytes of keys and values: it may commit only if that is not positive.
        self._growth: int | None = None if engine._has_reserve() else 0

    def get(self, key: bytes) -> bytes | None:
        return _get(self._txn, key)

    def items(self, start: bytes = b"", stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """As a reader's, and valid across a replay (a write elsewhere that grew the map): it
        goes on in the new transaction just after the last key it gave."""
        epoch = self._epoch
        while True:
            for key, value in _scan(self._txn, start, stop):
                yield key, value
                if self._epoch != epoch:
                    epoch, start = self._epoch, key + b"\x00"
                    break
            else:
                return

    def put(self, key: bytes, value: bytes) -> None:
        if self._growth is not None:
            old = self.get(key)
            self._growth += len(value) - (len(old) if old is not None else -len(key))
        self._change((None, key, value))

    def delete(self, key: bytes) -> None:
        if self._growth is not None:
            old = self.get(key)
            self._growth -= 0 if old is None else len(key) + len(old)
        self._change((None, key, None))

    def delete_range(self, start: bytes, stop: bytes) -> None:
        if self._growth is not None:
            self._growth -= sum(len(k) + len(v) for k, v in self.items(start, stop))
        self._change((_RANGE, start, stop))

    def _change(self, change: tuple[object, bytes, bytes | None]) -> None:
        self._log.append(change)
        try:
            self._apply(change)
        except lmdb.MapFullError:
            self._replay()
        except lmdb.DiskError as exc:  # a transaction too big for memory, spilling to disk
            raise StoreFull(f'store "{self._engine.path}"') from exc

    def _apply(self, change: tuple[object, bytes, bytes | None]) -> None:
        how, key, value = change
        txn = self._txn
        if how is _RANGE:
            cursor = _Cursor(txn)
            cursor.seek(key)
            doomed = []
            for full, _value, stored in cursor.entries():
                if value is not None and full >= value:
                    break
                doomed.append(stored)
            for stored in doomed:
                txn.delete(stored)
        elif value is None:
            txn.delete(lmdb_key(key))
        else:
            txn.put(lmdb_key(key), pack_value(key, value))

    def _replay(self) -> None:
        """Abort, grow the map, and apply the whole log again in a new write transaction."""
        while True:
            self._txn.abort()
            self._epoch += 1
            self._engine._grow()
            self._txn = self._engine._begin(write=True)
            if self._txn.id() != self._base:
                raise Conflict("the store changed while the map was being resized")
            try:
                for change in self._log:
                    self._apply(change)
                return
            except lmdb.MapFullError:
                continue

    def commit(self) -> None:
        engine = self._engine
        try:
            if self._growth is not None and self._growth > 0 and not engine._make_reserve():
                raise StoreFull(f'store "{engine.path}": its filesystem is full')
            while True:
                try:
                    self._txn.commit()
                    return
                except lmdb.MapFullError:
                    self._replay()
                except lmdb.Error as exc:
                    if not engine._full(exc):
                        raise MetafsError(f'store "{engine.path}": {exc}') from exc
                    engine._give_up_reserve()  # so that deletes can commit
                    raise StoreFull(f'store "{engine.path}": its filesystem is full') from exc
        except BaseException:
            self._txn.abort()
            raise
        finally:
            self._end()

    def abort(self) -> None:
        if self._open:
            self._txn.abort()
            self._end()

    close = abort

    def _end(self) -> None:
        if self._open:
            self._open = False
            self._engine._unlock()
