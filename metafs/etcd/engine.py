"""The etcd engine: a store as a key range of an etcd cluster, shared by every host that names it.

Locator: `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]` (PREFIX: default `metafs`). Under
`PREFIX/` the engine keeps:

- `PREFIX/d` + full key: the data, full keys as they are (etcd has no key length limit below
  its request size, so no folding);
- `PREFIX/c`: the *commit key*, rewritten by every commit; it also marks that the store exists.

What only this module knows:

- **Snapshots.** A reader reads everything at one etcd revision, fixed by its first request
  (no round trip to begin one). What it read is kept for its lifetime, so a key inside a
  range it already read costs no second round trip.
- **The single writer, optimistically.** A writer reads at one revision R and buffers its
  changes here; `commit()` sends them as one etcd Txn guarded by "the commit key's
  mod_revision <= R": if any writer on any host committed since R, nothing is applied and
  `Conflict` (EAGAIN) says to try again. Writers of one process take turns on a lock.
  Changes are folded to their final state first (etcd refuses a Txn that puts and deletes one
  key, or puts inside a range it deletes: such a range is cut around the puts).
- **Limits.** One transaction is one etcd request: at most `--max-txn-ops` operations
  (default 128) and `--max-request-bytes` (default 1.5 MiB). A bigger one is refused whole
  (`RequestTooLarge`, EFBIG), never applied in part; docs/etcd.md says which settings metafs
  needs.
- **Lost members.** Requests go to the first endpoint that answers and are retried while the
  cluster has no leader. A commit whose answer was lost is resolved by reading the commit
  key (it holds a token of the transaction) before it is sent again; when that cannot tell,
  the commit fails with EIO.
- **generation()** is the revision of the last change under the prefix, fed by a watch (no
  round trip per call), and moved on at once by this process's own commits.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import Conflict, InvalidArgument, MetafsError, NotFound
from .client import EtcdClient, RequestTooLarge, Unavailable, range_end
from .proto import etcd_pb2 as pb

DEFAULT_PREFIX = "metafs"
QUOTA = 2 << 30  # etcd's default --quota-backend-bytes


@dataclass(frozen=True)
class Locator:
    endpoints: tuple[str, ...]
    prefix: str

    @classmethod
    def parse(cls, text: str) -> Locator:
        """`etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`."""
        scheme, sep, rest = text.partition("://")
        if scheme != "etcd" or not sep:
            raise InvalidArgument(f'store "{text}": not an etcd:// locator')
        hosts, _, prefix = rest.partition("/")
        endpoints = tuple(host for host in hosts.split(",") if host)
        for endpoint in endpoints:
            host, colon, port = endpoint.rpartition(":")
            if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise InvalidArgument(f'store "{text}": "{endpoint}" is not HOST:PORT')
        if not endpoints:
            raise InvalidArgument(f'store "{text}": no etcd endpoint')
        return cls(endpoints, prefix.strip("/") or DEFAULT_PREFIX)


class EtcdEngine:
    """One store on an etcd cluster. Options: none beyond the common ones (`sync` is moot:
    etcd commits through its raft log, durably, on a majority of members)."""

    def __init__(
        self,
        locator: str,
        *,
        readonly: bool = False,
        create: bool = False,
        sync: bool = True,
        timeout: float = 2.0,
        retry_for: float = 4.0,
    ) -> None:
        self.location = locator
        self.readonly = readonly
        where = Locator.parse(locator)
        base = where.prefix.encode() + b"/"
        self._data = base + b"d"
        self._data_end = range_end(self._data)
        self._commit_key = base + b"c"
        self.client = EtcdClient(where.endpoints, timeout=timeout, retry_for=retry_for)
        self._lock = threading.Lock()
        self._generation = 0
        self._commits: list[int] = []  # revisions of this engine's last commits, in order
        self._commits_dropped = 0  # how many commits came before those
        self._watch: object | None = None
        self._watch_lock = threading.Lock()
        try:
            self._ensure_exists(create and not readonly)
        except BaseException:
            self.client.close()
            raise

    def _ensure_exists(self, create: bool) -> None:
        answer = self.client.range(self._commit_key)
        self._generation = answer.header.revision
        if answer.kvs:
            return
        if not create:  # said as the LMDB engine says it
            where = f'store "{self.location}"'
            hint = "" if self.readonly else " (to make a new store there, import into it)"
            raise NotFound(where + hint)
        absent = pb.Compare(key=self._commit_key, target=pb.Compare.VERSION, version=0)
        made = pb.RequestOp(request_put=pb.PutRequest(key=self._commit_key, value=b"created"))
        self.client.txn([absent], [made], retry=True)  # lost the race: made by another, fine

    def close(self) -> None:
        with self._watch_lock:
            if self._watch is not None:
                self._watch.close()  # type: ignore[attr-defined]
                self._watch = None
        self.client.close()

    def sync(self) -> None:
        """Nothing to do: a commit is durable when etcd acknowledges it."""

    def space(self) -> tuple[int, int]:
        """(bytes of etcd's database in use, bytes left below etcd's default quota): the whole
        cluster's, every prefix's (etcd does not tell its --quota-backend-bytes)."""
        status = self.client.status()
        return status.db_size_in_use or status.db_size, max(QUOTA - status.db_size, 0)

    def release_memory(self) -> None:
        """Nothing is held between transactions."""

    def reader(self) -> EtcdReader:
        return EtcdReader(self)

    def writer(self) -> EtcdWriter:
        if self.readonly:
            raise InvalidArgument(f'store "{self.location}" is open read-only')
        self._lock.acquire()
        return EtcdWriter(self)

    def generation(self) -> int:
        """The revision of the last change under the prefix seen by the watch (started on the
        first call), or of this process's last commit."""
        if self._watch is None:
            self._start_watch()
        return self._generation

    def _start_watch(self) -> None:
        with self._watch_lock:
            if self._watch is not None:
                return
            start = self.client.range(self._commit_key).header.revision
            self._advance(start)
            self._watch = self.client.watch(
                self._commit_key, self._commit_key + b"\0", start + 1, self._on_change
            )

    def _on_change(self, revision: int, events: object) -> None:
        self._advance(revision)

    def _committed(self, revision: int) -> None:
        self._commits.append(revision)
        if len(self._commits) > 4096:
            del self._commits[:2048]
            self._commits_dropped += 2048
        self._advance(revision)

    def _advance(self, revision: int) -> None:
        if revision > self._generation:
            self._generation = revision  # one assignment: atomic for the mount's threads

    def backup(self, dest: str) -> None:
        """Copy every entry, read at one revision, into the new store `dest` (any locator
        the store factory takes), in one transaction there."""
        from ..engines import open_engine

        target = open_engine(dest, create=True)
        try:
            writer = target.writer()
            try:
                if next(writer.items(), None) is not None:
                    raise InvalidArgument(f'backup "{dest}": exists and is not empty')
                with self.reader() as reader:
                    for key, value in reader.items():
                        writer.put(key, value)
                writer.commit()
            finally:
                writer.abort()
        finally:
            target.close()


# a snapshot that has read this many keys one by one reads the range they share in one go:
# a transaction making many objects (an import, a bulk create) then costs a few round trips,
# not one for each key it checks
LOAD_AFTER = 64
_RECENT = 16  # ranges kept as lists for items() to serve again


class _Snapshot:
    """Reads at one revision, remembering everything it read: a key read before, or inside a
    range read whole, costs no second round trip.

    The revision is that of the first read, which costs no extra round trip: to anyone else
    the snapshot began then. Only this process could tell, by committing between the
    beginning and the first read: then the snapshot reads just before that commit."""

    # a reader's first read asks the leader: a snapshot then holds every commit made before it
    # began, on any host; a writer's may be the member's own (its commit guard catches what
    # the member had not applied yet)
    _first_from_leader = True

    def __init__(self, engine: EtcdEngine) -> None:
        self._engine = engine
        self.revision = 0
        self._commits_before = engine._commits_dropped + len(engine._commits)
        self._values: dict[bytes, bytes | None] = {}  # every key read; None: absent
        self._covered: list[tuple[bytes, bytes | None]] = []  # ranges read whole, disjoint,
        self._lows: list[bytes] = []  # in order (stop None: to the end), and their starts
        self._recent: list[tuple[bytes, bytes | None, list[bytes], list[bytes]]] = []
        self._missed: list[bytes] = []  # keys read one by one since the last range read
        self._loads = 0  # ranges read because of them

    def _pin(self) -> None:
        """Read just before this process's first commit since the snapshot began, if any."""
        engine = self._engine
        first = max(self._commits_before - engine._commits_dropped, 0)  # (begun long ago)
        if first < len(engine._commits):
            self.revision = engine._commits[first] - 1

    def _range(self, key: bytes, end: bytes = b"", limit: int = 0) -> pb.RangeResponse:
        """Read at the snapshot's revision, answered by the member itself (no round trip to
        the leader). The first read fixes the revision: for a writer, the member's own unless
        it has not yet applied a revision this process knows of (its own commits, the watch,
        the store's opening); for a reader, and a writer whose member lags, the leader's."""
        engine = self._engine
        if not self.revision:
            self._pin()
        if self.revision:
            return engine.client.range(
                key, end, revision=self.revision, limit=limit, serializable=True
            )
        answer = engine.client.range(
            key, end, limit=limit, serializable=not self._first_from_leader
        )
        if answer.header.revision < engine._generation:  # it lags what this process knows
            answer = engine.client.range(key, end, limit=limit)
        self.revision = answer.header.revision
        return answer

    def _is_covered(self, key: bytes) -> bool:
        i = bisect.bisect_right(self._lows, key) - 1
        if i < 0:
            return False
        stop = self._covered[i][1]
        return stop is None or key < stop

    def get(self, key: bytes) -> bytes | None:
        if key in self._values:
            return self._values[key]
        if self._is_covered(key):
            return None
        self._missed.append(key)
        if len(self._missed) > LOAD_AFTER:
            # the range the keys share, a byte wider each time: keys read in order would
            # otherwise load one narrow range after another
            shared = _common_prefix(self._missed)
            self._loads += 1
            prefix = shared[: max(len(shared) - self._loads, 0)]
            self._missed = []
            stop = range_end(prefix) if prefix.strip(b"\xff") else None
            for _ in self._fetch(prefix, stop):
                pass
            if key.startswith(prefix):
                return self._values.get(key)
        answer = self._range(self._engine._data + key)
        value = answer.kvs[0].value if answer.kvs else None
        self._values[key] = value
        return value

    def items(self, start: bytes = b"", stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        for low, high, keys, values in reversed(self._recent):
            if low <= start and (high is None or (stop is not None and stop <= high)):
                return _serve(keys, values, start, stop)
        return self._fetch(start, stop)

    def _fetch(self, start: bytes, stop: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        """Read [start, stop) page by page, each page remembered before it is given out: a
        caller that stops early (the store skipping past a nested bucket) and asks again
        further on is answered from here."""
        engine = self._engine
        skip = len(engine._data)
        end = engine._data_end if stop is None else engine._data + stop
        while True:
            answer = self._range(engine._data + start, end, _page())
            keys = [kv.key[skip:] for kv in answer.kvs]
            values = [kv.value for kv in answer.kvs]
            more = answer.more and bool(keys)
            high = keys[-1] + b"\0" if more else stop
            self._values.update(zip(keys, values, strict=True))
            self._cover(start, high)
            self._recent.append((start, high, keys, values))
            if len(self._recent) > _RECENT:
                del self._recent[0]
            yield from zip(keys, values, strict=True)
            if not more:
                return
            start = high  # type: ignore[assignment]

    def _cover(self, start: bytes, stop: bytes | None) -> None:
        """Add [start, stop) to the ranges read whole, merging those it touches."""
        kept = []
        for low, high in self._covered:
            if (high is not None and high < start) or (stop is not None and low > stop):
                kept.append((low, high))
            else:
                start = min(low, start)
                stop = None if high is None or stop is None else max(high, stop)
        kept.append((start, stop))
        kept.sort(key=lambda interval: interval[0])
        self._covered = kept
        self._lows = [low for low, _ in kept]


def _common_prefix(keys: list[bytes]) -> bytes:
    """The longest prefix of every key: that of the least and the greatest."""
    low, high = min(keys), max(keys)
    n = 0
    while n < len(low) and low[n] == high[n]:
        n += 1
    return low[:n]


def _serve(
    keys: list[bytes], values: list[bytes], start: bytes, stop: bytes | None
) -> Iterator[tuple[bytes, bytes]]:
    i = bisect.bisect_left(keys, start)
    j = len(keys) if stop is None else bisect.bisect_left(keys, stop)
    for n in range(i, j):
        yield keys[n], values[n]


def _page() -> int:
    from . import client

    return client.PAGE


class _WriterSnapshot(_Snapshot):
    _first_from_leader = False


class EtcdReader(_Snapshot):
    """A consistent snapshot of the store."""

    def close(self) -> None:
        self._values.clear()
        self._recent.clear()

    def __enter__(self) -> EtcdReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EtcdWriter:
    """The write transaction: reads at one revision overlaid with its own buffered changes,
    committed as one guarded etcd Txn."""

    def __init__(self, engine: EtcdEngine) -> None:
        self._engine = engine
        self._base = _WriterSnapshot(engine)
        self._changes: dict[bytes, bytes | None] = {}  # key -> value, None: deleted
        self._sorted: list[bytes] | None = []  # keys of _changes in order (None: to sort)
        self._deleted: list[tuple[bytes, bytes]] = []  # ranges deleted, disjoint, in order
        self._lows: list[bytes] = []  # their starts
        self._open = True

    # -- reading through the changes --

    def _in_deleted(self, key: bytes) -> bool:
        i = bisect.bisect_right(self._lows, key) - 1
        return i >= 0 and key < self._deleted[i][1]

    def get(self, key: bytes) -> bytes | None:
        if key in self._changes:
            return self._changes[key]
        if self._in_deleted(key):
            return None
        return self._base.get(key)

    def items(self, start: bytes = b"", stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        if self._sorted is None:
            self._sorted = sorted(self._changes)
        ours = self._sorted
        i = bisect.bisect_left(ours, start)
        j = len(ours) if stop is None else bisect.bisect_left(ours, stop)
        mine = [(key, self._changes[key]) for key in ours[i:j]]
        k = 0
        for key, value in self._base.items(start, stop):
            while k < len(mine) and mine[k][0] < key:
                if mine[k][1] is not None:
                    yield mine[k]  # type: ignore[misc]
                k += 1
            if k < len(mine) and mine[k][0] == key:
                if mine[k][1] is not None:
                    yield mine[k]  # type: ignore[misc]
                k += 1
            elif not self._in_deleted(key):
                yield key, value
        for key, mine_value in mine[k:]:
            if mine_value is not None:
                yield key, mine_value

    # -- changing --

    def _check(self) -> None:
        if not self._open:
            raise InvalidArgument("the write transaction has ended")

    def put(self, key: bytes, value: bytes) -> None:
        self._check()
        if key not in self._changes:
            self._sorted = None
        self._changes[key] = value

    def delete(self, key: bytes) -> None:
        self._check()
        if key not in self._changes:
            self._sorted = None
        self._changes[key] = None

    def delete_range(self, start: bytes, stop: bytes) -> None:
        self._check()
        if start >= stop:
            return
        for key in [key for key in self._changes if start <= key < stop]:
            del self._changes[key]
        self._sorted = None
        merged = []
        for low, high in self._deleted:
            if high < start or low > stop:
                merged.append((low, high))
            else:
                start, stop = min(low, start), max(high, stop)
        merged.append((start, stop))
        merged.sort()
        self._deleted = merged
        self._lows = [low for low, _ in merged]

    # -- ending --

    def operations(self) -> list[pb.RequestOp]:
        """The changes as etcd operations: no key both put and deleted, no put inside a
        deleted range (the range is cut around it)."""
        data = self._engine._data
        puts = sorted(key for key, value in self._changes.items() if value is not None)
        ops = []
        for low, high in self._deleted:
            i, j = bisect.bisect_left(puts, low), bisect.bisect_left(puts, high)
            edge = low
            for key in puts[i:j]:
                if edge < key:
                    ops.append(_delete(data + edge, data + key))
                edge = key + b"\0"
            if edge < high:
                ops.append(_delete(data + edge, data + high))
        for key, value in self._changes.items():
            if value is None:
                if not self._in_deleted(key):
                    ops.append(_delete(data + key))
            else:
                ops.append(pb.RequestOp(request_put=pb.PutRequest(key=data + key, value=value)))
        return ops

    def commit(self) -> None:
        self._check()
        try:
            if self._changes or self._deleted:
                self._send()
        finally:
            self._end()

    def _send(self) -> None:
        engine = self._engine
        if not self._base.revision:  # blind writes: still ordered after what was committed
            self._base.revision = engine.client.range(engine._commit_key).header.revision
        token = os.urandom(16)
        ops = self.operations()
        ops.append(pb.RequestOp(request_put=pb.PutRequest(key=engine._commit_key, value=token)))
        # nobody may have committed since this transaction's snapshot
        guard = pb.Compare(
            key=engine._commit_key,
            target=pb.Compare.MOD,
            result=pb.Compare.LESS,
            mod_revision=self._base.revision + 1,
        )
        deadline = time.monotonic() + engine.client.retry_for
        while True:
            try:
                answer = engine.client.txn([guard], ops)
                break
            except RequestTooLarge as exc:
                size = sum(op.ByteSize() for op in ops) >> 10
                raise RequestTooLarge(
                    f'store "{engine.location}": one transaction of {len(ops)} operations, '
                    f"{size} KiB, refused whole ({exc.message})"
                ) from None
            except Unavailable:
                if time.monotonic() > deadline:
                    raise
            # the answer was lost: the commit key tells whether the Txn was applied
            kv = self._commit_record()
            if kv is not None and kv.value == token:
                engine._committed(kv.mod_revision)
                return
            if kv is not None and kv.mod_revision > self._base.revision:
                raise Unavailable(
                    f'store "{engine.location}": the answer to a commit was lost and another '
                    "writer has committed since: whether this one was applied is unknown"
                )
            time.sleep(0.05)  # not applied: send it again
        if not answer.succeeded:
            raise Conflict(
                f'store "{engine.location}": another writer committed since this transaction '
                f"read (revision {self._base.revision})"
            )
        engine._committed(answer.header.revision)

    def _commit_record(self) -> pb.KeyValue | None:
        answer = self._engine.client.range(self._engine._commit_key)  # waits for a leader
        return answer.kvs[0] if answer.kvs else None

    def abort(self) -> None:
        if self._open:
            self._end()

    close = abort

    def _end(self) -> None:
        self._open = False
        self._changes.clear()
        self._deleted.clear()
        self._lows.clear()
        self._engine._lock.release()


def _delete(key: bytes, end: bytes = b"") -> pb.RequestOp:
    return pb.RequestOp(request_delete_range=pb.DeleteRangeRequest(key=key, range_end=end))


def open_etcd(locator: str, **options: object) -> EtcdEngine:
    """The store factory's opener for `etcd://` (see metafs.engines)."""
    try:
        return EtcdEngine(locator, **options)  # type: ignore[arg-type]
    except TypeError as exc:
        raise InvalidArgument(f'store "{locator}": {exc}') from None
    except MetafsError:
        raise
