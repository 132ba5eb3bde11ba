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
  `recent_writer()` begins on what this process read last instead (see `_Kept`), for a
  caller that runs the transaction again after a Conflict (`Store.update`, the mount's
  writes): a write after a lookup then costs one round trip. A refused commit reads again,
  in the same round trip, what its transaction read: the next run begins on that.
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
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .. import waiting
from ..errors import Conflict, InvalidArgument, MetafsError, NotFound
from .client import Compacted, EtcdClient, RequestTooLarge, Unavailable, range_end
from .proto import etcd_pb2 as pb

log = logging.getLogger("metafs.etcd")

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

    round_trips = True  # a mount waits for its calls off its event loop (metafs.waiting)

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
        self._kept: _Kept | None = None  # what the last snapshot read (see _Kept)
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
        """A write transaction on a snapshot taken now (its first read)."""
        return self._writer(recent=False)

    def recent_writer(self) -> EtcdWriter:
        """A write transaction on what this process read last (or a refused commit read
        again), if the watch has told of no commit since: no round trip to read it again.
        For a caller that runs the transaction again when its commit raises `Conflict`
        (`Store.update`): a commit made elsewhere that the watch has not told yet makes the
        commit guard refuse it."""
        return self._writer(recent=True)

    def _writer(self, *, recent: bool) -> EtcdWriter:
        if self.readonly:
            raise InvalidArgument(f'store "{self.location}" is open read-only')
        self._lock.acquire()
        try:
            return EtcdWriter(self, recent=recent)
        except BaseException:
            self._lock.release()
            raise

    def generation(self) -> int:
        """The revision of the last change under the prefix seen by the watch (started on the
        first call), or of this process's last commit."""
        if self._watch is None:
            self._start_watch()
        return self._generation

    def _start_watch(self) -> None:
        waiting.turn()  # before the lock, held across a round trip
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

    def _range_request(self, start: bytes, stop: bytes | None, limit: int) -> pb.RangeRequest:
        """A read of the data keys [start, stop) (stop None: to the end; b"": just start)."""
        if stop == b"":
            return pb.RangeRequest(key=self._data + start)
        end = self._data_end if stop is None else self._data + stop
        return pb.RangeRequest(key=self._data + start, range_end=end, limit=limit)

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


_Read = tuple[
    bytes, bytes | None, list[bytes], list[bytes]
]  # a range read: start, stop, keys, values

# a closed snapshot keeps what it read for the next one, at most this many keys (see _keep);
# a writer takes it over for this many seconds (later, its revision may be compacted away)
KEEP_MAX = 1024
KEEP_FOR = 5.0
# a refused commit reads again what its transaction read, in at most this many requests (etcd
# takes --max-txn-ops, default 128, in each branch of a Txn)
REREAD_MAX = 64


@dataclass(frozen=True)
class _Kept:
    """What a closed snapshot read (or a committed writer left): the store's state at
    `revision`, as far as it was read. A later snapshot whose store has not changed since
    takes it over instead of reading the same keys again: a mount's lookup, then the write
    transaction of `echo > labels/KEY` on the object it looked up, then the next lookup
    after that commit, cost one round trip each instead of two or three."""

    revision: int
    values: dict[bytes, bytes | None]
    covered: list[tuple[bytes, bytes | None]]
    recent: list[_Read]
    made: float  # time.monotonic()


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

    def __init__(self, engine: EtcdEngine) -> None:
        self._engine = engine
        self.revision = 0
        self._commits_before = engine._commits_dropped + len(engine._commits)
        self._values: dict[bytes, bytes | None] = {}  # every key read; None: absent
        self._covered: list[tuple[bytes, bytes | None]] = []  # ranges read whole, disjoint,
        self._lows: list[bytes] = []  # in order (stop None: to the end), and their starts
        self._recent: list[_Read] = []
        self._missed: list[bytes] = []  # keys read one by one since the last range read
        self._loads = 0  # ranges read because of them

    def _adopt(self, kept: _Kept) -> None:
        """Take over what `kept` read: the store's state then is the same as this snapshot's."""
        self._values = {**kept.values, **self._values}
        self._covered = _merged(kept.covered + self._covered)
        self._lows = [low for low, _ in self._covered]
        self._recent = (kept.recent + self._recent)[-_RECENT:]

    def _keep(
        self,
        revision: int,
        values: dict[bytes, bytes | None],
        recent: list[_Read],
        covered: list[tuple[bytes, bytes | None]] | None = None,
    ) -> None:
        """Offer what was read to the next snapshot (see _Kept): this snapshot's ranges read
        whole, unless `covered` says others. Snapshots taking over one after another would
        pile up every key read: past KEEP_MAX keys, the older half goes (and with it what
        tells an absent key inside a range read)."""
        engine = self._engine
        kept = engine._kept
        if kept is not None and kept.revision > revision:
            return
        covered = list(self._covered if covered is None else covered)
        if len(values) > KEEP_MAX:
            values = dict(itertools.islice(values.items(), len(values) - KEEP_MAX // 2, None))
            covered = []
        engine._kept = _Kept(revision, values, covered, recent, time.monotonic())

    def _pin(self) -> None:
        """Read just before this process's first commit since the snapshot began, if any."""
        engine = self._engine
        first = max(self._commits_before - engine._commits_dropped, 0)  # (begun long ago)
        if first < len(engine._commits):
            self.revision = engine._commits[first] - 1

    def _range(self, key: bytes, end: bytes = b"", limit: int = 0) -> pb.RangeResponse:
        """Read at the snapshot's revision, answered by the member itself (no round trip to
        the leader). The first read fixes the revision: it asks the leader, so that the
        snapshot holds every commit acknowledged before it began, on any host (a writer on a
        member that had not applied one yet would have its commit refused for nothing)."""
        engine = self._engine
        if not self.revision:
            self._pin()
        if self.revision:
            try:
                return engine.client.range(
                    key, end, revision=self.revision, limit=limit, serializable=True
                )
            except Compacted:
                kept = engine._kept
                if kept is not None and kept.revision <= self.revision:
                    engine._kept = None  # a run again must not begin on it
                raise
        kept = engine._kept
        if kept is not None:
            return self._first_read_adopting(kept, key, end, limit)
        answer = engine.client.range(key, end, limit=limit)
        self.revision = answer.header.revision
        return answer

    def _first_read_adopting(
        self, kept: _Kept, key: bytes, end: bytes, limit: int
    ) -> pb.RangeResponse:
        """The first read, from the leader, with the commit key in the same request: if no
        commit came after `kept`'s revision, what it read still holds and is taken over."""
        engine = self._engine
        wanted = pb.RangeRequest(key=key, range_end=end, limit=limit)
        commit = pb.RangeRequest(key=engine._commit_key)
        both = engine.client.txn(
            [],
            [pb.RequestOp(request_range=wanted), pb.RequestOp(request_range=commit)],
            retry=True,
        )
        self.revision = both.header.revision
        marks = both.responses[1].response_range.kvs
        if marks and marks[0].mod_revision <= kept.revision:
            self._adopt(kept)
        return both.responses[0].response_range

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


def _merged(ranges: list[tuple[bytes, bytes | None]]) -> list[tuple[bytes, bytes | None]]:
    """Ranges [low, high) (high None: to the end) merged where they meet, in order."""
    merged: list[tuple[bytes, bytes | None]] = []
    for low, high in sorted(ranges, key=lambda interval: interval[0]):
        if merged and (merged[-1][1] is None or low <= merged[-1][1]):
            last = merged[-1][1]
            merged[-1] = (merged[-1][0], None if last is None or high is None else max(last, high))
        else:
            merged.append((low, high))
    return merged


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


class EtcdReader(_Snapshot):
    """A consistent snapshot of the store."""

    def close(self) -> None:
        if self.revision:
            self._keep(self.revision, self._values, self._recent)
        self._values = {}
        self._recent = []

    def __enter__(self) -> EtcdReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EtcdWriter:
    """The write transaction: reads at one revision overlaid with its own buffered changes,
    committed as one guarded etcd Txn."""

    def __init__(self, engine: EtcdEngine, *, recent: bool = False) -> None:
        self._engine = engine
        self._base = _Snapshot(engine)
        kept = engine._kept
        if (
            recent
            and kept is not None
            and engine._generation <= kept.revision
            and time.monotonic() - kept.made < KEEP_FOR
        ):
            # nothing committed since, as far as the watch tells; if something was that it
            # has not told yet, the commit guard (on kept's revision) refuses this
            # transaction with Conflict, and the caller runs it again on a fresh writer
            self._base.revision = kept.revision
            self._base._adopt(kept)
        self._on_kept = bool(self._base.revision)  # (for the log)
        self._changes: dict[bytes, bytes | None] = {}  # key -> value, None: deleted
        self._sorted: list[bytes] | None = []  # keys of _changes in order (None: to sort)
        self._deleted: list[tuple[bytes, bytes]] = []  # ranges deleted, disjoint, in order
        self._lows: list[bytes] = []  # their starts
        # what was read (see _read_set); None: more than is worth reading again
        self._asked: list[tuple[bytes, bytes | None]] | None = []
        self._asked_keys = 0  # how many keys the ranges read held
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
        self._ask(key, b"")
        return self._base.get(key)

    def items(self, start: bytes = b"", stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        if self._sorted is None:
            self._sorted = sorted(self._changes)
        ours = self._sorted
        i = bisect.bisect_left(ours, start)
        j = len(ours) if stop is None else bisect.bisect_left(ours, stop)
        mine = [(key, self._changes[key]) for key in ours[i:j]]
        k = 0
        self._ask(start, stop)
        for key, value in self._base.items(start, stop):
            self._asked_keys += 1
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

    def _ask(self, start: bytes, stop: bytes | None) -> None:
        asked = self._asked
        if asked is not None:
            asked.append((start, stop))
            if len(asked) > 4 * REREAD_MAX:
                self._asked = None

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
        # refused: the commit key as it is, which tells the revision of the commit that came
        # in between (the watch may not have told yet), and what this transaction read, as it
        # is now: the run after a Conflict begins on that, one round trip as the first
        record = pb.RequestOp(request_range=pb.RangeRequest(key=engine._commit_key))
        reread = self._read_set()
        again = [
            pb.RequestOp(request_range=engine._range_request(*read, KEEP_MAX)) for read in reread
        ]
        deadline = time.monotonic() + engine.client.retry_for
        while True:
            try:
                answer = engine.client.txn([guard], ops, [record, *again])
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
            waiting.pause(0.05)  # not applied: send it again
        if not answer.succeeded:
            marks = answer.responses[0].response_range.kvs if answer.responses else []
            if marks:
                engine._advance(marks[0].mod_revision)  # what this process knows is older
            log.debug(
                "commit on revision %d refused: committed at %s (%s)",
                self._base.revision,
                marks[0].mod_revision if marks else "?",
                "taken over" if self._on_kept else "read afresh",
            )
            if reread:
                self._keep_refused(answer.header.revision, reread, answer.responses[1:])
            raise Conflict(
                f'store "{engine.location}": another writer committed since this transaction '
                f"read (revision {self._base.revision})"
            )
        engine._committed(answer.header.revision)
        self._keep_committed(answer.header.revision)

    def _read_set(self) -> list[tuple[bytes, bytes | None]]:
        """What this transaction read from the store, as ranges [start, stop) (stop None: to
        the end) and keys (start, b""): at most REREAD_MAX requests and KEEP_MAX keys, or
        nothing."""
        asked = self._asked
        if asked is None or self._asked_keys > KEEP_MAX:
            return []
        ranges = _merged([read for read in asked if read[1] != b""])
        lows = [low for low, _ in ranges]
        reads = list(ranges)
        for key in dict.fromkeys(key for key, stop in asked if stop == b""):
            i = bisect.bisect_right(lows, key) - 1
            high = ranges[i][1] if i >= 0 else b""
            if i < 0 or (high is not None and key >= high):  # not inside a range read
                reads.append((key, b""))
        return reads if len(reads) <= REREAD_MAX else []

    def _keep_refused(
        self,
        revision: int,
        reads: list[tuple[bytes, bytes | None]],
        answers: Sequence[pb.ResponseOp],
    ) -> None:
        """Offer the store's state at `revision` (that of the refusal), as far as this
        transaction read it, to the next snapshot: the run after a Conflict takes it over."""
        skip = len(self._engine._data)
        values: dict[bytes, bytes | None] = {}
        covered: list[tuple[bytes, bytes | None]] = []
        recent: list[_Read] = []
        for (start, stop), answer in zip(reads, answers, strict=True):
            kvs = answer.response_range.kvs
            if stop == b"":
                values[start] = kvs[0].value if kvs else None
                continue
            keys = [kv.key[skip:] for kv in kvs]
            found = [kv.value for kv in kvs]
            if answer.response_range.more and keys:  # a wide range: as far as it was read
                stop = keys[-1] + b"\0"
            values.update(zip(keys, found, strict=True))
            covered.append((start, stop))
            recent.append((start, stop, keys, found))
        self._base._keep(revision, values, recent[-_RECENT:], covered)

    def _keep_committed(self, revision: int) -> None:
        """The state at `revision` is the snapshot's with this transaction's changes (the
        guard let no other commit in between): offered to the next snapshot."""
        base = self._base
        values = dict(base._values)
        for low, high in self._deleted:
            for key in values:
                if low <= key < high:
                    values[key] = None
        values.update(self._changes)
        changed = sorted(self._changes)
        recent = [
            entry
            for entry in base._recent
            if not any(_meets(entry[0], entry[1], low, high) for low, high in self._deleted)
            and not _holds_any(entry[0], entry[1], changed)
        ]
        base._keep(revision, values, recent)

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
        self._asked = None
        self._engine._lock.release()


def _meets(low: bytes, high: bytes | None, start: bytes, stop: bytes) -> bool:
    """Whether [low, high) and [start, stop) share a key (high None: to the end)."""
    return low < stop and (high is None or start < high)


def _holds_any(low: bytes, high: bytes | None, keys: list[bytes]) -> bool:
    """Whether [low, high) holds any of the sorted `keys`."""
    i = bisect.bisect_left(keys, low)
    return i < len(keys) and (high is None or keys[i] < high)


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
