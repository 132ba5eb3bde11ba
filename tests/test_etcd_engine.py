"""The etcd engine on a real private etcd member: snapshots, the buffered writer and its one
guarded Txn, conflicts between writers, etcd's request limits, generation() from the watch."""

from __future__ import annotations

import threading
import time

import pytest
from etcd_cluster import MAX_TXN_OPS, EtcdCluster

from metafs.errors import Conflict, InvalidArgument, NotFound
from metafs.etcd.client import EtcdClient, RequestTooLarge
from metafs.etcd.engine import EtcdEngine, Locator


@pytest.fixture
def locator(etcd_server: EtcdCluster, etcd_prefix: str) -> str:
    return etcd_server.locator(etcd_prefix)


@pytest.fixture
def engine(locator: str):
    engine = EtcdEngine(locator, create=True)
    yield engine
    engine.close()


def fill(engine: EtcdEngine, items: dict[bytes, bytes]) -> None:
    writer = engine.writer()
    for key, value in items.items():
        writer.put(key, value)
    writer.commit()


def everything(engine: EtcdEngine) -> list[tuple[bytes, bytes]]:
    reader = engine.reader()
    try:
        return list(reader.items())
    finally:
        reader.close()


def test_locator():
    assert Locator.parse("etcd://a:1,b:2/x/y/") == Locator(("a:1", "b:2"), "x/y")
    assert Locator.parse("etcd://127.0.0.1:2379") == Locator(("127.0.0.1:2379",), "metafs")
    for bad in ("etcd://", "etcd://host", "etcd://host:port", "lmdb://a:1"):
        with pytest.raises(InvalidArgument):
            Locator.parse(bad)


def test_a_store_that_does_not_exist_is_made_only_when_asked(locator: str):
    with pytest.raises(NotFound):
        EtcdEngine(locator)
    EtcdEngine(locator, create=True).close()
    engine = EtcdEngine(locator, readonly=True)
    with pytest.raises(InvalidArgument):
        engine.writer()
    engine.close()


def test_writer_sees_its_own_changes_over_the_snapshot(engine: EtcdEngine):
    fill(engine, {b"a": b"1", b"b/1": b"x", b"b/2": b"y", b"b/3": b"z", b"c": b"3"})
    writer = engine.writer()
    assert writer.get(b"b/2") == b"y"
    writer.delete_range(b"b/", b"b0")
    writer.put(b"b/2", b"again")
    writer.put(b"b/9", b"new")
    writer.delete(b"a")
    writer.put(b"d", b"4")
    assert writer.get(b"b/1") is None
    assert writer.get(b"b/2") == b"again"
    assert writer.get(b"a") is None
    assert list(writer.items()) == [
        (b"b/2", b"again"),
        (b"b/9", b"new"),
        (b"c", b"3"),
        (b"d", b"4"),
    ]
    assert list(writer.items(b"b/", b"b0")) == [(b"b/2", b"again"), (b"b/9", b"new")]
    assert everything(engine)[0] == (b"a", b"1")  # nothing visible before the commit
    writer.commit()
    assert everything(engine) == [
        (b"b/2", b"again"),
        (b"b/9", b"new"),
        (b"c", b"3"),
        (b"d", b"4"),
    ]


def test_abort_applies_nothing(engine: EtcdEngine):
    fill(engine, {b"k": b"v"})
    writer = engine.writer()
    writer.put(b"k", b"changed")
    writer.delete_range(b"", b"\xff")
    writer.abort()
    assert everything(engine) == [(b"k", b"v")]


def test_reader_is_a_snapshot_from_its_beginning(engine: EtcdEngine):
    fill(engine, {b"k": b"old"})
    reader = engine.reader()
    fill(engine, {b"k": b"new", b"k2": b"x"})  # committed after the reader began
    assert reader.get(b"k") == b"old"
    assert list(reader.items()) == [(b"k", b"old")]
    reader.close()
    assert everything(engine) == [(b"k", b"new"), (b"k2", b"x")]


def test_a_writer_that_raced_another_commits_nothing(locator: str, engine: EtcdEngine):
    fill(engine, {b"counter": b"0"})
    other = EtcdEngine(locator)  # another process or host: its own client and lock
    try:
        mine, theirs = engine.writer(), other.writer()
        seen = mine.get(b"counter")
        theirs.put(b"counter", theirs.get(b"counter") + b"+theirs")  # type: ignore[operator]
        theirs.commit()
        mine.put(b"counter", seen + b"+mine")  # type: ignore[operator]
        mine.put(b"elsewhere", b"x")
        with pytest.raises(Conflict):
            mine.commit()
        assert everything(engine) == [(b"counter", b"0+theirs")]
        again = engine.writer()  # the lock is free again, and a re-run succeeds
        again.put(b"counter", again.get(b"counter") + b"+mine")  # type: ignore[operator]
        again.commit()
        assert everything(other) == [(b"counter", b"0+theirs+mine")]
    finally:
        other.close()


def test_writers_of_one_process_take_turns(engine: EtcdEngine):
    fill(engine, {b"n": b"0"})

    def add(times: int) -> None:
        for _ in range(times):
            writer = engine.writer()
            writer.put(b"n", b"%d" % (int(writer.get(b"n") or b"0") + 1))
            writer.commit()

    threads = [threading.Thread(target=add, args=(25,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert everything(engine) == [(b"n", b"100")]


def test_a_transaction_over_etcds_limit_is_refused_whole(engine: EtcdEngine):
    fill(engine, {b"before": b"1"})
    writer = engine.writer()
    writer.delete(b"before")
    for i in range(MAX_TXN_OPS):
        writer.put(b"k%06d" % i, b"")
    with pytest.raises(RequestTooLarge) as refused:
        writer.commit()
    assert "max-txn-ops" in str(refused.value)
    assert everything(engine) == [(b"before", b"1")]
    fill(engine, {b"after": b"2"})  # the writer lock was given back


def test_deleting_a_range_and_putting_inside_it_in_one_transaction(engine: EtcdEngine):
    fill(engine, {b"x/%d" % i: b"old" for i in range(10)} | {b"y": b"kept"})
    writer = engine.writer()
    writer.delete_range(b"x/", b"x0")
    writer.put(b"x/3", b"new")
    writer.put(b"x/7", b"new")
    writer.delete(b"x/7")  # put, then deleted again
    writer.put(b"x/", b"bucket")
    writer.commit()
    assert everything(engine) == [(b"x/", b"bucket"), (b"x/3", b"new"), (b"y", b"kept")]


def test_generation_follows_commits_here_and_elsewhere(locator: str, engine: EtcdEngine):
    start = engine.generation()
    fill(engine, {b"a": b"1"})
    mine = engine.generation()
    assert mine > start  # at once after our own commit
    other = EtcdEngine(locator)
    try:
        fill(other, {b"b": b"2"})
        deadline = time.monotonic() + 1.0
        while engine.generation() == mine and time.monotonic() < deadline:
            time.sleep(0.001)
        assert engine.generation() > mine  # told by the watch, within a second
    finally:
        other.close()


def test_generation_costs_no_round_trip(engine: EtcdEngine):
    engine.generation()
    started = time.perf_counter()
    for _ in range(10_000):
        engine.generation()
    assert time.perf_counter() - started < 0.1  # a round trip is ~0.3 ms: 10k would take 3 s


def test_keys_of_any_length_and_byte(engine: EtcdEngine):
    items = {b"\x00" * 3: b"nul", b"k" * 5000: b"long", b"\xff\xff": b"high", b"": b"empty"}
    items.pop(b"")  # keys are non-empty
    fill(engine, items)
    assert everything(engine) == sorted(items.items())


def test_the_data_stays_under_its_prefix(etcd_server: EtcdCluster, engine: EtcdEngine):
    fill(engine, {b"k": b"v"})
    other = EtcdEngine(etcd_server.locator("elsewhere-" + str(id(engine))), create=True)
    try:
        assert everything(other) == []
    finally:
        other.close()
    with EtcdClient(etcd_server.endpoints) as client:
        prefix = engine.location.rsplit("/", 1)[1].encode() + b"/"
        keys = [kv.key for kv in client.range(prefix, prefix[:-1] + b"0").kvs]
        assert keys == [prefix + b"c", prefix + b"dk"]


def test_many_reads_in_one_snapshot_read_their_range_in_one_go(engine: EtcdEngine, monkeypatch):
    fill(engine, {b"a/%04d" % i: b"%d" % i for i in range(0, 1000, 2)} | {b"b": b"other"})
    ranges = []
    real = engine.client.range
    monkeypatch.setattr(engine.client, "range", lambda *a, **k: ranges.append(a) or real(*a, **k))
    writer = engine.writer()
    got = {i: writer.get(b"a/%04d" % i) for i in range(1000)}  # half of them absent
    assert got == {i: (b"%d" % i if i % 2 == 0 else None) for i in range(1000)}
    assert writer.get(b"b") == b"other"
    assert writer.get(b"c") is None
    assert len(ranges) < 100  # not one round trip a key
    writer.put(b"a/0001", b"new")
    writer.commit()
    assert dict(everything(engine))[b"a/0001"] == b"new"


def test_backup_copies_one_snapshot_to_lmdb_or_etcd(engine: EtcdEngine, locator: str, tmp_path):
    from metafs.engines import open_engine

    items = {b"k%03d" % i: b"v" * i for i in range(200)} | {b"x" * 600: b"long key"}
    fill(engine, items)
    for dest in (str(tmp_path / "copy"), locator + "-copy"):
        engine.backup(dest)
        copy = open_engine(dest)
        try:
            reader = copy.reader()
            assert list(reader.items()) == sorted(items.items())
            reader.close()
        finally:
            copy.close()
        with pytest.raises(InvalidArgument, match="not empty"):
            engine.backup(dest)


def test_a_range_left_early_and_resumed_further_on_is_read_once(engine: EtcdEngine, monkeypatch):
    """The store lists a bucket by leaving each range read at a nested bucket and asking again
    past it: the page read first must serve every later ask (it made a listing of 2k images
    quadratic: 30 s)."""
    fill(engine, {b"b/%04d" % i: b"%d" % i for i in range(1000)})
    ranges = []
    real = engine.client.range
    monkeypatch.setattr(engine.client, "range", lambda *a, **k: ranges.append(a) or real(*a, **k))
    real_txn = engine.client.txn  # a first read may ask the commit key too, in one Txn
    monkeypatch.setattr(engine.client, "txn", lambda *a, **k: ranges.append(a) or real_txn(*a, **k))
    reader = engine.reader()
    seen = []
    start = b"b/"
    while True:
        first = next(reader.items(start, b"b0"), None)
        if first is None:
            break
        seen.append(first[0])
        start = first[0] + b"\x00"
    reader.close()
    assert seen == [b"b/%04d" % i for i in range(1000)]
    assert len(ranges) == 1


def test_space_is_etcds_database_and_what_its_default_quota_leaves(engine: EtcdEngine):
    from metafs.etcd.engine import QUOTA

    used, free = engine.space()
    assert 0 < used <= QUOTA - free
    fill(engine, {b"big%d" % i: b"x" * 100_000 for i in range(40)})  # 4 MB
    deadline = time.monotonic() + 5  # etcd writes its database every 100 ms
    while engine.space()[0] < used + 3_000_000 and time.monotonic() < deadline:
        time.sleep(0.1)
    more, less = engine.space()
    assert more >= used + 3_000_000 and less <= free - 3_000_000


def _round_trips(engine: EtcdEngine, monkeypatch) -> list[str]:
    calls: list[str] = []
    for name in ("range", "txn"):
        real = getattr(engine.client, name)
        monkeypatch.setattr(
            engine.client, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k)
        )
    return calls


def test_a_write_after_a_read_and_the_next_read_ask_nothing_twice(engine: EtcdEngine, monkeypatch):
    """A mount's `echo > labels/KEY`: a lookup reads an object, the write transaction (a
    recent writer, as `Store.update` begins) reads it again and commits, the next lookup reads
    another object and what is around it. Each snapshot takes over what the last one read
    while nothing was committed since: one round trip each (the lookup's, with the commit key;
    the commit)."""
    fill(engine, {b"a/1": b"1", b"a/2": b"2", b"b/1": b"1", b"d": b"draft"})
    calls = _round_trips(engine, monkeypatch)
    for obj in (b"a/", b"b/"):
        reader = engine.reader()
        assert dict(reader.items(obj, obj[:-1] + b"0"))
        reader.close()
        assert calls == ["txn"]
        writer = engine.recent_writer()
        assert writer.get(b"d") == b"draft" or obj == b"a/"  # read by the last writer
        assert list(writer.items(obj, obj[:-1] + b"0"))  # read by the lookup: no round trip
        writer.put(obj + b"1", b"new")
        writer.commit()
        assert calls == ["txn", "txn"] or (obj == b"a/" and calls == ["txn", "range", "txn"])
        calls.clear()
    reader = engine.reader()
    assert reader.get(b"a/1") == b"new" and reader.get(b"d") == b"draft"
    reader.close()


def test_a_reader_after_a_commit_elsewhere_sees_it_at_once(locator: str, engine: EtcdEngine):
    """What a snapshot took over is only what nothing has changed since: a commit by another
    host shows in the next reader here at once, whether or not the watch has told yet."""
    fill(engine, {b"k": b"old", b"j": b"old"})
    other = EtcdEngine(locator)
    try:
        for round in range(20):
            reader = engine.reader()
            assert reader.get(b"k") == (b"old" if round == 0 else b"%d" % (round - 1))
            reader.close()
            fill(other, {b"k": b"%d" % round})
            reader = engine.reader()
            assert reader.get(b"j") == b"old"  # first read: asks for the commit key too
            assert reader.get(b"k") == b"%d" % round
            reader.close()
    finally:
        other.close()


def test_a_writer_on_a_stale_snapshot_never_commits_over_an_unseen_value(
    locator: str, engine: EtcdEngine
):
    """A recent writer takes over the last snapshot when the watch has seen no commit since:
    if one came that the watch has not told yet, the guard refuses the commit (no lost
    update), and tells this process of that commit."""
    fill(engine, {b"n": b"0"})
    other = EtcdEngine(locator)
    conflicts = 0
    try:
        for _round in range(20):
            reader = engine.reader()
            seen = int(reader.get(b"n") or b"")
            reader.close()
            fill(other, {b"n": b"%d" % (seen + 1)})  # the watch may not have told yet
            writer = engine.recent_writer()
            value = int(writer.get(b"n") or b"")
            writer.put(b"n", b"%d" % (value + 1))
            try:
                writer.commit()
            except Conflict:
                conflicts += 1
                assert value == seen  # it read the stale value, and nothing was applied
                assert engine.generation() > writer._base.revision  # the other commit
        reader = engine.reader()
        assert int(reader.get(b"n") or b"") == 2 * 20 - conflicts
        reader.close()
    finally:
        other.close()


def test_what_snapshots_pass_on_stays_small_and_right(engine: EtcdEngine, monkeypatch):
    """Snapshots taking over one after another would pile up every key read (a mount writing
    labels of 5k images got slower with every write): past KEEP_MAX keys the older half goes,
    and what it told (absent keys inside ranges read) is asked again, not guessed."""
    from metafs.etcd import engine as module

    monkeypatch.setattr(module, "KEEP_MAX", 8)
    fill(engine, {b"o%02d/%d" % (i, j): b"v" for i in range(30) for j in (1, 3)})
    for i in range(30):
        obj = b"o%02d/" % i
        reader = engine.reader()
        assert [k for k, _ in reader.items(obj, obj[:-1] + b"0")] == [obj + b"1", obj + b"3"]
        reader.close()
        writer = engine.recent_writer()
        assert writer.get(obj + b"2") is None
        writer.put(obj + b"2", b"new")
        writer.commit()
        assert engine._kept is not None and len(engine._kept.values) <= 8
        reader = engine.reader()
        for j in range(i + 1):  # every object written so far, each key present or absent
            assert reader.get(b"o%02d/2" % j) == b"new"
            assert reader.get(b"o%02d/4" % j) is None
        reader.close()


def test_a_plain_writer_reads_afresh_after_a_commit_elsewhere(locator: str, engine: EtcdEngine):
    """`writer()` (the store's `write()`, which nothing runs again) never begins on what this
    process read before: right after another host's commit that the watch has not told yet,
    it reads that commit and commits on it (this failed with Conflict when every writer took
    over the last snapshot: the mount suites on etcd, writing with the CLI and then through
    the mount)."""
    fill(engine, {b"n": b"0"})
    other = EtcdEngine(locator)
    try:
        for round in range(20):
            reader = engine.reader()
            assert reader.get(b"n") == b"%d" % (2 * round)
            reader.close()
            fill(other, {b"n": b"%d" % (2 * round + 1)})
            writer = engine.writer()
            assert writer.get(b"n") == b"%d" % (2 * round + 1)
            writer.put(b"n", b"%d" % (2 * round + 2))
            writer.commit()
    finally:
        other.close()


@pytest.mark.parametrize("whole", [True, False])
def test_a_refused_commit_reads_again_what_it_read(
    locator: str, engine: EtcdEngine, monkeypatch, whole: bool
):
    """The next run of a refused transaction begins on what the refusal read again, at the
    revision of the refusal: it sees the other writer's commit and costs one round trip, the
    commit. A range the transaction left early is read again only up to KEEP_MAX keys; the
    rest is read when asked, at the same revision."""
    from metafs.etcd import engine as module

    if not whole:
        monkeypatch.setattr(module, "KEEP_MAX", 2)
    fill(engine, {b"a/1": b"1", b"a/2": b"2", b"a/3": b"3", b"n": b"0"})
    other = EtcdEngine(locator)
    try:
        writer = engine.recent_writer()
        if whole:
            assert len(list(writer.items(b"a/", b"a0"))) == 3
        else:
            assert next(writer.items(b"a/", b"a0")) == (b"a/1", b"1")
        writer.put(b"n", b"%d" % (int(writer.get(b"n") or b"") + 1))
        fill(other, {b"a/2": b"new", b"n": b"1"})  # after this transaction read
        with pytest.raises(Conflict):
            writer.commit()
        calls = _round_trips(engine, monkeypatch)
        writer = engine.recent_writer()
        assert list(writer.items(b"a/", b"a0")) == [
            (b"a/1", b"1"),
            (b"a/2", b"new"),
            (b"a/3", b"3"),
        ]
        assert writer.get(b"n") == b"1"
        writer.put(b"n", b"2")
        writer.commit()
        assert calls == (["txn"] if whole else ["range", "txn"])
        assert dict(everything(other))[b"n"] == b"2"
    finally:
        other.close()
