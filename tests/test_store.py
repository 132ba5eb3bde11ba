"""The store: the bucket API and transactions on every engine (`ENGINES`); then what the LMDB
engine adds on a real environment: map growth, several processes, page release."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metafs import Descriptor, Image, Images, Store, StoreFull
from metafs.errors import AlreadyExists, InvalidArgument, NotFound

REPO = Path(__file__).resolve().parents[1]
DIGEST = "sha256:" + "ab" * 32


def lmdb_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return Store.open(tmp_path / "store")


def memory_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return Store.open("memory://")


# Every engine the store runs on: each test taking the `store` fixture runs on each of them.
# A new engine is one line here: a function making an empty store of it (it may start what
# it needs through `request.getfixturevalue`).
def etcd_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    locator = request.getfixturevalue("etcd_server").locator(request.getfixturevalue("etcd_prefix"))
    return Store.open(locator, create=True)


ENGINES = {"lmdb": lmdb_store, "memory": memory_store, "etcd": etcd_store}


@pytest.fixture(params=list(ENGINES))
def store(request, tmp_path):
    with ENGINES[request.param](request, tmp_path) as s:
        yield s


def tree(bucket) -> list:
    """The whole content below `bucket` as nested lists, in iteration order."""
    return [(k, tree(bucket.bucket(k)) if v is None else v) for k, v in bucket.items()]


# ---- the bucket API --------------------------------------------------------------------------


def test_put_get_delete(store):
    with store.write() as tx:
        root = tx.root()
        b = root.create_bucket(b"b")
        b.put(b"k", b"v")
        b.put(b"empty", b"")
        assert b.get(b"k") == b"v"
        assert b.get(b"empty") == b""
        assert b.get(b"missing") is None
        b.put(b"k", b"v2")
    with store.read() as tx:
        b = tx.bucket(b"b")
        assert b.get(b"k") == b"v2"
        assert b.get(b"empty") == b""
    with store.write() as tx:
        b = tx.bucket(b"b")
        b.delete(b"k")
        b.delete(b"never-there")  # no error, as in bolt
        assert b.get(b"k") is None
    with store.read() as tx:
        assert tree(tx.root()) == [(b"b", [(b"empty", b"")])]


def test_empty_key_and_bucket_name_refused(store):
    with store.write() as tx:
        with pytest.raises(InvalidArgument):
            tx.root().put(b"", b"x")
        with pytest.raises(InvalidArgument):
            tx.root().create_bucket(b"")


def test_nested_buckets_and_paths(store):
    with store.write() as tx:
        leaf = tx.create_buckets(b"a", b"b", b"c")
        leaf.put(b"k", b"v")
        assert tx.create_buckets(b"a", b"b", b"c").get(b"k") == b"v"  # idempotent
    with store.read() as tx:
        assert tx.bucket(b"a", b"b", b"c").get(b"k") == b"v"
        assert tx.bucket(b"a", b"b").bucket(b"c").path == (b"a", b"b", b"c")
        assert tx.bucket(b"a", b"x", b"c") is None
        assert tx.bucket(b"b") is None
        assert tx.root().bucket(b"a").bucket(b"nope") is None


def test_key_and_bucket_of_same_name_refused_both_ways(store):
    with store.write() as tx:
        root = tx.root()
        root.put(b"k", b"v")
        with pytest.raises(InvalidArgument):
            root.create_bucket(b"k")
        with pytest.raises(InvalidArgument):
            root.create_bucket_if_not_exists(b"k")
        root.create_bucket(b"b")
        with pytest.raises(InvalidArgument):
            root.put(b"b", b"v")
        with pytest.raises(AlreadyExists):
            root.create_bucket(b"b")
        assert root.get(b"b") is None  # a bucket is no value
        assert root.bucket(b"k") is None  # a key is no bucket
    with store.read() as tx:
        assert tree(tx.root()) == [(b"b", []), (b"k", b"v")]


def test_empty_buckets_exist(store):
    with store.write() as tx:
        tx.root().create_bucket(b"e").create_bucket(b"inner")
    with store.read() as tx:
        e = tx.bucket(b"e")
        assert e is not None and not e.is_empty()
        assert tx.bucket(b"e", b"inner").is_empty()
        assert list(tx.bucket(b"e", b"inner").items()) == []
        assert tree(tx.root()) == [(b"e", [(b"inner", [])])]


def test_delete_bucket_removes_its_subtree_and_nothing_else(store):
    long = b"L" * 600
    with store.write() as tx:
        root = tx.root()
        # Siblings whose names extend or precede the doomed one's in every byte-wise way.
        for name in (b"a", b"a\x00", b"a\x00\x01", b"a\xff", b"ab", b"\x00", b"`"):
            root.create_bucket(name).put(b"k", name)
        root.put(b"a.key", b"x")
        doomed = root.bucket(b"a")
        doomed.create_bucket(b"child").create_bucket(long).put(long, b"deep")
        doomed.put(long, b"long")
        doomed.put(b"plain", b"p")
    with store.write() as tx:
        tx.root().delete_bucket(b"a")
        with pytest.raises(NotFound):
            tx.root().delete_bucket(b"a")
    with store.read() as tx:
        assert tx.bucket(b"a") is None
        assert tree(tx.root()) == [
            (b"\x00", [(b"k", b"\x00")]),
            (b"`", [(b"k", b"`")]),
            (b"a\x00", [(b"k", b"a\x00")]),
            (b"a\x00\x01", [(b"k", b"a\x00\x01")]),
            (b"a.key", b"x"),
            (b"ab", [(b"k", b"ab")]),
            (b"a\xff", [(b"k", b"a\xff")]),
        ]
    with store.write() as tx:  # the name is free again, and empty
        assert tx.root().create_bucket(b"a").is_empty()


def test_writing_through_a_deleted_bucket_is_refused(store):
    with store.write() as tx:
        stale = tx.root().create_bucket(b"x")
        inner = stale.create_bucket(b"inner")
        tx.root().delete_bucket(b"x")
        for write in (
            lambda: stale.put(b"k", b"v"),
            lambda: stale.create_bucket(b"b"),
            lambda: inner.put(b"k", b"v"),
        ):
            with pytest.raises(NotFound):
                write()
        assert list(tx.root().items()) == []
    with store.read() as tx:
        assert list(tx.root().items()) == []


def test_delete_does_not_touch_a_bucket_of_that_name(store):
    with store.write() as tx:
        tx.root().create_bucket(b"b").put(b"k", b"v")
        tx.root().delete(b"b")
    with store.read() as tx:
        assert tx.bucket(b"b").get(b"k") == b"v"


NAMES = [
    b"\x00",
    b"\x00\x00",
    b"\x00\xff",
    b"\x01",
    b"a",
    b"a\x00",
    b"a\x00b",
    b"a\xff",
    b"ab",
    b"\xff",
    b"\xff\x00",
    b"\xff\xff",
    b"n" * 511,
    b"n" * 512,
    b"n" * 600 + b"\x00",
    b"n" * 600,
    b"n" * 4095,
    b"o",
]


def test_items_order_and_seek_with_odd_and_long_names(store):
    with store.write() as tx:
        b = tx.root().create_bucket(b"b")
        for i, n in enumerate(NAMES):
            if i % 3 == 0:
                b.create_bucket(n).put(b"inside", n)  # sub-bucket contents must not show
            else:
                b.put(n, b"%d" % i)
    expected = [(n, None if i % 3 == 0 else b"%d" % i) for i, n in enumerate(NAMES)]
    expected.sort(key=lambda e: e[0])
    with store.read() as tx:
        b = tx.bucket(b"b")
        assert list(b.items()) == expected
        for start in [*NAMES, b"", b"a\x00a", b"n" * 550, b"n" * 4096, b"zzz", b"\x00\x00\x00"]:
            assert list(b.items(start=start)) == [e for e in expected if e[0] >= start], start
        for n in NAMES:
            if NAMES.index(n) % 3 == 0:
                assert b.bucket(n).get(b"inside") == n
            else:
                assert b.get(n) is not None


def test_4095_byte_label_key_through_bucket_and_images(store):
    key = "k" * 4095
    with store.write() as tx:
        tx.root().create_bucket(b"labels").put(key.encode(), b"1")
        Images(tx, "default").create(
            Image("img", Descriptor("m", DIGEST, 1), labels={key: "1", "short": "s"})
        )
    with store.read() as tx:
        assert tx.bucket(b"labels").get(key.encode()) == b"1"
        assert list(tx.bucket(b"labels").items()) == [(key.encode(), b"1")]
        image = Images(tx, "default").get("img")
        assert image.labels == {key: "1", "short": "s"}
        raw = tx.bucket(b"v1", b"default", b"images", b"img", b"labels")
        assert raw.get(key.encode()) == b"1"
    with store.write() as tx:
        Images(tx, "default").set_label("img", key, "")
    with store.read() as tx:
        assert Images(tx, "default").get("img").labels == {"short": "s"}


def test_many_long_keys_sharing_a_long_prefix_iterate_in_order(store):
    prefix = b"containerd.io/gc.ref.content." + b"x" * 420
    names = [prefix + b"%04d" % i for i in range(0, 600, 7)] + [prefix, prefix[:-1] + b"y"]
    with store.write() as tx:
        b = tx.root().create_bucket(b"b")
        for n in reversed(names):
            b.put(n, n[-4:])
        b.create_bucket(prefix + b"0100").put(b"k", b"v")  # a long bucket inside the group
    expected = sorted([(n, n[-4:]) for n in names] + [(prefix + b"0100", None)])
    with store.read() as tx:
        b = tx.bucket(b"b")
        assert list(b.items()) == expected
        start = prefix + b"03"
        assert list(b.items(start=start)) == [e for e in expected if e[0] >= start]
        assert b.bucket(prefix + b"0100").get(b"k") == b"v"
    with store.write() as tx:
        tx.bucket(b"b").delete_bucket(prefix + b"0100")
        for n in names[::2]:
            tx.bucket(b"b").delete(n)
    with store.read() as tx:
        assert list(tx.bucket(b"b").items()) == sorted((n, n[-4:]) for n in names[1::2])


# ---- a model-based check: random operations against a dict of dicts --------------------------

op_names = st.sampled_from([b"a", b"b", b"a\x00", b"\xff", b"\x00", b"x" * 450, b"x" * 451])
ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "delete", "create", "delete_bucket"]),
        st.lists(op_names, max_size=2),
        op_names,
        st.binary(max_size=4),
    ),
    max_size=40,
)


def apply_model(model: dict, op) -> None:
    kind, path, name, value = op
    node = model
    for p in path:
        node = node.get(p)
        if not isinstance(node, dict):
            return
    existing = node.get(name)
    if kind == "put" and not isinstance(existing, dict):
        node[name] = value
    elif kind == "delete" and isinstance(existing, bytes):
        del node[name]
    elif kind == "create" and existing is None:
        node[name] = {}
    elif kind == "delete_bucket" and isinstance(existing, dict):
        del node[name]


def apply_store(tx, op) -> None:
    kind, path, name, value = op
    bucket = tx.bucket(*path)
    if bucket is None:
        return
    try:
        if kind == "put":
            bucket.put(name, value)
        elif kind == "delete":
            bucket.delete(name)
        elif kind == "create":
            bucket.create_bucket(name)
        else:
            bucket.delete_bucket(name)
    except (InvalidArgument, AlreadyExists, NotFound):
        pass


def model_tree(model: dict) -> list:
    return [(k, model_tree(v) if isinstance(v, dict) else v) for k, v in sorted(model.items())]


def model_walk(model: dict, above: tuple = ()) -> list:
    """(path, value) of every plain key, depth first in name order, as Bucket.walk yields."""
    found = []
    for k, v in sorted(model.items()):
        if isinstance(v, dict):
            found += model_walk(v, (*above, k))
        else:
            found.append(((*above, k), v))
    return found


def check_read_bucket(tx, model: dict, above: tuple = ()) -> None:
    """read_bucket gives what walk gives for every bucket, and None for every other name
    (plain keys, and names that are not there)."""
    for name in [*model, b"missing"]:
        value = model.get(name)
        found = tx.read_bucket(*above, name)
        if isinstance(value, dict):
            assert found == model_walk(value)
            check_read_bucket(tx, value, (*above, name))
        else:
            assert found is None


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops)
def test_bucket_api_matches_a_model(store, operations):
    with store.write() as tx:
        for name, value in list(tx.root().items()):
            if value is None:
                tx.root().delete_bucket(name)
            else:
                tx.root().delete(name)
    model: dict = {}
    with store.write() as tx:
        for op in operations:
            apply_model(model, op)
            apply_store(tx, op)
        assert tree(tx.root()) == model_tree(model)
    with store.read() as tx:
        assert tree(tx.root()) == model_tree(model)
        assert list(tx.root().walk()) == model_walk(model)
        for name, value in model.items():
            if isinstance(value, dict):
                assert list(tx.bucket(name).walk()) == model_walk(value)
        check_read_bucket(tx, model)
        assert list(tx.root().walk_buckets()) == [
            (k, model_walk(v)) for k, v in sorted(model.items()) if isinstance(v, dict)
        ]


def test_iterating_one_bucket_while_changing_others(store):
    with store.write() as tx:
        a = tx.root().create_bucket(b"a")
        for i in range(30):
            a.put(b"%03d" % i, b"v") if i % 3 else a.create_bucket(b"%03d" % i)
        tx.root().create_bucket(b"0").put(b"k", b"v")
        tx.root().create_bucket(b"c").put(b"k", b"v")
    with store.write() as tx:
        seen = []
        for name, _value in tx.bucket(b"a").items():
            seen.append(name)
            tx.root().create_bucket_if_not_exists(b"b").put(name, b"x" * 300)
            tx.root().create_bucket(b"0" + name)  # before the bucket iterated over
            if name == b"010":
                tx.root().delete_bucket(b"c")
                tx.bucket(b"0").delete(b"k")
        assert seen == [b"%03d" % i for i in range(30)]
    with store.read() as tx:
        assert [k for k, _ in tx.bucket(b"b").items()] == seen
        assert tx.bucket(b"c") is None and tx.bucket(b"0").is_empty()


# ---- transactions ---------------------------------------------------------------------------


def test_write_is_atomic_on_exception(store):
    with store.write() as tx:
        tx.root().create_bucket(b"b").put(b"keep", b"1")
    before = store.generation()

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.write() as tx:
        b = tx.bucket(b"b")
        b.put(b"keep", b"changed")
        b.put(b"new", b"x")
        tx.root().create_bucket(b"other")
        raise Boom
    with store.read() as tx:
        assert tree(tx.root()) == [(b"b", [(b"keep", b"1")])]
    assert store.generation() == before


def test_read_snapshot_is_isolated(store):
    with store.write() as tx:
        tx.root().put(b"k", b"old")
    with store.read() as snapshot:
        with store.write() as tx:
            tx.root().put(b"k", b"new")
            tx.root().put(b"k2", b"x")
        assert snapshot.root().get(b"k") == b"old"
        assert snapshot.root().get(b"k2") is None
        with pytest.raises(InvalidArgument):
            snapshot.root().put(b"k3", b"y")
    with store.read() as tx:
        assert tx.root().get(b"k") == b"new"


def test_generation_counts_commits(store):
    g = store.generation()
    with store.write() as tx:
        tx.root().put(b"k", b"v")
        assert store.generation() == g  # what is committed, asked inside a write
    assert store.generation() == g + 1
    with store.read() as tx:
        tx.root().get(b"k")
    assert store.generation() == g + 1


def test_generation_counts_another_process_commits(tmp_path):
    with Store.open(tmp_path / "s") as store:
        g = store.generation()
        writer = run_python(WRITE_ONCE, str(store.path))
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        assert store.generation() == g + 1
        with store.read() as tx:
            assert tx.root().get(b"from") == b"elsewhere"


def test_read_only_store(tmp_path):
    with pytest.raises(NotFound):
        Store.open(tmp_path / "absent", readonly=True)
    with Store.open(tmp_path / "s") as s, s.write() as tx:
        tx.root().put(b"k", b"v")
    with Store.open(tmp_path / "s", readonly=True) as s:
        with s.read() as tx:
            assert tx.root().get(b"k") == b"v"
        with pytest.raises(InvalidArgument), s.write():
            pass


def test_unsynced_store_keeps_its_data(tmp_path):
    with Store.open(tmp_path / "s", sync=False) as s:
        with s.write() as tx:
            tx.root().put(b"k", b"v")
        s.sync()
    with Store.open(tmp_path / "s") as s, s.read() as tx:
        assert tx.root().get(b"k") == b"v"


# ---- map growth and its limit ---------------------------------------------------------------


def test_map_full_grows_and_keeps_the_whole_transaction(tmp_path):
    path = tmp_path / "s"
    value = os.urandom(3000)
    with Store.open(path, map_size=64 << 10) as s:
        with s.write() as tx:
            b = tx.root().create_bucket(b"big")
            for i in range(2000):  # about 6 MB
                b.put(b"%06d" % i, value)
                if i % 500 == 0:
                    b.put(b"x" * 500 + b"%06d" % i, value[:10])  # folded keys too
        assert s.engine.env.info()["map_size"] > 6 << 20
    with Store.open(path, map_size=64 << 10) as s, s.read() as tx:
        items = list(tx.bucket(b"big").items())
        assert len(items) == 2004
        assert all(v == value for k, v in items if len(k) == 6)


def test_iterating_one_bucket_while_writing_another_survives_map_growth(tmp_path):
    with Store.open(tmp_path / "s", map_size=64 << 10) as s:
        with s.write() as tx:
            a = tx.root().create_bucket(b"a")
            for i in range(30):
                a.put(b"%03d" % i, b"v") if i % 3 else a.create_bucket(b"%03d" % i)
        with s.write() as tx:
            b = tx.root().create_bucket(b"b")
            seen = []
            for name, _value in tx.bucket(b"a").items():
                seen.append(name)
                b.put(name, os.urandom(20000))  # 600 KB: several replays mid-iteration
        assert seen == [b"%03d" % i for i in range(30)]
        with s.read() as tx:
            assert [k for k, _ in tx.bucket(b"b").items()] == seen


def test_max_map_size_gives_store_full_and_changes_nothing(tmp_path):
    path = tmp_path / "s"
    with Store.open(path, map_size=64 << 10, max_map_size=256 << 10) as s:
        with s.write() as tx:
            tx.root().put(b"before", b"1")
        g = s.generation()
        with pytest.raises(StoreFull) as info, s.write() as tx:
            tx.root().put(b"k", b"v")
            for i in range(1000):
                tx.root().put(b"%06d" % i, b"x" * 1000)
        assert info.value.errno == errno.ENOSPC
        assert s.generation() == g
        with s.read() as tx:
            assert tree(tx.root()) == [(b"before", b"1")]
        with s.write() as tx:  # the store is still usable
            tx.root().put(b"after", b"2")
    with Store.open(path) as s, s.read() as tx:
        assert tree(tx.root()) == [(b"after", b"2"), (b"before", b"1")]


def test_nested_write_in_one_thread_is_refused_not_deadlocked(store):
    with store.write() as tx:
        tx.root().put(b"k", b"1")
        with pytest.raises(InvalidArgument), store.write():
            pass
    with store.read() as tx:
        assert tx.root().get(b"k") == b"1"


def test_threads_writing_at_once_through_map_growth_lose_nothing(tmp_path):
    errors: list[BaseException] = []

    def writer(s: Store, who: str) -> None:
        try:
            for i in range(100):
                with s.write() as tx:
                    tx.create_buckets(b"t").put(b"%s%03d" % (who.encode(), i), b"x" * 2000)
        except BaseException as exc:  # reported below
            errors.append(exc)

    with Store.open(tmp_path / "s", map_size=64 << 10) as s:
        threads = [threading.Thread(target=writer, args=(s, w)) for w in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with s.read() as tx:
            assert len(list(tx.bucket(b"t").items())) == 200


# ---- several processes ----------------------------------------------------------------------


def run_python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


WRITER = """
    import sys, time
    from pathlib import Path
    from metafs import Descriptor, Image, Images, Store

    path, who, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    digest = "sha256:" + "cd" * 32
    store = Store.open(path, map_size=64 << 10)
    while not go.exists():
        time.sleep(0.001)
    for i in range(200):
        with store.write() as tx:
            images = Images(tx, "default")
            if not images.exists("common"):
                images.create(Image("common", Descriptor("m", digest, 1)))
            images.set_label("common", f"{who}.{i:03d}", "x" * 200)
            images.create(Image(f"{who}/{i:03d}", Descriptor("m", digest, 1),
                                labels={"pad": "p" * 1500}))
    print("done")
"""


WRITE_ONCE = """
    import sys
    from metafs import Store

    with Store.open(sys.argv[1]) as store, store.write() as tx:
        tx.root().put(b"from", b"elsewhere")
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path, go = tmp_path / "s", tmp_path / "go"
    Store.open(path, map_size=64 << 10).close()
    writers = [run_python(WRITER, str(path), who, str(go)) for who in ("a", "b")]
    go.touch()
    try:
        for w in writers:
            out, err = w.communicate(timeout=120)
            assert w.returncode == 0, err
            assert out.strip() == "done"
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert (path / "data.mdb").stat().st_size > 512 << 10  # far beyond the 64 KiB map
    with Store.open(path) as s, s.read() as tx:
        images = Images(tx, "default")
        names = list(images.names())
        assert len(names) == 401
        assert names == sorted(names, key=lambda n: n.encode())
        labels = images.get("common").labels
        assert sorted(labels) == sorted(f"{w}.{i:03d}" for w in "ab" for i in range(200))


READER = """
    import sys
    from metafs import Store

    store = Store.open(sys.argv[1], readonly=True, map_size=64 << 10)
    for line in sys.stdin:
        with store.read() as tx:
            b = tx.bucket(b"big")
            n = sum(1 for _ in b.items()) if b is not None else 0
            last = b.get(b"%06d" % (n - 1)) if n else b""
        print(n, len(last), flush=True)
"""


def test_reader_process_follows_a_map_grown_by_another(tmp_path):
    path = tmp_path / "s"
    with Store.open(path, map_size=64 << 10) as s:
        with s.write() as tx:
            tx.root().create_bucket(b"big").put(b"000000", b"x" * 10)
        reader = run_python(READER, str(path), stdin=subprocess.PIPE)
        try:
            reader.stdin.write("go\n")
            reader.stdin.flush()
            assert reader.stdout.readline().split() == ["1", "10"]
            with s.write() as tx:  # grows the map far beyond the reader's 64 KiB
                b = tx.bucket(b"big")
                for i in range(1, 3000):
                    b.put(b"%06d" % i, b"y" * 1000)
            assert s.engine.env.info()["map_size"] >= 3 << 20
            reader.stdin.write("go\n")
            reader.stdin.flush()
            assert reader.stdout.readline().split() == ["3000", "1000"]
        finally:
            reader.stdin.close()
            try:
                reader.wait(timeout=30)
            finally:
                if reader.poll() is None:
                    reader.kill()
                    reader.wait()
        assert reader.returncode == 0, reader.stderr.read()


def _resident_file_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile")


def test_release_pages_unmaps_what_was_read_and_reads_go_on(tmp_path):
    with Store(tmp_path / "s", sync=False) as store:
        with store.write() as tx:
            bucket = tx.root().create_bucket(b"b")
            for i in range(3000):
                bucket.put(b"%05d" % i, bytes([i % 251]) * 8000)  # ~24 MB, a page or two each
        before = _resident_file_kib()
        with store.read() as tx:
            values = [v for _, v in tx.bucket(b"b").items()]
        read = _resident_file_kib()
        assert read - before > 10_000
        store.engine.release_pages()
        assert read - _resident_file_kib() > 10_000
        with store.read() as tx:
            assert [v for _, v in tx.bucket(b"b").items()] == values
