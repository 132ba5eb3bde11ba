"""The bbolt reader: the real containerd fixture, files from the test writer, and corruption."""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import struct
from pathlib import Path

import boltwriter
import pytest
from boltwriter import Layout, Tree
from containerd_fixture import BOLT_DUMP, META_DB
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metafs.bolt import BoltFile, BoltFormatError, Bucket, fnv1a64
from metafs.dump import dump_text
from metafs.errors import InvalidArgument, NotFound

PAGE = 4096
HIGH_WATER = 56  # pages in use in the fixture, by its newest meta


def tree_of(bucket: Bucket) -> Tree:
    out: Tree = {}
    for key, value in bucket.items():
        if value is None:
            child = bucket.bucket(key)
            assert child is not None
            out[key] = tree_of(child)
        else:
            out[key] = value
    return out


def dump(path: Path) -> str:
    with BoltFile(path) as db:
        out = io.StringIO()
        dump_text(db.root(), out)
        db.check()
        return out.getvalue()


def copy_fixture(tmp_path: Path) -> Path:
    path = tmp_path / "meta.db"
    shutil.copyfile(META_DB, path)
    path.chmod(0o644)
    return path


def patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


# ---- the fixture -----------------------------------------------------------------------------


def test_fnv1a64_known_values() -> None:
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_fixture_meta() -> None:
    with BoltFile(META_DB) as db:
        assert (db.meta.index, db.meta.txid, db.page_size) == (0, 116, PAGE)
        assert db.meta.high_water == HIGH_WATER


def walk_to(bucket: Bucket, *names: bytes) -> Bucket:
    for name in names:
        child = bucket.bucket(name)
        assert child is not None, name
        bucket = child
    return bucket


def test_fixture_tree() -> None:
    with BoltFile(META_DB) as db:
        root = db.root()
        assert [k for k, _ in root.items()] == [b"v1"]
        v1 = walk_to(root, b"v1")
        assert list(v1.items()) == [
            (b"default", None),
            (b"labeled-ns", None),
            (b"team-b", None),
            (b"version", b"\x06"),
        ]
        assert v1.get(b"version") == b"\x06"
        assert v1.bucket(b"version") is None  # a plain key is not a bucket
        assert v1.get(b"default") is None  # a bucket is not a plain key
        assert v1.bucket(b"nope") is None and v1.get(b"nope") is None
        labels = walk_to(v1, b"labeled-ns", b"labels")
        assert dict(labels.items()) == {b"owner": b"ops", b"tier": b"gold"}
        target = walk_to(v1, b"default", b"images", b"docker.io/library/alpine:3.19", b"target")
        assert target.get(b"size") == b"\xaa\x06"
        assert labels._inline is not None  # containerd's small buckets are inline
        stats = db.check()
        assert (stats.buckets, stats.keys) == (92, 204)


def test_fixture_keys_in_bytewise_order() -> None:
    with BoltFile(META_DB) as db:
        stack = [db.root()]
        while stack:
            bucket = stack.pop()
            keys = [k for k, _ in bucket.items()]
            assert keys == sorted(keys)
            stack.extend(b for k in keys if (b := bucket.bucket(k)) is not None)


def test_reading_never_writes(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path)
    before = path.stat()
    digest = hashlib.sha256(path.read_bytes()).digest()
    dump(path)
    after = path.stat()
    assert hashlib.sha256(path.read_bytes()).digest() == digest
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_values_outlive_the_file() -> None:
    with BoltFile(META_DB) as db:
        items = list(walk_to(db.root(), b"v1").items())
    assert items[-1] == (b"version", b"\x06")


# ---- files that are not bolt, or are cut short -----------------------------------------------


def expect_error(path: Path, *words: str) -> str:
    with pytest.raises(BoltFormatError) as info:
        dump(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message
    assert isinstance(info.value, InvalidArgument)
    return message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    expect_error(path, "empty")


@pytest.mark.parametrize(
    "content",
    [b"hello, not a database\n" * 1000, bytes(64 * 1024), random.Random(1).randbytes(64 * 1024)],
    ids=["text", "zeros", "random"],
)
def test_not_bolt(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.db"
    path.write_bytes(content)
    expect_error(path, "not a bolt database")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        BoltFile(tmp_path / "absent.db")
    with pytest.raises(BoltFormatError, match="not a regular file"):
        BoltFile(tmp_path)


@pytest.mark.parametrize(
    "size", [100, 2048, PAGE, PAGE + 100, 2 * PAGE, 262144 // 2, HIGH_WATER * PAGE - 1]
)
def test_truncated(tmp_path: Path, size: int) -> None:
    path = tmp_path / "cut.db"
    path.write_bytes(META_DB.read_bytes()[:size])
    expect_error(path)


def test_truncated_after_high_water_mark_still_reads(tmp_path: Path) -> None:
    # bolt grows the file ahead of use: the pages past the high-water mark hold nothing
    path = tmp_path / "cut.db"
    path.write_bytes(META_DB.read_bytes()[: HIGH_WATER * PAGE])
    assert dump(path) == BOLT_DUMP.read_text()


# ---- meta pages ------------------------------------------------------------------------------


def test_torn_newest_meta_falls_back_to_the_other(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path)
    patch(path, 16 + 40, b"\x99")  # meta 0 (txid 116): its high-water mark, checksum now wrong
    with BoltFile(path) as db:
        assert (db.meta.index, db.meta.txid) == (1, 115)
        db.check()
        # the previous commit: pages it used are only reused two commits later
        assert [k for k, _ in walk_to(db.root(), b"v1").items()][-1] == b"version"


def test_older_meta_corrupt_reads_the_newest(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path)
    patch(path, PAGE + 16, b"\0\0\0\0")
    assert dump(path) == BOLT_DUMP.read_text()


def test_both_metas_corrupt(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path)
    patch(path, 16 + 48, b"\x01")  # txid of meta 0
    patch(path, PAGE + 16 + 4, b"\x03")  # version of meta 1
    expect_error(path, "both meta pages are invalid", "checksum", "version 3")


def test_meta_with_valid_checksum_but_root_past_high_water(tmp_path: Path) -> None:
    data, _ = boltwriter.build({b"a": {b"k": b"v"}})
    high = len(data) // PAGE
    bad = boltwriter.meta_page(0, PAGE, high + 5, high, 9)  # newest, but points past the end
    path = tmp_path / "w.db"
    path.write_bytes(bad + data[PAGE:])
    with BoltFile(path) as db:
        assert db.meta.index == 1  # the sane one
        assert tree_of(db.root()) == {b"a": {b"k": b"v"}}


def test_second_meta_found_without_the_first_at_other_page_sizes(tmp_path: Path) -> None:
    tree: Tree = {b"x": {b"k%03d" % i: b"v" * 50 for i in range(100)}}
    data, _ = boltwriter.build(tree, Layout(page_size=16384))
    path = tmp_path / "w.db"
    path.write_bytes(b"\xff" * 64 + data[64:])
    with BoltFile(path) as db:
        assert (db.meta.index, db.page_size) == (1, 16384)
        assert tree_of(db.root()) == tree


# ---- pages -----------------------------------------------------------------------------------


ROOT_PAGE = 48  # the fixture's root bucket page, per meta 0


@pytest.mark.parametrize(
    "offset, data, words",
    [
        (0, b"\x07", "says it is page 7"),
        (8, b"\x10\x00", "expected a branch or leaf page"),
        (8, b"\x04\x00", "expected a branch or leaf page"),
        (10, b"\xff\xff", "do not fit"),
        (12, b"\x50\0\0\0", "overflow pages run past"),
        (16 + 4, b"\xff\xff\0\0", "outside the page"),
        (16 + 8, b"\xff\xff\xff\x7f", "outside the page"),
        (16, b"\x04", "unknown flags"),
    ],
)
def test_corrupt_root_page(tmp_path: Path, offset: int, data: bytes, words: str) -> None:
    path = copy_fixture(tmp_path)
    patch(path, ROOT_PAGE * PAGE + offset, data)
    expect_error(path, words)


def test_random_bytes_over_each_page(tmp_path: Path) -> None:
    with BoltFile(META_DB) as db:
        db.check()
        reached = set(db._owner)  # the pages of the tree (not the freelist, not free pages)
    assert len(reached) > 40
    original = META_DB.read_bytes()
    rng = random.Random(7)
    path = tmp_path / "meta.db"
    for pgid in range(2, HIGH_WATER):
        damaged = bytearray(original)
        damaged[pgid * PAGE : (pgid + 1) * PAGE] = rng.randbytes(PAGE)
        path.write_bytes(bytes(damaged))
        if pgid in reached:
            expect_error(path, f"page {pgid}")
        else:
            assert dump(path) == BOLT_DUMP.read_text()


def _fixture_regions() -> list[int]:
    """Offsets of every byte up to the last non-zero one of each page in use."""
    data = META_DB.read_bytes()
    offsets: list[int] = []
    for pgid in range(HIGH_WATER):
        page = data[pgid * PAGE : (pgid + 1) * PAGE]
        used = len(page.rstrip(b"\0"))
        offsets.extend(range(pgid * PAGE, pgid * PAGE + used))
    return offsets


REGIONS = _fixture_regions()


def _damage_and_read(base: bytes, path: Path, flips: list[tuple[int, int]]) -> None:
    damaged = bytearray(base)
    for offset, value in flips:
        damaged[offset] = value
    path.write_bytes(bytes(damaged))
    try:
        dump(path)
    except BoltFormatError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(REGIONS) - 1).map(REGIONS.__getitem__), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
)
def test_random_damage_to_the_fixture(
    tmp_path_factory: pytest.TempPathFactory, flips: list[tuple[int, int]]
) -> None:
    """Whatever bytes change, reading gives the data or BoltFormatError, nothing else."""
    path = tmp_path_factory.getbasetemp() / "flipped-fixture.db"
    _damage_and_read(META_DB.read_bytes(), path, flips)


# ---- files from the test writer: branch pages, overflow pages, inline buckets ----------------


BIG_TREE: Tree = {
    b"many": {b"key-%04d" % i: b"value %d" % i * (i % 7) for i in range(500)},
    b"overflow": {b"big": bytes(range(256)) * 40, b"small": b"s"},
    b"inline": {b"a": b"1", b"b": b""},
    b"nested": {b"deeper": {b"deepest": {b"k": b"v"}}, b"empty": {}},
    b"\x00binary\xff": {b"\xff" * 3: b"\x00"},
}
BIG_LAYOUT = Layout(page_size=PAGE, leaf_max=7, branch_max=5)


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, boltwriter.Pages]:
    path = tmp_path / "big.db"
    return path, boltwriter.write(path, BIG_TREE, BIG_LAYOUT)


def test_writer_file_reads_back(big_file: tuple[Path, boltwriter.Pages]) -> None:
    path, pages = big_file
    assert pages.branch and pages.overflow and pages.leaf
    with BoltFile(path) as db:
        root = db.root()
        assert tree_of(root) == BIG_TREE
        many = root.bucket(b"many")
        assert many is not None
        for i in range(500):  # lookups descend through three levels of branch pages
            assert many.get(b"key-%04d" % i) == b"value %d" % i * (i % 7)
        assert many.get(b"key-") is None and many.get(b"key-9999") is None
        assert many.get(b"") is None
        overflow = root.bucket(b"overflow")
        assert overflow is not None and overflow.get(b"big") == bytes(range(256)) * 40
        inline = root.bucket(b"inline")
        assert inline is not None and inline._inline is not None
        assert list(walk_to(root, b"nested", b"empty").items()) == []


def test_writer_without_inline_buckets(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    boltwriter.write(path, BIG_TREE, Layout(leaf_max=3, branch_max=2, inline=False))
    with BoltFile(path) as db:
        assert tree_of(db.root()) == BIG_TREE
        assert walk_to(db.root(), b"inline")._inline is None


def test_branch_cycle(big_file: tuple[Path, boltwriter.Pages]) -> None:
    path, pages = big_file
    top = max(pages.branch)  # the last branch page written: the top of a bucket's tree
    patch(path, top * PAGE + 16 + 8, struct.pack("<Q", top))
    expect_error(path, "appears twice")


def test_bucket_pointing_at_its_parent(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    boltwriter.write(path, {b"a": {b"b": {b"k": b"v"}}}, Layout(inline=False))
    with BoltFile(path) as db:
        root_page = db.meta.root
    start = root_page * PAGE
    data = path.read_bytes()
    _flags, pos, ksize, _vsize = struct.unpack_from("<IIII", data, start + 16)
    patch(path, start + 16 + pos + ksize, struct.pack("<Q", root_page))  # bucket "a" -> root page
    expect_error(path, "reached from both")


def test_branch_key_outside_range(big_file: tuple[Path, boltwriter.Pages]) -> None:
    path, pages = big_file
    top = max(pages.branch)
    data = path.read_bytes()
    pos, ksize, _child = struct.unpack_from("<IIQ", data, top * PAGE + 16 + 16)  # element 1
    key_at = top * PAGE + 16 + 16 + pos
    patch(path, key_at, b"\xff" * ksize)  # element 1's key now above element 2's
    expect_error(path)


def test_leaf_keys_out_of_order(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    boltwriter.write(path, {b"a": {b"k1": b"v", b"k2": b"v"}}, Layout(inline=False))
    data = path.read_bytes()
    at = data.index(b"k2v")
    patch(path, at, b"k0")
    expect_error(path, "out of order")


def test_overflow_past_the_end(big_file: tuple[Path, boltwriter.Pages]) -> None:
    path, pages = big_file
    patch(path, pages.overflow[0] * PAGE + 12, struct.pack("<I", 10_000))
    expect_error(path, "overflow")


def test_inline_bucket_damage(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    boltwriter.write(path, {b"a": {b"k": b"v"}})
    data = path.read_bytes()
    with BoltFile(path) as db:
        root_page = db.meta.root
    start = root_page * PAGE
    _flags, pos, ksize, vsize = struct.unpack_from("<IIII", data, start + 16)
    inline_at = start + 16 + pos + ksize + 16
    patch(path, inline_at + 8, b"\x01\x00")  # the inline page says "branch"
    expect_error(path, "inline page", "expected a leaf page")
    patch(path, inline_at + 8, b"\x02\x00\x09\x00")  # leaf, but 9 elements
    expect_error(path, "do not fit")
    patch(path, start + 16 + 12, struct.pack("<I", 8))  # bucket value of 8 bytes
    expect_error(path, "bucket header")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=6)
)
def test_random_damage_to_a_branchy_file(
    tmp_path_factory: pytest.TempPathFactory, flips: list[tuple[int, int]]
) -> None:
    base, pages = boltwriter.build(BIG_TREE, BIG_LAYOUT)
    used = [p for p in pages.branch + pages.leaf]
    placed = []
    for where, value in flips:
        pgid = used[where % len(used)]
        placed.append((pgid * PAGE + (where // len(used)) % 512, value))
    _damage_and_read(base, tmp_path_factory.getbasetemp() / "flipped-writer.db", placed)


keys = st.binary(min_size=1, max_size=40)
trees = st.recursive(
    st.dictionaries(keys, st.binary(max_size=300), max_size=6),
    lambda children: st.dictionaries(
        keys, st.one_of(st.binary(max_size=6000), children), max_size=12
    ),
    max_leaves=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=trees,
    leaf_max=st.integers(1, 20),
    branch_max=st.integers(2, 6),
    page_size=st.sampled_from([1024, 4096]),
    inline=st.booleans(),
)
def test_any_tree_reads_back(
    tmp_path_factory: pytest.TempPathFactory,
    tree: Tree,
    leaf_max: int,
    branch_max: int,
    page_size: int,
    inline: bool,
) -> None:
    path = tmp_path_factory.getbasetemp() / "any.db"
    boltwriter.write(path, tree, Layout(page_size, leaf_max, branch_max, inline))
    with BoltFile(path) as db:
        assert tree_of(db.root()) == tree
        db.check()


def test_closed_file_is_an_error() -> None:
    db = BoltFile(META_DB)
    root = db.root()
    db.close()
    db.close()
    with pytest.raises(InvalidArgument, match="closed"):
        list(root.items())
