"""Properties of the key layout: bucket paths <-> full keys <-> LMDB keys, and ordered reading."""

from __future__ import annotations

import lmdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metafs import layout
from metafs.errors import CorruptStore

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes that matter to the encoding (NUL, the kind bytes, 0xFF) are drawn often.
special_byte = st.sampled_from([0x00, 0x01, 0x02, 0x03, 0xFE, 0xFF, ord("a")])
name = st.one_of(
    st.binary(min_size=1, max_size=12),
    st.lists(special_byte, min_size=1, max_size=8).map(bytes),
)
# A path: buckets all the way down, then the entry's own (name, kind).
entry = st.tuples(
    st.lists(name, max_size=4),
    name,
    st.sampled_from([layout.BUCKET, layout.KEY]),
)


def components(e) -> list[tuple[bytes, int]]:
    buckets, last, kind = e
    return [(b, layout.BUCKET) for b in buckets] + [(last, kind)]


def full_key(e) -> bytes:
    buckets, last, kind = e
    return layout.bucket_prefix(buckets) + layout.component(last, kind)


@SETTINGS
@given(entry)
def test_full_key_round_trips(e):
    assert layout.decode_path(full_key(e)) == components(e)


@SETTINGS
@given(entry)
def test_key_names_are_a_plain_keys_path(e):
    names = (*e[0], e[1])
    assert layout.key_names(full_key(e)) == (names if e[2] == layout.KEY else None)


@SETTINGS
@given(name, st.sampled_from([layout.BUCKET, layout.KEY]), st.binary(max_size=6))
def test_split_first_reads_one_component(n, kind, rest):
    encoded = layout.component(n, kind)
    assert layout.split_first(encoded + rest) == (n, kind, len(encoded))


def test_empty_name_encodes_distinctly():
    # The root bucket's own prefix is empty; an empty name still makes a non-empty component.
    assert layout.bucket_prefix([]) == b""
    assert layout.component(b"", layout.KEY) == b"\x00\x02"
    assert layout.decode_path(b"\x00\x01\x00\x02") == [(b"", layout.BUCKET), (b"", layout.KEY)]


@SETTINGS
@given(entry, entry)
def test_full_key_order_is_bolt_order(a, b):
    """Bytewise order of full keys == component-wise bytewise order of the paths."""
    ka, kb = full_key(a), full_key(b)
    ca, cb = components(a), components(b)
    assert (ka < kb) == (ca < cb)
    assert (ka == kb) == (ca == cb)


@SETTINGS
@given(st.lists(name, min_size=1, max_size=3), st.lists(entry, min_size=1, max_size=30))
def test_bucket_subtree_is_one_contiguous_range(bucket, entries):
    """Everything below a bucket lies in [prefix, successor(prefix)), and nothing else does."""
    prefix = layout.bucket_prefix(bucket)
    end = layout.successor(prefix)
    inside_bucket = [(b, layout.BUCKET) for b in bucket]
    # Put some of the entries inside the bucket, some beside it.
    placed = [(bucket + e[0], e[1], e[2]) if i % 2 else e for i, e in enumerate(entries)]
    for e in placed:
        comps = components(e)
        below = len(comps) > len(inside_bucket) and comps[: len(inside_bucket)] == inside_bucket
        assert (prefix < full_key(e) < end) == below
        assert full_key(e).startswith(prefix) == (below or comps == inside_bucket)


@SETTINGS
@given(name)
def test_bucket_and_key_of_same_name_are_distinct(n):
    assert layout.component(n, layout.BUCKET) != layout.component(n, layout.KEY)


@pytest.mark.parametrize(
    "bad",
    [b"abc", b"abc\x00", b"abc\x00\x07", b"\x00\x03"],
)
def test_undecodable_keys_are_reported(bad):
    with pytest.raises(CorruptStore):
        layout.decode_path(bad)


# ---- full keys <-> LMDB keys ----------------------------------------------------------------

full_keys = st.one_of(
    st.binary(min_size=1, max_size=layout.DIRECT_MAX),
    st.binary(min_size=layout.DIRECT_MAX - 2, max_size=layout.DIRECT_MAX + 3),
    st.binary(min_size=layout.DIRECT_MAX + 1, max_size=5000),
)


@SETTINGS
@given(full_keys, st.binary(max_size=300))
def test_lmdb_key_and_value_round_trip(full, value):
    key = layout.lmdb_key(full)
    assert 0 < len(key) <= 511
    if len(full) <= layout.DIRECT_MAX:
        assert key == full
        assert layout.pack_value(full, value) == value
    else:
        assert len(key) == layout.FOLDED_LEN
        assert key.startswith(full[: layout.DIRECT_MAX + 1])
    assert layout.unpack(key, layout.pack_value(full, value)) == (full, value)


@SETTINGS
@given(full_keys, full_keys)
def test_lmdb_key_order_agrees_with_full_key_order_outside_a_fold_group(a, b):
    ka, kb = layout.lmdb_key(a), layout.lmdb_key(b)
    same_group = (
        len(ka) == len(kb) == layout.FOLDED_LEN
        and ka[: layout.DIRECT_MAX + 1] == kb[: layout.DIRECT_MAX + 1]
    )
    if not same_group:
        assert (ka < kb) == (a < b)
    assert (ka == kb) == (a == b)


@SETTINGS
@given(full_keys)
def test_seek_key_is_at_or_before_the_stored_key(full):
    assert layout.seek_key(full) <= layout.lmdb_key(full)


# ---- Cursor on a real LMDB environment ------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    environment = lmdb.Environment(str(tmp_path_factory.mktemp("layout")), map_size=256 << 20)
    yield environment
    environment.close()


def load(env, fulls: set[bytes]) -> None:
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(), delete=False)
        for full in fulls:
            txn.put(layout.lmdb_key(full), layout.pack_value(full, b"v" + full[-3:]))


def read_all(env, seek: bytes | None = None) -> list[tuple[bytes, bytes]]:
    with env.begin() as txn:
        cursor = layout.Cursor(txn)
        cursor.seek(seek if seek is not None else b"")
        out = []
        for full, value, key in cursor.entries():
            assert key == layout.lmdb_key(full)
            out.append((full, value))
        return out


shared_prefix = st.binary(min_size=layout.DIRECT_MAX + 1, max_size=layout.DIRECT_MAX + 40)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    prefixes=st.lists(shared_prefix, min_size=1, max_size=3),
    tails=st.lists(st.binary(max_size=30), min_size=1, max_size=25),
    short=st.lists(st.binary(min_size=1, max_size=layout.DIRECT_MAX), max_size=10),
    seeks=st.lists(st.binary(max_size=layout.DIRECT_MAX + 60), max_size=6),
)
def test_cursor_yields_full_key_order_with_folded_groups(env, prefixes, tails, short, seeks):
    # Folded keys sharing their first DIRECT_MAX+1 bytes form groups whose LMDB order is hash
    # order; mixing in near-identical short keys and keys just around the fold length.
    fulls = {p + t for p in prefixes for t in tails} | set(short)
    fulls |= {p[: layout.DIRECT_MAX + n] for p in prefixes for n in (0, 1)}
    load(env, fulls)
    expected = sorted((f, b"v" + f[-3:]) for f in fulls)
    assert read_all(env) == expected
    near = [prefixes[0] + s for s in seeks]  # inside or around the first fold group
    for s in [*seeks, *near, *(f for f in list(fulls)[:5])]:
        assert read_all(env, s) == [e for e in expected if e[0] >= s]


def test_cursor_many_long_keys_sharing_a_long_prefix(env):
    prefix = b"p" * 450
    fulls = {prefix + b"%05d" % i for i in range(300)} | {b"a", b"z" * 10, prefix[:400]}
    load(env, fulls)
    got = [f for f, _ in read_all(env)]
    assert got == sorted(fulls)
    middle = prefix + b"00150"
    assert [f for f, _ in read_all(env, middle)] == [f for f in sorted(fulls) if f >= middle]
    assert [f for f, _ in read_all(env, prefix + b"x")] == [b"z" * 10]


def test_cursor_on_empty_database(env):
    load(env, set())
    assert read_all(env) == []
    assert read_all(env, b"x" * 500) == []
